"""Bulk API 2.0 query jobs of the Salesforce facade.

* ``POST /services/data/vXX.X/jobs/query`` with ``{"operation": "query"|"queryAll", "query":
  ...}`` -> 200 job info, state ``UploadComplete``. Queries selecting a compound field (e.g.
  ``BillingAddress``) are rejected like the real API (400 ``API_ERROR`` "Selecting compound data
  not supported in Bulk Query"; the Bulk 2.0 docs list compound address fields among the
  unsupported items: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/queries.htm).
  SOQL errors answer 400 like REST.
* ``GET .../jobs/query/{id}`` -> job info, state ``JobComplete`` (the sandbox runs the query at
  creation).
* ``GET .../jobs/query/{id}/results?maxRecords=&locator=`` -> CSV, all values quoted, header =
  the SELECT paths as written, LF line ends, dateTime as ``2017-03-01T09:30:00.000Z``, null as
  an empty value, booleans ``true``/``false``. The response is ``Content-Type: text/csv`` with
  **no charset** although the body is UTF-8 (case C-11), and carries ``Sforce-NumberOfRecords``
  and ``Sforce-Locator`` (``null`` on the last page; otherwise an opaque base64 offset).
* ``DELETE`` / ``PATCH {"state": "Aborted"}`` on a job.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from werkzeug import Request, Response

from crm_sandbox import soql
from crm_sandbox.core import json_response
from crm_sandbox.salesforce_schema import format_datetime, make_id

if TYPE_CHECKING:
    from crm_sandbox.salesforce import SalesforceFacade

__all__ = ["BulkQueryJobs"]

_COMPOUND = ("address", "location")


@dataclass
class _Job:
    id: str
    operation: str
    sobject: str
    created: datetime
    version: str
    header: list[str]
    lines: list[list[str]]
    state: str = "JobComplete"


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        # REST-style dateTime text from the SOQL engine -> Bulk's "Z" form.
        if len(value) == 28 and value.endswith("+0000") and value[10] == "T":
            return value[:23] + "Z"
        return value
    return str(value)


def _lookup(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    node: Any = row
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _canonical_keys(schema: Any, sobject: str, path: str) -> tuple[str, ...]:
    """The row keys of a SELECT path as the SOQL engine writes them (canonical spelling).

    Relationship keys derive from the lookup field (``PartnerAccountId`` -> ``PartnerAccount``,
    ``Partner_Account__c`` -> ``Partner_Account__r``), leaves are canonical field names.
    """
    keys: list[str] = []
    obj = sobject
    *rels, leaf = path.split(".")
    for rel in rels:
        fk = schema.relationship_field(obj, rel)
        if fk is None:
            return (*keys, rel, *path.split(".")[len(keys) + 1 :])
        keys.append(fk.name[:-3] + "__r" if fk.name.endswith("__c") else fk.name[:-2])
        obj = fk.reference_to
    keys.append(schema.field_name(obj, leaf) or leaf)
    return tuple(keys)


class BulkQueryJobs:
    """Bulk 2.0 query jobs of one :class:`~crm_sandbox.salesforce.SalesforceFacade`."""

    def __init__(self, facade: SalesforceFacade) -> None:
        self.facade = facade
        self._jobs: dict[str, _Job] = {}
        self._serial = 0
        self._lock = threading.Lock()

    @property
    def job_count(self) -> int:
        """How many query jobs were created."""
        return self._serial

    def handle(self, request: Request, version: str, parts: list[str]) -> Response:
        """Answer ``.../jobs/query[/{id}[/results]]``."""
        from crm_sandbox.salesforce import ApiError

        method = request.method
        if not parts and method == "POST":
            return self._create(request, version)
        job = self._jobs.get(parts[0]) if parts else None
        if job is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 1 and method == "GET":
            return json_response(self._info(job, full=True))
        if len(parts) == 1 and method == "DELETE":
            with self._lock:
                self._jobs.pop(job.id, None)
            return Response(status=204)
        if len(parts) == 1 and method == "PATCH":
            job.state = "Aborted"
            return json_response(self._info(job, full=False))
        if parts[1:] == ["results"] and method == "GET":
            return self._results(request, job)
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    def _create(self, request: Request, version: str) -> Response:
        from crm_sandbox.salesforce import ApiError

        try:
            payload = json.loads(request.get_data() or b"null")
        except ValueError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", "Unexpected request body") from exc
        if not isinstance(payload, dict) or not payload.get("query"):
            raise ApiError(400, "INVALIDJOB", "Query is required for query jobs")
        operation = payload.get("operation", "query")
        if operation not in ("query", "queryAll"):
            raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}")
        query = soql.parse(payload["query"])
        schema = self.facade.store.schema
        sobject = schema.canonical_object(query.sobject) or query.sobject
        for path in query.fields:
            obj, *rels, leaf = [sobject, *path.split(".")]
            for rel in rels:
                obj = schema.relationship(obj, rel) or obj
            if schema.field_type(obj, leaf) in _COMPOUND:
                raise ApiError(
                    400, "API_ERROR", "Selecting compound data not supported in Bulk Query"
                )
        rows, _ = self.facade.run_soql(payload["query"], operation == "queryAll", version)
        paths = [_canonical_keys(schema, sobject, p) for p in query.fields]
        lines = [[_csv_text(_lookup(r, keys)) for keys in paths] for r in rows]
        with self._lock:
            self._serial += 1
            job = _Job(
                make_id("750", self._serial),
                operation,
                sobject,
                self.facade.clock.now(),
                version,
                list(query.fields),
                lines,
            )
            self._jobs[job.id] = job
        info = self._info(job, full=False)
        info["state"] = "UploadComplete"
        return json_response(info)

    def _info(self, job: _Job, full: bool) -> dict[str, Any]:
        stamp = format_datetime(job.created)
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject,
            "createdById": self.facade.sessions.user_id,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(job.version),
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if full:
            info |= {
                "jobType": "V2Query",
                "numberRecordsProcessed": len(job.lines),
                "retries": 0,
                "totalProcessingTime": 0,
                "isPkChunkingSupported": True,
            }
        return info

    def _results(self, request: Request, job: _Job) -> Response:
        from crm_sandbox.salesforce import ApiError

        try:
            offset = (
                int(base64.b64decode(request.args["locator"] + "=="))
                if request.args.get("locator")
                else 0
            )
            max_records = int(request.args.get("maxRecords") or len(job.lines) or 1)
        except ValueError as exc:
            raise ApiError(400, "INVALID_LOCATOR", "Invalid locator") from exc
        end = min(len(job.lines), offset + max(1, max_records))
        buf = io.StringIO()
        writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(job.header)
        writer.writerows(job.lines[offset:end])
        locator = (
            "null"
            if end >= len(job.lines)
            else base64.b64encode(str(end).encode()).decode().rstrip("=")
        )
        resp = Response(buf.getvalue().encode("utf-8"), status=200)
        resp.headers["Content-Type"] = "text/csv"
        resp.headers["Sforce-Locator"] = locator
        resp.headers["Sforce-NumberOfRecords"] = str(end - offset)
        return resp
