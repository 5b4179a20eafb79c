"""HubSpot CRM object endpoints: list, get, search, batch read/update, create, archive, merge.

A mixin of :class:`crm_sandbox.hubspot.HubSpotFacade`; it relies on the facade's stores,
property definitions, clock and helpers (``_error``, ``_json_body``, ``_object_json`` ...).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug import Request, Response

from crm_sandbox.core import json_response
from crm_sandbox.hubspot_search import (
    MAX_SEARCH_LIMIT,
    MAX_SEARCH_RESULTS,
    SearchError,
    compile_filter_groups,
    keyset_index,
    keyset_slice,
    keyset_start,
    parse_sorts,
    query_predicate,
    sort_records,
)
from crm_sandbox.hubspot_store import HsRecord, iso_ms

if TYPE_CHECKING:
    from crm_sandbox.hubspot import HubSpotFacade

MAX_LIST_LIMIT = 100
MAX_LIST_LIMIT_WITH_HISTORY = 50
MAX_BATCH_INPUTS = 100
#: v4 associations batch read: 1,000 ids a call since 2025-02-10
#: (https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api)
MAX_ASSOC_INPUTS = 1000
SEARCHABLE = {
    "deals": ("dealname",),
    "companies": ("name", "domain"),
    "contacts": ("firstname", "lastname", "email"),
}
SINGULAR = {"deals": "DEAL", "companies": "COMPANY", "contacts": "CONTACT"}


def arg_list(request: Request, name: str) -> list[str]:
    """A list query parameter, given repeated (``a=1&a=2``) or comma separated (``a=1,2``)."""
    values: list[str] = []
    for raw in request.args.getlist(name):
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    return values


class ObjectEndpoints:
    """Endpoints under ``/crm/v3/objects/{objectType}``."""

    def _list_objects(self: HubSpotFacade, request: Request, otype: str) -> Response:
        try:
            limit = int(request.args.get("limit", "10"))
        except ValueError:
            return self._validation("limit must be an integer", "limit")
        if limit < 1 or limit > MAX_LIST_LIMIT:
            return self._validation(
                f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}", "limit"
            )
        after_raw = request.args.get("after")
        after: int | None = None
        if after_raw not in (None, ""):
            try:
                after = int(after_raw)
            except ValueError:
                return self._validation(f"Invalid after cursor: {after_raw}", "after")
        archived = request.args.get("archived", "false").lower() == "true"
        props = arg_list(request, "properties") or None
        history = arg_list(request, "propertiesWithHistory")
        assoc = [self._type_or_none(a) for a in arg_list(request, "associations")]
        if history:
            limit = min(limit, MAX_LIST_LIMIT_WITH_HISTORY)
        store = self.stores[otype]
        records, next_after = store.page(archived, after, limit)
        names = self._property_names(otype, props)
        results = [
            self._object_json(otype, r, names, history, [a for a in assoc if a]) for r in records
        ]
        body: dict[str, Any] = {"results": results}
        if next_after is not None:
            args = [(k, v) for k, v in request.args.items(multi=True) if k != "after"]
            args.append(("after", str(next_after)))
            link = f"{request.host_url}crm/v3/objects/{otype}?{urlencode(args)}"
            body["paging"] = {"next": {"after": str(next_after), "link": link}}
        return json_response(body)

    def _get_object(self: HubSpotFacade, request: Request, otype: str, raw_id: str) -> Response:
        archived = request.args.get("archived", "false").lower() == "true"
        record = self._find(otype, raw_id, archived)
        if record is None:
            return self._not_found(otype, raw_id)
        props = arg_list(request, "properties") or None
        history = arg_list(request, "propertiesWithHistory")
        assoc = [self._type_or_none(a) for a in arg_list(request, "associations")]
        names = self._property_names(otype, props)
        return json_response(
            self._object_json(otype, record, names, history, [a for a in assoc if a])
        )

    def _create_object(self: HubSpotFacade, request: Request, otype: str) -> Response:
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        values = body.get("properties") or {}
        if not isinstance(values, dict):
            return self._validation("properties must be an object", "properties")
        problems = self._property_problems(otype, values)
        if problems:
            return self._property_error(problems)
        new_id = self.create(otype, values)
        record = self.stores[otype].by_id[int(new_id)]
        names = self._property_names(otype, list(values))
        return json_response(self._object_json(otype, record, names), 201)

    def _patch_object(self: HubSpotFacade, request: Request, otype: str, raw_id: str) -> Response:
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        values = body.get("properties") or {}
        record = self._find(otype, raw_id, False)
        if record is None:
            return self._not_found(otype, raw_id)
        failure = self.failures.get((otype, record.id))
        if failure is not None:
            return self._error(400, failure[0], failure[1], context={"ids": [str(record.id)]})
        problems = self._property_problems(otype, values)
        if problems:
            return self._property_error(problems)
        self._apply_update(otype, record, values)
        names = self._property_names(otype, list(values))
        return json_response(self._object_json(otype, record, names))

    def _archive_object(self: HubSpotFacade, otype: str, raw_id: str) -> Response:
        record = self._find(otype, raw_id, False)
        if record is not None:
            self.delete(otype, str(record.id))
        return Response(status=204)

    def _merge_objects(self: HubSpotFacade, request: Request, otype: str) -> Response:
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        winner = self._find(otype, str(body.get("primaryObjectId", "")), False)
        loser = self._find(otype, str(body.get("objectIdToMerge", "")), False)
        if winner is None or loser is None or winner is loser:
            return self._validation("primaryObjectId and objectIdToMerge must be two live ids")
        self.merge(otype, str(winner.id), str(loser.id))
        names = self._property_names(otype, None)
        return json_response(self._object_json(otype, winner, names))

    # -- search -----------------------------------------------------------------------------

    def _search(self: HubSpotFacade, request: Request, otype: str) -> Response:
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        try:
            limit = int(body.get("limit") if body.get("limit") is not None else 10)
            offset_raw = body.get("after")
            offset = int(offset_raw) if offset_raw not in (None, "") else 0
        except (TypeError, ValueError):
            return self._validation("limit and after must be integers")
        if limit < 0 or limit > MAX_SEARCH_LIMIT:
            return self._validation(
                f"Limit must be between 0 and {MAX_SEARCH_LIMIT}, got {limit}", "limit"
            )
        if offset < 0:
            return self._validation(f"Invalid after: {offset_raw}", "after")
        if offset >= MAX_SEARCH_RESULTS:
            return self._validation(
                f"Paging past {MAX_SEARCH_RESULTS} results is not supported "
                f"(after={offset}). Narrow the search with filters instead.",
                "after",
            )
        try:
            matches = self._search_matches(otype, body)
        except SearchError as exc:
            return self._validation(str(exc))
        total = len(matches)
        end = min(offset + limit, MAX_SEARCH_RESULTS)
        page = matches[offset:end]
        props = body.get("properties") or None
        names = self._property_names(otype, props)
        out: dict[str, Any] = {
            "total": total,
            "results": [self._object_json(otype, r, names) for r in page],
        }
        if offset + limit < total and limit > 0:
            nxt = str(offset + limit)
            out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return json_response(out)

    def _search_matches(self: HubSpotFacade, otype: str, body: dict[str, Any]) -> list[HsRecord]:
        store = self.stores[otype]
        key_parts = [body.get("filterGroups"), body.get("sorts"), body.get("query")]
        key = (otype, store.version, json.dumps(key_parts, sort_keys=True, default=str))
        cached = self._search_cache.get(key)
        if cached is not None:
            return cached
        properties = self.properties[otype]
        start = keyset_start(body, properties)
        if start is not None:  # a keyset page: bisect a sorted index, not a scan of every record
            index_key = (otype, store.version)
            if index_key not in self._keyset_indexes:
                self._keyset_indexes.clear()
                self._keyset_indexes[index_key] = keyset_index(
                    [store.by_id[i] for i in store.active], properties)
            index = self._keyset_indexes[index_key]
            if index is not None:
                return keyset_slice(index, start)
        predicate = compile_filter_groups(body.get("filterGroups"), properties)
        sorts = parse_sorts(body.get("sorts"))
        text = query_predicate(body.get("query"), SEARCHABLE[otype])
        records = [store.by_id[i] for i in store.active]
        if predicate is not None:
            records = [r for r in records if predicate(r)]
        if text is not None:
            records = [r for r in records if text(r)]
        if sorts:
            records = sort_records(records, sorts, properties)
        if len(self._search_cache) > 16:
            self._search_cache.clear()
        self._search_cache[key] = records
        return records

    # -- batch --------------------------------------------------------------------------------

    def _batch_inputs(
        self: HubSpotFacade, body: dict[str, Any], limit: int = MAX_BATCH_INPUTS
    ) -> list[dict[str, Any]] | Response:
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return self._validation("inputs must be a list", "inputs")
        if len(inputs) > limit:
            return self._validation(
                f"Batch input limit exceeded: {len(inputs)} inputs were sent, "
                f"the maximum is {limit}.",
                "inputs",
            )
        if not all(isinstance(i, dict) and i.get("id") not in (None, "") for i in inputs):
            return self._validation("Every input needs an id", "inputs")
        return inputs

    def _batch_read(self: HubSpotFacade, request: Request, otype: str) -> Response:
        started = iso_ms(self.clock.now())
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        inputs = self._batch_inputs(body)
        if isinstance(inputs, Response):
            return inputs
        archived = bool(body.get("archived", False))
        names = self._property_names(otype, body.get("properties") or None)
        history = body.get("propertiesWithHistory") or []
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        seen: set[int] = set()
        for item in inputs:
            record = self._find(otype, str(item["id"]), archived)
            if record is None:
                missing.append(str(item["id"]))
                continue
            if record.id in seen:
                continue
            seen.add(record.id)
            results.append(self._object_json(otype, record, names, history))
        out: dict[str, Any] = {"status": "COMPLETE", "results": results}
        status = 200
        if missing:
            status = 207
            out["numErrors"] = 1
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {SINGULAR[otype]} objects, they may be "
                    "deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                    "links": {},
                    "errors": [],
                }
            ]
        out["startedAt"] = started
        out["completedAt"] = iso_ms(self.clock.now())
        return json_response(out, status)

    def _batch_update(self: HubSpotFacade, request: Request, otype: str) -> Response:
        started = iso_ms(self.clock.now())
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        inputs = self._batch_inputs(body)
        if isinstance(inputs, Response):
            return inputs
        ids = [str(i["id"]) for i in inputs]
        if len(set(ids)) != len(ids):
            return self._validation("Duplicate IDs found in batch input", "inputs")
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        missing: list[str] = []
        for item in inputs:
            raw_id = str(item["id"])
            values = item.get("properties") or {}
            record = self._find(otype, raw_id, False)
            if record is None or not isinstance(values, dict):
                missing.append(raw_id)
                continue
            failure = self.failures.get((otype, record.id))
            if failure is not None:
                errors.append(self._input_error(failure[0], failure[1], raw_id))
                continue
            problems = self._property_problems(otype, values)
            if problems:
                error = self._input_error(
                    "VALIDATION_ERROR", self._problems_message(problems), raw_id
                )
                error["errors"] = [
                    {
                        "message": p["message"],
                        "code": p["error"],
                        "context": {"propertyName": [p["name"]]},
                    }
                    for p in problems
                ]
                errors.append(error)
                continue
            self._apply_update(otype, record, values)
            names = self._property_names(otype, list(values))
            results.append(self._object_json(otype, record, names))
        if missing:
            error = self._input_error(
                "OBJECT_NOT_FOUND",
                f"Could not update some {SINGULAR[otype]} objects, they may be deleted or not "
                "exist. Check that ids are valid.",
                missing[0],
            )
            error["context"] = {"ids": missing}
            errors.append(error)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
        out["startedAt"] = started
        out["completedAt"] = iso_ms(self.clock.now())
        return json_response(out, 207 if errors else 200)

    @staticmethod
    def _input_error(category: str, message: str, raw_id: str) -> dict[str, Any]:
        return {
            "status": "error",
            "category": category,
            "message": message,
            "context": {"ids": [raw_id]},
            "links": {},
            "errors": [],
        }
