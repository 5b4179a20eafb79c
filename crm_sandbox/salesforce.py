"""The sandbox's Salesforce REST API facade.

Serves a :class:`~crm_sandbox.world.World` (rendered by
:class:`~crm_sandbox.salesforce_store.SalesforceStore`) under ``/services/``:

* ``POST /services/oauth2/token`` (see :mod:`crm_sandbox.salesforce_auth`);
* ``GET /services/data/`` -- the version list (40.0-66.0; any of them is accepted in URLs;
  7.0-30.0 are retired and answer 410 ``GONE``; Bulk API 2.0 ``jobs`` needs 47.0 and
  ``composite`` 42.0, older versions answer 404 there);
* ``GET .../vXX.X/query?q=`` and ``/queryAll?q=`` -- pages of 2,000 rows (or
  ``Sforce-Query-Options: batchSize=N``, clamped to 200..2,000; the ``short_pages`` fault makes
  pages shorter), ``nextRecordsUrl`` = ``/services/data/vXX.X/query/<locator>-<offset>``. A
  locator belongs to the session that ran the query: once that session is dead, even a fresh
  token gets 400 ``INVALID_QUERY_LOCATOR`` (case C-08).
* ``GET .../sobjects``, ``.../sobjects/{Type}/describe``,
  ``.../sobjects/{Type}/deleted/?start=&end=``,
  ``GET``/``PATCH .../sobjects/{Type}/{Id}``, ``GET .../limits``,
  ``PATCH .../composite/sobjects`` (see :mod:`crm_sandbox.salesforce_write`) and the Bulk API 2.0
  query jobs (see :mod:`crm_sandbox.salesforce_bulk`).

Every ``/services/data/vXX.X`` call needs ``Authorization: Bearer <token>`` (else 401
``INVALID_SESSION_ID``), counts against the daily allowance (403 ``REQUEST_LIMIT_EXCEEDED`` once
used up) and carries ``Sforce-Limit-Info: api-usage=N/M``. Error bodies are lists of
``{"message", "errorCode"}`` like ``fixtures/api-samples/salesforce-error-*.json``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from werkzeug import Request, Response

from crm_sandbox import soql
from crm_sandbox.core import PAGE_SIZE_ENVIRON_KEY, Clock, json_response
from crm_sandbox.salesforce_auth import ApiUsage, SalesforceCredentials, SessionManager
from crm_sandbox.salesforce_schema import KEY_PREFIXES, SCHEMA, format_datetime, json_value, make_id
from crm_sandbox.salesforce_store import SalesforceStore
from crm_sandbox.world import World

__all__ = ["MAX_VERSION", "MIN_VERSION", "ApiError", "SalesforceFacade"]

MIN_VERSION, MAX_VERSION = 40, 66
#: Versions 7.0-30.0 are retired: every URL under them answers 410 ``GONE`` (case C-18).
RETIRED_UP_TO = 30
#: The first version of a resource (case C-18): older versions answer 404 ``NOT_FOUND``.
FIRST_VERSION = {"jobs": 47, "composite": 42}
_DATA_RE = re.compile(r"^/services/data/v(\d+)\.(\d)(/.*)?$")
_LOCATOR_RE = re.compile(r"^/(query|queryAll)/([0-9A-Za-z]{15,18})-(\d+)/?$")
_BATCH_RE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_MAX_CURSORS = 200
NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


class ApiError(Exception):
    """An error answer: HTTP ``status`` with a Salesforce error-list body."""

    def __init__(self, status: int, error_code: str, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.body = [{"message": message, "errorCode": error_code, **extra}]


def release_label(version: int) -> str:
    """Release name of API version ``version`` (v20 = Winter '11, three releases a year)."""
    k = version - 20
    return f"{('Winter', 'Spring', 'Summer')[k % 3]} '{11 + k // 3:02d}"


@dataclass
class _Cursor:
    token: str
    rows: list[dict[str, Any]]
    total_size: int
    batch_size: int


class SalesforceFacade:
    """Salesforce REST + Bulk 2.0 query API over one World.

    Args:
        world: what to serve.
        clock: the sandbox clock (stamps of changes made through the API or the controls).
        api_version: the version the sandbox advertises as its own (``base_path``).
        page_size: default rows per query page (Salesforce: 2,000).
        credentials: what the token endpoint accepts.
        api_limit: the daily API allowance (``DailyApiRequests.Max``).

    Attributes:
        store: the records (:class:`~crm_sandbox.salesforce_store.SalesforceStore`).
        sessions: tokens (:class:`~crm_sandbox.salesforce_auth.SessionManager`).
        usage: the API allowance (:class:`~crm_sandbox.salesforce_auth.ApiUsage`).
    """

    prefixes: tuple[str, ...] = ("/services/",)

    def __init__(
        self,
        world: World,
        clock: Clock | None = None,
        *,
        api_version: str = "60.0",
        page_size: int = 2000,
        credentials: SalesforceCredentials | None = None,
        api_limit: int = 15000,
    ) -> None:
        from crm_sandbox.salesforce_bulk import BulkQueryJobs
        from crm_sandbox.salesforce_write import Writer

        self.clock = clock or Clock()
        self.api_version = api_version
        self.page_size = page_size
        self.store = SalesforceStore(world, self.clock)
        self.credentials = credentials or SalesforceCredentials()
        first_user = next(iter(self.store.records["User"]), make_id(KEY_PREFIXES["User"], 1))
        self.sessions = SessionManager(self.clock, self.credentials, first_user)
        self.usage = ApiUsage(api_limit)
        self.bulk = BulkQueryJobs(self)
        self.writer = Writer(self.store)
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._cursor_serial = 0
        self._lock = threading.Lock()

    # -- public helpers and controls ------------------------------------------------------

    @property
    def base_path(self) -> str:
        """``/services/data/vXX.X`` for :attr:`api_version`."""
        return f"/services/data/v{self.api_version}"

    def id_for(self, object_type: str, world_key: str) -> str:
        """Salesforce id of the record made from a World key (see :mod:`salesforce_store`).

        Examples: ``id_for("Account", "P01")``, ``id_for("Account", "customer:Acme")``,
        ``id_for("Opportunity", deal.key)``, ``id_for("UserRole", team_name)``.
        """
        return self.store.id_for(object_type, world_key)

    def issue_token(self) -> str:
        """A fresh live access token (what the OAuth endpoint would return)."""
        return self.sessions.issue()

    def expire_sessions_after(self, n_calls: int) -> None:
        """All currently live tokens die after ``n_calls`` more API calls (case C-08)."""
        self.sessions.expire_sessions_after(n_calls)

    def expire_sessions(self) -> None:
        """Kill every session now."""
        self.sessions.expire_all()

    def revoke_grant(self) -> None:
        """Kill every session and refuse every further login (``invalid_grant``), as when an
        admin revokes the connected app's access or the integration user's password changes."""
        self.sessions.revoked = True
        self.sessions.expire_all()

    def set_api_usage(self, used: int | None = None, max_calls: int | None = None) -> None:
        """Set the daily allowance counters; ``used >= max`` makes calls fail with 403."""
        self.usage.set(used, max_calls)

    def exhaust_api_limit(self) -> None:
        """Use up the daily allowance: every further call gets 403 REQUEST_LIMIT_EXCEEDED."""
        self.usage.set(used=self.usage.max)

    def fail_record(
        self,
        record_id: str,
        message: str = "Validation failed",
        status_code: str = "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        times: int | None = None,
    ) -> None:
        """Make updates of ``record_id`` fail with ``status_code`` (case C-10).

        ``times=None`` fails every update until :meth:`clear_record_failures`.
        """
        self.writer.fail_record(record_id, message, status_code, times)

    def clear_record_failures(self) -> None:
        """Forget every :meth:`fail_record`."""
        self.writer.failures.clear()

    def create(self, object_type: str, values: dict[str, Any]) -> str:
        """Create a record (API field names); stamps are ``clock.now()``. Returns the id."""
        return self.store.create(object_type, values)

    def update(self, object_type: str, record_id: str, values: dict[str, Any]) -> None:
        """Update fields and bump ``SystemModstamp`` / ``LastModifiedDate``."""
        self.store.update(object_type, record_id, values)

    def delete(self, object_type: str, record_id: str) -> None:
        """Soft-delete (recycle bin): ``IsDeleted=true``, visible to queryAll and getDeleted."""
        self.store.delete(object_type, record_id)

    def purge(self, object_type: str, record_id: str) -> None:
        """Hard-delete: the record is gone from ``query``, ``queryAll`` and the recycle bin."""
        self.store.purge(object_type, record_id)

    def merge(self, object_type: str, winner_id: str, loser_id: str) -> None:
        """Merge two Accounts or Leads; the loser is deleted with ``MasterRecordId``."""
        self.store.merge(object_type, winner_id, loser_id)

    def typed_values(self, object_type: str, values: dict[str, Any]) -> dict[str, Any]:
        """Convert JSON values (numbers, ISO text) to typed store values by field type.

        Unknown fields are passed through (the store rejects them).
        """
        sobject = self.store.schema.canonical_object(object_type) or object_type
        out: dict[str, Any] = {}
        for name, value in values.items():
            f = self.store.schema.field(sobject, name)
            t = f.type if f else None
            if value is None or t is None:
                out[name] = value
            elif t in ("currency", "percent", "double"):
                out[name] = Decimal(str(value))
            elif t == "int":
                out[name] = int(value)
            elif t == "date" and isinstance(value, str):
                out[name] = date.fromisoformat(value)
            elif t == "datetime" and isinstance(value, str):
                out[name] = datetime.fromisoformat(value.replace("Z", "+00:00"))
            else:
                out[name] = value
        return out

    def record(self, object_type: str, record_id: str) -> dict[str, Any] | None:
        """The typed record (a live dict; do not mutate), or None."""
        return self.store.get(object_type, record_id)

    # -- HTTP -----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request under ``/services/``."""
        path = request.path
        if path == "/services/oauth2/token":
            return self.sessions.token_endpoint(request)
        if path in ("/services/data", "/services/data/"):
            return json_response(
                [
                    {
                        "label": release_label(v),
                        "url": f"/services/data/v{v}.0",
                        "version": f"{v}.0",
                    }
                    for v in range(MIN_VERSION, MAX_VERSION + 1)
                ]
            )
        m = _DATA_RE.match(path)
        if m and int(m.group(1)) <= RETIRED_UP_TO:
            return json_response([{"errorCode": "GONE", "message": (
                f"API version {m.group(1)}.{m.group(2)} has been retired and is no longer "
                "supported")}], 410)
        if not m or not (MIN_VERSION <= int(m.group(1)) <= MAX_VERSION) or m.group(2) != "0":
            return json_response(NOT_FOUND, 404)
        version = f"{m.group(1)}.{m.group(2)}"
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if not self.sessions.check_call(token):
            resp = json_response(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401
            )
        elif not self.usage.take():
            resp = json_response(
                [
                    {
                        "message": "TotalRequests Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ],
                403,
            )
        else:
            try:
                resp = self._dispatch(request, version, m.group(3) or "/", token or "")
            except ApiError as exc:
                resp = json_response(exc.body, exc.status)
            except soql.SoqlError as exc:
                resp = json_response([{"message": exc.message, "errorCode": exc.error_code}], 400)
        resp.headers["Sforce-Limit-Info"] = self.usage.header
        return resp

    def _dispatch(self, request: Request, version: str, rest: str, token: str) -> Response:
        method = request.method
        parts = [p for p in rest.split("/") if p]
        if parts and float(version) < FIRST_VERSION.get(parts[0], 0):
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if rest in ("/query", "/query/", "/queryAll", "/queryAll/") and method == "GET":
            return self._query(request, version, token, include_deleted="All" in rest)
        if (m := _LOCATOR_RE.match(rest)) and method == "GET":
            return self._more(request, version, m.group(2), int(m.group(3)), m.group(1))
        if parts == ["limits"] and method == "GET":
            return json_response(self._limits())
        if parts[:1] == ["sobjects"]:
            return self._sobjects(request, version, parts[1:])
        if parts == ["composite", "sobjects"] and method == "PATCH":
            return self.writer.composite_update(request)
        if len(parts) == 3 and parts[:2] == ["composite", "sobjects"] and method == "POST":
            return self._collection_retrieve(request, version, parts[2])
        if parts[:2] == ["jobs", "query"]:
            return self.bulk.handle(request, version, parts[2:])
        if not parts and method == "GET":
            base = f"/services/data/v{version}"
            names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
            return json_response({n: f"{base}/{n}" for n in names})
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    # -- query ----------------------------------------------------------------------------

    def run_soql(self, q: str, include_deleted: bool, version: str) -> tuple[list[dict], int]:
        """Parse and execute a SOQL query over the store (raises :class:`soql.SoqlError`)."""
        query = soql.parse(q)
        sobject = self.store.schema.canonical_object(query.sobject) or query.sobject
        with self.store.lock:
            records = list(self.store.records.get(sobject, {}).values())
            return soql.execute(
                query,
                self.store.schema,
                records,
                self.store.get,
                include_deleted,
                api_version=version,
            )

    def _page_size(self, request: Request, batch_size: int) -> int:
        short = request.environ.get(PAGE_SIZE_ENVIRON_KEY)
        return max(1, min(batch_size, short)) if short else batch_size

    def _query(self, request: Request, version: str, token: str, include_deleted: bool) -> Response:
        q = request.args.get("q")
        if not q:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        rows, total = self.run_soql(q, include_deleted, version)
        batch = self.page_size
        if m := _BATCH_RE.search(request.headers.get("Sforce-Query-Options", "")):
            batch = max(200, min(2000, int(m.group(1))))
        with self._lock:
            self._cursor_serial += 1
            locator = make_id("01g", self._cursor_serial)
            self._cursors[locator] = _Cursor(token, rows, total, batch)
            while len(self._cursors) > _MAX_CURSORS:
                self._cursors.popitem(last=False)
        resource = "queryAll" if include_deleted else "query"
        return self._page(request, version, locator, 0, resource)

    def _more(
        self, request: Request, version: str, locator: str, offset: int, resource: str
    ) -> Response:
        with self._lock:
            cursor = self._cursors.get(locator)
        if cursor is None or not self.sessions.is_alive(cursor.token) or offset > len(cursor.rows):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(request, version, locator, offset, resource)

    def _page(
        self, request: Request, version: str, locator: str, offset: int, resource: str
    ) -> Response:
        cursor = self._cursors[locator]
        size = self._page_size(request, cursor.batch_size)
        end = min(offset + size, len(cursor.rows))
        body: dict[str, Any] = {"totalSize": cursor.total_size, "done": end >= len(cursor.rows)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{version}/{resource}/{locator}-{end}"
        body["records"] = cursor.rows[offset:end]
        return json_response(body)

    # -- sobjects -------------------------------------------------------------------------

    def _sobjects(self, request: Request, version: str, parts: list[str]) -> Response:
        base = f"/services/data/v{version}/sobjects"
        if not parts:
            return json_response(
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [self._object_summary(o.name, base) for o in SCHEMA.values()],
                }
            )
        sobject = self.store.schema.canonical_object(parts[0])
        if sobject is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if parts[1:] == ["describe"] and request.method == "GET":
            body = self._object_summary(sobject, base)
            body["fields"] = [f.describe() for f in SCHEMA[sobject].fields]
            return json_response(body)
        if parts[1:] == ["deleted"] and request.method == "GET":
            return json_response(self._deleted(sobject, request))
        if len(parts) == 2 and request.method == "GET":
            rec = self.store.get(sobject, parts[1])
            if rec is None or rec.get("IsDeleted"):
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            with self.store.lock:
                body = {"attributes": {"type": sobject, "url": f"{base}/{sobject}/{rec['Id']}"}}
                body.update({k: json_value(v) for k, v in rec.items()})
            return json_response(body)
        if len(parts) == 2 and request.method == "PATCH":
            return self.writer.single_update(request, sobject, parts[1])
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    def _collection_retrieve(self, request: Request, version: str, name: str) -> Response:
        """``POST /composite/sobjects/{sObject}`` with ``{"ids", "fields"}``: one record per id
        in id order, ``null`` for an id not found or deleted; at most 2,000 ids
        (docs: resources_composite_sobjects_collections_retrieve_post.htm)."""
        sobject = self.store.schema.canonical_object(name)
        if sobject is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        body = request.get_json(silent=True)
        ids = body.get("ids") if isinstance(body, dict) else None
        names = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not isinstance(names, list) or not names:
            raise ApiError(400, "JSON_PARSER_ERROR", "ids and fields are required lists")
        if len(ids) > 2000:
            raise ApiError(400, "EXCEEDED_ID_LIMIT", "More than 2000 Ids are not allowed")
        by_lower = {f.name.lower(): f.name for f in SCHEMA[sobject].fields}
        unknown = [str(n) for n in names if str(n).lower() not in by_lower]
        if unknown:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity "
                           f"'{sobject}'.")
        base = f"/services/data/v{version}/sobjects"
        out: list[dict[str, Any] | None] = []
        with self.store.lock:
            for rid in ids:
                rec = self.store.get(sobject, str(rid))
                if rec is None or rec.get("IsDeleted"):
                    out.append(None)
                    continue
                item: dict[str, Any] = {
                    "attributes": {"type": sobject, "url": f"{base}/{sobject}/{rec['Id']}"}}
                for n in names:
                    field = by_lower[str(n).lower()]
                    item[field] = json_value(rec.get(field))
                out.append(item)
        return json_response(out)

    @staticmethod
    def _object_summary(sobject: str, base: str) -> dict[str, Any]:
        o = SCHEMA[sobject]
        return {
            "name": o.name,
            "label": o.label,
            "labelPlural": o.label_plural,
            "keyPrefix": o.key_prefix,
            "custom": False,
            "queryable": True,
            "replicateable": True,
            "updateable": any(f.updateable for f in o.fields),
            "urls": {
                "sobject": f"{base}/{o.name}",
                "describe": f"{base}/{o.name}/describe",
                "rowTemplate": f"{base}/{o.name}/{{ID}}",
            },
        }

    def _deleted(self, sobject: str, request: Request) -> dict[str, Any]:
        """``getDeleted``: records deleted in [start, end] (docs: dome_get_deleted.htm)."""
        try:
            start = datetime.fromisoformat(request.args["start"].replace(" ", "+"))
            end = datetime.fromisoformat(request.args["end"].replace(" ", "+"))
        except (KeyError, ValueError) as exc:
            raise ApiError(
                400, "MISSING_ARGUMENT", "start and end must be valid dateTime values"
            ) from exc
        if start.tzinfo is None or end.tzinfo is None or end < start:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "end date must be after start date")
        now = self.clock.now()
        with self.store.lock:
            hits = sorted(
                (at, rid)
                for rid, at in self.store.deleted_at.items()
                if rid in self.store.records[sobject] and start <= at <= end
            )
            earliest = min([now - timedelta(days=15), *self.store.deleted_at.values()])
        latest = min(end, now).replace(second=0, microsecond=0)
        return {
            "deletedRecords": [{"id": rid, "deletedDate": format_datetime(at)} for at, rid in hits],
            "earliestDateAvailable": format_datetime(earliest.replace(second=0, microsecond=0)),
            "latestDateCovered": format_datetime(latest),
        }

    def _limits(self) -> dict[str, dict[str, int]]:
        jobs = self.bulk.job_count
        return {
            "DailyApiRequests": {
                "Max": self.usage.max,
                "Remaining": self.usage.max - self.usage.used,
            },
            "DailyBulkApiRequests": {"Max": 5000, "Remaining": 5000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - jobs},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "HourlySyncReportRuns": {"Max": 500, "Remaining": 500},
        }
