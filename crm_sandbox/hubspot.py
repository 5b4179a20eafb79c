"""The sandbox's HubSpot facade: a World served as HubSpot's CRM v3/v4 API.

:class:`HubSpotFacade` renders the World once (see :mod:`crm_sandbox.hubspot_store`) and answers
requests under ``/crm/``, ``/account-info/`` and ``/oauth/`` with the keys, JSON types, formats
and error shapes of real HubSpot responses (``fixtures/api-samples/hubspot-*.json``):

* partner companies (type PARTNER / RESELLER, KPI properties in group ``partnerkpi``), one
  customer company per account name (PROSPECT / CUSTOMER), owners with teams (archived ones
  only with ``archived=true``, names blank and ``userId`` null), the ``default`` deal pipeline
  whose stage ids are not the labels and whose metadata are strings, deals with string
  properties (``amount`` ``""`` when unknown, ``amount_in_home_currency``), deal->company
  associations (customer: primary; partner: USER_DEFINED label "Partner"), contacts from leads;
* list / get / search / batch read / batch update / create / patch / archive / merge, property
  definitions, pipelines, owners, associations v4 batch read, account details, OAuth tokens;
* bearer-token auth on everything but ``/oauth/``, HubSpot's rate-limit headers on every
  response (search responses: the daily ones only, as observed).

Control methods change records as a HubSpot user would: :meth:`HubSpotFacade.update` bumps
``hs_lastmodifieddate``/``updatedAt``; :meth:`HubSpotFacade.delete` archives without touching
them (C-06).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from werkzeug import Request, Response

from crm_sandbox.core import Clock, json_response
from crm_sandbox.hubspot_objects import ObjectEndpoints
from crm_sandbox.hubspot_portal import PortalEndpoints
from crm_sandbox.hubspot_render import home_amount, link_deal_company, render_world, stage_history
from crm_sandbox.hubspot_store import (
    ALWAYS_PROPERTIES,
    DEFAULT_PROPERTIES,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    HsRecord,
    iso_ms,
    parse_instant,
    parse_number,
    to_hs_string,
)
from crm_sandbox.world import World

__all__ = ["DEFAULT_TOKEN", "HubSpotFacade"]

DEFAULT_TOKEN = "pat-na1-sandbox-0000-0000-000000000000"
DEFAULT_REFRESH_TOKEN = "sandbox-refresh-token"
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
DAILY_LIMIT = 250_000
INTERVAL_MS = 10_000
INTERVAL_MAX = 100
SECONDLY_MAX = 10

_OBJ = r"/crm/v3/objects/(?P<type>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p + "$"), h)
    for m, p, h in [
        ("GET", _OBJ, "list"),
        ("POST", _OBJ, "create"),
        ("POST", _OBJ + "/search", "search"),
        ("POST", _OBJ + "/batch/read", "batch_read"),
        ("POST", _OBJ + "/batch/update", "batch_update"),
        ("POST", _OBJ + "/merge", "merge"),
        ("GET", _OBJ + "/(?P<id>[^/]+)", "get"),
        ("PATCH", _OBJ + "/(?P<id>[^/]+)", "patch"),
        ("DELETE", _OBJ + "/(?P<id>[^/]+)", "archive"),
        ("GET", r"/crm/v3/properties/(?P<type>[^/]+)", "properties"),
        ("POST", r"/crm/v3/properties/(?P<type>[^/]+)", "create_property"),
        ("GET", r"/crm/v3/properties/(?P<type>[^/]+)/(?P<name>[^/]+)", "property"),
        ("GET", r"/crm/v3/pipelines/(?P<ptype>[^/]+)", "pipelines"),
        (
            "GET",
            r"/crm/v3/pipelines/(?P<ptype>[^/]+)/(?P<pid>[^/]+)(?:/(?P<rest>stages))?",
            "pipeline",
        ),
        ("GET", r"/crm/v3/owners/?", "owners"),
        ("GET", r"/crm/v3/owners/(?P<oid>[^/]+)", "owner"),
        ("POST", r"/crm/v4/associations/(?P<type>[^/]+)/(?P<to>[^/]+)/batch/read", "assoc_read"),
        ("GET", r"/account-info/v3/details", "account"),
        ("POST", r"/oauth/v1/token", "oauth_token"),
        ("GET", r"/oauth/v1/access-tokens/(?P<token>[^/]+)", "oauth_token_info"),
    ]
]


class HubSpotFacade(ObjectEndpoints, PortalEndpoints):
    """HubSpot's CRM API over a World.

    Args:
        world: The World to serve (rendered once; later API changes don't write back to it).
        clock: Anything with ``now()`` returning an aware UTC datetime.
        token: The bearer token accepted at start (more via :meth:`set_token`/OAuth).
        portal_id: The portal (Hub) id.
        time_zone: The portal's time zone name (account details).
        kpi_properties: Whether the ``partnerkpi`` company properties exist at start.
    """

    prefixes = ("/crm/", "/account-info/", "/oauth/")

    def __init__(
        self,
        world: World,
        clock: Clock | Any,
        *,
        token: str = DEFAULT_TOKEN,
        portal_id: int = 4_815_162,
        time_zone: str = "US/Eastern",
        kpi_properties: bool = True,
    ) -> None:
        self.world = world
        self.clock = clock
        self.portal_id = portal_id
        self.time_zone = time_zone
        self.company_currency = world.corporate_currency
        self.currency_rates = dict(world.currency_rates)
        self.currency_rates.setdefault(world.corporate_currency, Decimal(1))
        rendered = render_world(world, kpi_properties)
        self.stores = rendered.stores
        self.properties = rendered.properties
        self.owners = rendered.owners
        self.stage_id_by_key = rendered.stage_id_by_key
        self.stages = rendered.stages
        #: pipelines beside "default" (add_pipeline): the pipelines endpoint lists them too
        self.extra_pipelines: list[dict[str, Any]] = []
        self._partner_company_ids = rendered.partner_company_ids
        self._owner_ids = rendered.owner_ids
        self._deal_ids = rendered.deal_ids
        self._customer_company_ids = rendered.customer_company_ids
        self.tokens: set[str] = {token}
        self.refresh_tokens: set[str] = {DEFAULT_REFRESH_TOKEN}
        self.failures: dict[tuple[str, int], tuple[str, str]] = {}
        self._search_cache: dict[tuple[str, int, str], list[HsRecord]] = {}
        self._keyset_indexes: dict[tuple[str, int], Any] = {}
        self._lock = threading.RLock()
        self._correlation = 0
        self._daily_used = 0
        self._recent: deque[datetime] = deque()

    # -- lookups for tests and tools ----------------------------------------------------------

    def stage_id(self, stage_key: str) -> str:
        """HubSpot deal stage id of a World stage key."""
        return self.stage_id_by_key[stage_key]

    def company_id(self, partner_key: str) -> str:
        """HubSpot company id of a World partner."""
        return str(self._partner_company_ids[partner_key])

    def customer_company_id(self, account_name: str) -> str:
        """HubSpot company id of a customer account (by its name)."""
        return str(self._customer_company_ids[account_name])

    def deal_id(self, deal_key: str) -> str:
        """HubSpot deal id of a World deal."""
        return str(self._deal_ids[deal_key])

    def owner_id(self, owner_key: str) -> str:
        """HubSpot owner id of a World owner."""
        return str(self._owner_ids[owner_key])

    def record(self, object_type: str, record_id: str) -> HsRecord:
        """The stored record (any state), for assertions."""
        otype = OBJECT_TYPES[object_type.lower()]
        return self.stores[otype].by_id[int(record_id)]

    # -- controls -----------------------------------------------------------------------------

    @property
    def accepted_tokens(self) -> set[str]:
        """Bearer tokens currently accepted."""
        return set(self.tokens)

    def set_token(self, token: str) -> None:
        """Accept only ``token`` from now on (the old ones get 401)."""
        with self._lock:
            self.tokens = {token}

    def add_token(self, token: str) -> None:
        """Accept ``token`` in addition to the current ones."""
        with self._lock:
            self.tokens.add(token)

    def fail_record(
        self,
        object_type: str,
        record_id: str,
        category: str = "VALIDATION_ERROR",
        message: str = "Property values were not valid",
    ) -> None:
        """Make every write of this record fail (batch/update: that input, 207; PATCH: 400)."""
        with self._lock:
            otype = OBJECT_TYPES[object_type.lower()]
            self.failures[(otype, int(record_id))] = (category, message)

    def clear_failures(self) -> None:
        """Forget every :meth:`fail_record`."""
        with self._lock:
            self.failures.clear()

    def create(self, object_type: str, values: dict[str, Any]) -> str:
        """Create a record as a user would; returns its id.

        Deals get ``pipeline`` ``default`` and ``amount_in_home_currency``; a deal whose
        ``partner_company_id`` names a company is associated with it under the "Partner" label.
        """
        with self._lock:
            otype = OBJECT_TYPES[object_type.lower()]
            store = self.stores[otype]
            now = iso_ms(self.clock.now())
            new_id = store.new_id()
            props: dict[str, str | None] = {
                k: self._stage_value(otype, k, to_hs_string(v)) for k, v in values.items()
            }
            props.update(
                {"createdate": now, MODIFIED_PROPERTY[otype]: now, "hs_object_id": str(new_id)}
            )
            if otype == "deals":
                props.setdefault("pipeline", "default")
                self._recompute_home_amount(props)
            record = HsRecord(new_id, props, now, now)
            if otype == "deals" and "dealstage" in props:
                record.history["dealstage"] = [
                    {"value": props["dealstage"] or "", "timestamp": now, "sourceType": "API"}
                ]
            store.add(record)
            partner = props.get("partner_company_id")
            if otype == "deals" and partner and partner.isdigit():
                company = self.stores["companies"].by_id.get(int(partner))
                if company is not None:
                    link_deal_company(record, company, True)
            return str(new_id)

    def add_pipeline(self, pipeline_id: str, label: str,
                     stages: list[tuple[str, str, float, bool]]) -> None:
        """Add a deal pipeline: ``stages`` are (id, label, probability, is_closed); a closed
        stage is won with probability 1.0, lost with 0.0 (as HubSpot's metadata says)."""
        with self._lock:
            self.extra_pipelines.append({
                "label": label, "displayOrder": len(self.extra_pipelines) + 1, "id": pipeline_id,
                "stages": [
                    {"label": name, "displayOrder": i, "id": sid,
                     "metadata": {"isClosed": "true" if closed else "false",
                                  "probability": str(float(probability))},
                     "archived": False}
                    for i, (sid, name, probability, closed) in enumerate(stages)
                ],
                "archived": False,
            })

    def update(self, object_type: str, record_id: str, values: dict[str, Any]) -> None:
        """Change properties; bumps ``hs_lastmodifieddate`` and ``updatedAt`` to ``clock.now()``.

        ``dealstage`` may be given as a World stage key or a HubSpot stage id.
        """
        with self._lock:
            otype = OBJECT_TYPES[object_type.lower()]
            record = self.stores[otype].by_id[int(record_id)]
            self._apply_update(otype, record, values)

    def delete(self, object_type: str, record_id: str) -> None:
        """Archive a record: ``archived``/``archivedAt`` set, ``hs_lastmodifieddate`` untouched."""
        with self._lock:
            otype = OBJECT_TYPES[object_type.lower()]
            store = self.stores[otype]
            record = store.by_id[int(record_id)]
            if record.archived:
                return
            record.archived_at = iso_ms(self.clock.now())
            store.set_archived(record, True)

    def merge(self, object_type: str, winner_id: str, loser_id: str) -> None:
        """Merge ``loser_id`` into ``winner_id`` as HubSpot does.

        The loser disappears from lists and search (not archived: merged); reading it by id
        returns the winner. The winner gets ``hs_merged_object_ids`` and a bumped
        ``hs_lastmodifieddate``; the loser's associations move to the winner.
        """
        with self._lock:
            otype = OBJECT_TYPES[object_type.lower()]
            store = self.stores[otype]
            winner = store.by_id[int(winner_id)]
            loser = store.by_id[int(loser_id)]
            for to_type, links in loser.assoc.items():
                target = self.stores[to_type]
                for to_id, kinds in links.items():
                    mine = winner.assoc.setdefault(to_type, {})
                    old = mine.get(to_id, ())
                    mine[to_id] = old + tuple(k for k in kinds if k not in old)
                    other = target.by_id[to_id].assoc.get(otype, {})
                    moved = other.pop(loser.id, ())
                    theirs = other.get(winner.id, ())
                    other[winner.id] = theirs + tuple(k for k in moved if k not in theirs)
            loser.assoc = {}
            store.remove(loser)
            store.merged[loser.id] = winner.id
            merged = [m for m in (winner.props.get("hs_merged_object_ids") or "").split(";") if m]
            merged.append(str(loser.id))
            self._apply_update(otype, winner, {"hs_merged_object_ids": ";".join(merged)})

    def link_partner(self, deal_id: str, company_id: str) -> None:
        """Associate a deal with a company under the "Partner" label, as a user editing the
        deal's associations would: neither record's ``hs_lastmodifieddate`` moves (HubSpot
        does not count an association change as a property change)."""
        with self._lock:
            deal = self.stores["deals"].by_id[int(deal_id)]
            company = self.stores["companies"].by_id[int(company_id)]
            link_deal_company(deal, company, True)
            self.stores["deals"].version += 1

    def unlink_partner(self, deal_id: str, company_id: str) -> None:
        """Remove the deal's association with the company (every label), leaving both
        records' ``hs_lastmodifieddate`` alone."""
        with self._lock:
            deal = self.stores["deals"].by_id[int(deal_id)]
            company = self.stores["companies"].by_id[int(company_id)]
            deal.assoc.get("companies", {}).pop(company.id, None)
            company.assoc.get("deals", {}).pop(deal.id, None)
            self.stores["deals"].version += 1

    def move_partner(self, deal_id: str, old_company_id: str, new_company_id: str) -> None:
        """Move a deal's "Partner" association from one company to another (modified dates
        untouched): :meth:`unlink_partner` then :meth:`link_partner`."""
        self.unlink_partner(deal_id, old_company_id)
        self.link_partner(deal_id, new_company_id)

    def archive_owner(self, owner_id: str) -> None:
        """Deactivate an owner: listed only with ``archived=true``, ``userId`` null."""
        with self._lock:
            owner = self.owners[int(owner_id)]
            owner.archived = True
            owner.updated_at = iso_ms(self.clock.now())

    # -- request handling ---------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request (thread-safe)."""
        with self._lock:
            now = self.clock.now()
            self._count_request(now)
            response = self._dispatch(request)
            response.headers.update(self._rate_limit_values(request.path, now))
            return response

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        method = request.method.upper()
        if not path.startswith("/oauth/") and not self._authorized(request):
            return self._error(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)
        path_matched = False
        for route_method, pattern, handler in _ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            path_matched = True
            if route_method != method:
                continue
            params = match.groupdict()
            if "type" in params:
                otype = OBJECT_TYPES.get(params["type"].lower())
                if otype is None:
                    return self._validation(f"Unable to infer object type from: {params['type']}")
                params["type"] = otype
                if otype not in self.stores:  # goals of a portal without them (no scope)
                    return self._error(
                        403, "MISSING_SCOPES", "This app hasn't been granted all required "
                        "scopes to make this call. Read more about required scopes here: "
                        "https://developers.hubspot.com/scopes.",
                        errors=[{"message": "One or more of the following scopes are "
                                 "required.", "context": {"requiredGranularScopes": [
                                     "crm.objects.goals.read"]}}])
            if "to" in params:
                to_type = OBJECT_TYPES.get(params["to"].lower())
                if to_type is None:
                    return self._validation(f"Unable to infer object type from: {params['to']}")
                params["to"] = to_type
            if handler in ("get", "patch", "archive") and params["id"] in (
                "search",
                "batch",
                "merge",
            ):
                continue
            return self._call(handler, request, params)
        if path_matched:
            return self._error(405, "VALIDATION_ERROR", f"Method {method} not allowed on {path}")
        return self._error(404, "OBJECT_NOT_FOUND", "resource not found")

    def _call(self, handler: str, request: Request, p: dict[str, Any]) -> Response:
        if handler == "list":
            return self._list_objects(request, p["type"])
        if handler == "create":
            return self._create_object(request, p["type"])
        if handler == "search":
            return self._search(request, p["type"])
        if handler == "batch_read":
            return self._batch_read(request, p["type"])
        if handler == "batch_update":
            return self._batch_update(request, p["type"])
        if handler == "merge":
            return self._merge_objects(request, p["type"])
        if handler == "get":
            return self._get_object(request, p["type"], p["id"])
        if handler == "patch":
            return self._patch_object(request, p["type"], p["id"])
        if handler == "archive":
            return self._archive_object(p["type"], p["id"])
        if handler == "properties":
            return self._list_properties(p["type"])
        if handler == "create_property":
            return self._create_property(request, p["type"])
        if handler == "property":
            return self._get_property(p["type"], p["name"])
        if handler == "pipelines":
            return self._pipelines(OBJECT_TYPES.get(p["ptype"].lower(), p["ptype"]), None, "")
        if handler == "pipeline":
            ptype = OBJECT_TYPES.get(p["ptype"].lower(), p["ptype"])
            return self._pipelines(ptype, p["pid"], p.get("rest") or "")
        if handler == "owners":
            return self._list_owners(request)
        if handler == "owner":
            return self._get_owner(request, p["oid"])
        if handler == "assoc_read":
            return self._assoc_batch_read(request, p["type"], p["to"])
        if handler == "account":
            return self._account_details()
        if handler == "oauth_token":
            return self._oauth_token(request)
        return self._oauth_token_info(p["token"])

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self.tokens

    def _count_request(self, now: datetime) -> None:
        self._daily_used += 1
        self._recent.append(now)
        horizon = now - timedelta(milliseconds=INTERVAL_MS)
        while self._recent and self._recent[0] <= horizon:
            self._recent.popleft()

    def rate_limit_headers(self, path: str) -> dict[str, str]:
        """The ``X-HubSpot-RateLimit-*`` headers a response to ``path`` carries right now.

        Search paths get the daily pair only (as observed). For the server to add to responses
        it makes itself (fault 429s on HubSpot paths carried the daily headers when recorded).
        """
        with self._lock:
            return self._rate_limit_values(path, self.clock.now())

    def _rate_limit_values(self, path: str, now: datetime) -> dict[str, str]:
        headers = {
            "X-HubSpot-RateLimit-Daily": str(DAILY_LIMIT),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, DAILY_LIMIT - self._daily_used)),
        }
        if path.endswith("/search"):
            return headers
        in_second = sum(1 for t in self._recent if t > now - timedelta(seconds=1))
        headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(INTERVAL_MS)
        headers["X-HubSpot-RateLimit-Max"] = str(INTERVAL_MAX)
        headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, INTERVAL_MAX - len(self._recent)))
        headers["X-HubSpot-RateLimit-Secondly"] = str(SECONDLY_MAX)
        headers["X-HubSpot-RateLimit-Secondly-Remaining"] = str(max(0, SECONDLY_MAX - in_second))
        return headers

    # -- helpers shared by the endpoint mixins ------------------------------------------------

    def _correlation_id(self) -> str:
        self._correlation += 1
        return str(uuid.UUID(int=(0x5A4D_B0C5 << 96) | self._correlation, version=4))

    def _error(self, status: int, category: str, message: str, **extra: Any) -> Response:
        body: dict[str, Any] = {
            "status": "error",
            "message": message,
            "correlationId": self._correlation_id(),
            "category": category,
        }
        body.update(extra)
        return json_response(body, status)

    def _validation(self, message: str, field: str | None = None) -> Response:
        extra: dict[str, Any] = {}
        if field:
            extra["errors"] = [{"message": message, "in": field}]
        return self._error(400, "VALIDATION_ERROR", message, **extra)

    def _not_found(self, otype: str, raw_id: str) -> Response:
        return self._error(404, "OBJECT_NOT_FOUND", "resource not found", context={"id": [raw_id]})

    def _json_body(self, request: Request) -> dict[str, Any] | Response:
        raw = request.get_data(as_text=True)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            return self._validation(
                f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
            )
        if not isinstance(body, dict):
            return self._validation("Invalid input JSON: expected an object")
        return body

    @staticmethod
    def _type_or_none(name: str) -> str | None:
        return OBJECT_TYPES.get(name.lower())

    def _find(self, otype: str, raw_id: str, archived: bool) -> HsRecord | None:
        if not raw_id.isdigit():
            return None
        store = self.stores[otype]
        record = store.by_id.get(store.resolve(int(raw_id)))
        if record is None or record.archived != archived or record.id in store.merged:
            return None
        return record

    def _property_names(self, otype: str, requested: list[str] | None) -> list[str]:
        known = self.properties[otype]
        names = set(requested if requested else DEFAULT_PROPERTIES[otype])
        names.update(ALWAYS_PROPERTIES[otype])
        return sorted(n for n in names if n in known)

    def _object_json(
        self,
        otype: str,
        record: HsRecord,
        names: list[str],
        history: list[str] | None = None,
        associations: list[str] | None = None,
    ) -> dict[str, Any]:
        props = record.props
        body: dict[str, Any] = {
            "id": str(record.id),
            "properties": {n: props.get(n) for n in names},
        }
        if history:
            known = self.properties[otype]
            body["propertiesWithHistory"] = {
                n: self._history(otype, record, n) for n in history if n in known
            }
        body["createdAt"] = record.created_at
        body["updatedAt"] = record.updated_at
        body["archived"] = record.archived
        if record.archived:
            body["archivedAt"] = record.archived_at
        if associations:
            assoc: dict[str, Any] = {}
            for to_type in associations:
                links = record.assoc.get(to_type)
                if not links:
                    continue
                assoc[to_type] = {
                    "results": [
                        {"id": str(to_id), "type": v3_type}
                        for to_id, kinds in sorted(links.items())
                        for _, _, _, v3_type in kinds
                    ]
                }
            if assoc:
                body["associations"] = assoc
        return body

    def _history(self, otype: str, record: HsRecord, name: str) -> list[dict[str, str]]:
        stored = stage_history(record) if name == "dealstage" else record.history.get(name)
        if stored:
            return stored
        value = record.props.get(name)
        if value is None:
            return []
        stamp = record.updated_at if name == MODIFIED_PROPERTY[otype] else record.created_at
        return [{"value": value, "timestamp": stamp, "sourceType": "API"}]

    def _stage_value(self, otype: str, name: str, value: str) -> str:
        if otype == "deals" and name == "dealstage":
            return self.stage_id_by_key.get(value, value)
        return value

    def _property_problems(self, otype: str, values: dict[str, Any]) -> list[dict[str, str]]:
        known = self.properties[otype]
        problems: list[dict[str, str]] = []
        for name, value in values.items():
            prop = known.get(name)
            if prop is None:
                problems.append(
                    {
                        "name": name,
                        "error": "PROPERTY_DOESNT_EXIST",
                        "message": f'Property "{name}" does not exist',
                    }
                )
                continue
            if prop.read_only_value:
                problems.append(
                    {
                        "name": name,
                        "error": "READ_ONLY_VALUE",
                        "message": f'"{name}" is a read only property; its value cannot be set.',
                    }
                )
                continue
            text = to_hs_string(value)
            if text == "":
                continue
            if prop.type == "number" and parse_number(text) is None:
                problems.append(
                    {
                        "name": name,
                        "error": "INVALID_DECIMAL",
                        "message": f"{text} was not a valid number.",
                    }
                )
            elif prop.type in ("datetime", "date") and parse_instant(text) is None:
                problems.append(
                    {
                        "name": name,
                        "error": "INVALID_DATE",
                        "message": f"{text} was not a valid long or ISO 8601 datetime.",
                    }
                )
            elif prop.options and text not in {str(o.get("value")) for o in prop.options}:
                if otype == "deals" and name == "dealstage" and text in self.stage_id_by_key:
                    continue
                problems.append(
                    {
                        "name": name,
                        "error": "INVALID_OPTION",
                        "message": f"{text} was not one of the allowed options: "
                        + ", ".join(str(o.get("value")) for o in prop.options),
                    }
                )
        return problems

    @staticmethod
    def _problems_message(problems: list[dict[str, str]]) -> str:
        detail = [
            {
                "isValid": False,
                "message": p["message"],
                "error": p["error"],
                "name": p["name"],
            }
            for p in problems
        ]
        return "Property values were not valid: " + json.dumps(detail, separators=(",", ":"))

    def _property_error(self, problems: list[dict[str, str]]) -> Response:
        return self._error(
            400,
            "VALIDATION_ERROR",
            self._problems_message(problems),
            errors=[
                {
                    "message": p["message"],
                    "code": p["error"],
                    "context": {"propertyName": [p["name"]]},
                }
                for p in problems
            ],
        )

    def _apply_update(self, otype: str, record: HsRecord, values: dict[str, Any]) -> None:
        now = iso_ms(self.clock.now())
        changed = False
        for name, value in values.items():
            text = self._stage_value(otype, name, to_hs_string(value))
            old = record.props.get(name)
            if old == text:
                continue
            history = record.history.get(name)
            if history is None:
                history = self._history(otype, record, name)
                record.history[name] = history
            history.insert(0, {"value": text, "timestamp": now, "sourceType": "API"})
            record.props[name] = text
            changed = True
        if otype == "deals" and ("amount" in values or "deal_currency_code" in values):
            self._recompute_home_amount(record.props)
        record.typed.clear()
        modified = MODIFIED_PROPERTY[otype]
        record.props[modified] = now
        record.updated_at = now
        if changed or values:
            self.stores[otype].version += 1

    def _recompute_home_amount(self, props: dict[str, str | None]) -> None:
        amount = parse_number(props.get("amount"))
        currency = props.get("deal_currency_code") or self.company_currency
        props["amount_in_home_currency"] = home_amount(amount, currency, self.currency_rates)
