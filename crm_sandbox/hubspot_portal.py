"""HubSpot portal endpoints: properties, pipelines, owners, associations v4, account, OAuth.

A mixin of :class:`crm_sandbox.hubspot.HubSpotFacade`.
"""

from __future__ import annotations

import secrets
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from werkzeug import Request, Response

from crm_sandbox.core import json_response
from crm_sandbox.hubspot_objects import MAX_ASSOC_INPUTS
from crm_sandbox.hubspot_props import PropertyDef
from crm_sandbox.hubspot_render import stage_metadata
from crm_sandbox.hubspot_store import PORTAL_CREATED, iso_ms

if TYPE_CHECKING:
    from crm_sandbox.hubspot import HubSpotFacade

PROPERTY_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = (
    "textarea",
    "text",
    "date",
    "file",
    "number",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "calculation_equation",
)
MAX_OWNER_LIMIT = 500
ASSOC_SINGULAR = {"deals": "deal", "companies": "company", "contacts": "contact"}


class PortalEndpoints:
    """Endpoints outside ``/crm/v3/objects``."""

    # -- properties ---------------------------------------------------------------------------

    def _list_properties(self: HubSpotFacade, otype: str) -> Response:
        return json_response({"results": [p.to_json() for p in self.properties[otype].values()]})

    def _get_property(self: HubSpotFacade, otype: str, name: str) -> Response:
        prop = self.properties[otype].get(name)
        if prop is None:
            return self._error(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property {name} on object type {otype}",
            )
        return json_response(prop.to_json())

    def _create_property(self: HubSpotFacade, request: Request, otype: str) -> Response:
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            return self._validation(f"Missing required fields: {', '.join(missing)}", missing[0])
        name = str(body["name"])
        if body["type"] not in PROPERTY_TYPES:
            return self._validation(f"Invalid property type: {body['type']}", "type")
        if body["fieldType"] not in FIELD_TYPES:
            return self._validation(f"Invalid fieldType: {body['fieldType']}", "fieldType")
        if name in self.properties[otype]:
            return self._error(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"Property named '{name}' already exists.",
            )
        now = iso_ms(self.clock.now())
        prop = PropertyDef(
            name=name,
            label=str(body["label"]),
            type=str(body["type"]),
            field_type=str(body["fieldType"]),
            group_name=str(body["groupName"]),
            hubspot_defined=False,
            description=str(body.get("description") or ""),
            options=list(body.get("options") or []),
            display_order=int(body.get("displayOrder", -1)),
            created_at=now,
            updated_at=now,
        )
        self.properties[otype][name] = prop
        return json_response(prop.to_json(), 201)

    # -- pipelines ----------------------------------------------------------------------------

    def _pipeline_json(self: HubSpotFacade) -> dict[str, Any]:
        created = iso_ms(PORTAL_CREATED)
        stages = [
            {
                "label": stage.label,
                "displayOrder": index,
                "metadata": stage_metadata(stage),
                "id": self.stage_id_by_key[stage.key],
                "createdAt": created,
                "updatedAt": created,
                "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for index, stage in enumerate(sorted(self.stages, key=lambda s: s.order))
        ]
        return {
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "id": "default",
            "stages": stages,
            "createdAt": created,
            "updatedAt": created,
            "archived": False,
        }

    def _pipelines(self: HubSpotFacade, otype: str, pipeline_id: str | None, rest: str) -> Response:
        if otype != "deals":
            return (
                json_response({"results": []})
                if pipeline_id is None
                else self._error(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id}")
            )
        pipeline = self._pipeline_json()
        if pipeline_id is None:
            return json_response({"results": [pipeline, *self.extra_pipelines]})
        if pipeline_id != "default":
            return self._error(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id}")
        if rest == "stages":
            return json_response({"results": pipeline["stages"]})
        return json_response(pipeline)

    # -- owners -------------------------------------------------------------------------------

    def _list_owners(self: HubSpotFacade, request: Request) -> Response:
        try:
            limit = int(request.args.get("limit", "100"))
        except ValueError:
            return self._validation("limit must be an integer", "limit")
        if limit < 1 or limit > MAX_OWNER_LIMIT:
            return self._validation(
                f"limit must be between 1 and {MAX_OWNER_LIMIT}, got {limit}", "limit"
            )
        archived = request.args.get("archived", "false").lower() == "true"
        email = request.args.get("email")
        after_raw = request.args.get("after")
        try:
            after = int(after_raw) if after_raw else None
        except ValueError:
            return self._validation(f"Invalid after cursor: {after_raw}", "after")
        owners = [
            o
            for oid, o in sorted(self.owners.items())
            if o.archived == archived
            and (after is None or oid >= after)
            and (email is None or o.email.lower() == email.lower())
        ]
        page, rest = owners[:limit], owners[limit:]
        body: dict[str, Any] = {"results": [o.to_json() for o in page]}
        if rest:
            nxt = str(rest[0].id)
            args = [(k, v) for k, v in request.args.items(multi=True) if k != "after"]
            args.append(("after", nxt))
            body["paging"] = {
                "next": {
                    "after": nxt,
                    "link": f"{request.host_url}crm/v3/owners/?{urlencode(args)}",
                }
            }
        return json_response(body)

    def _get_owner(self: HubSpotFacade, request: Request, raw_id: str) -> Response:
        archived = request.args.get("archived", "false").lower() == "true"
        owner = self.owners.get(int(raw_id)) if raw_id.isdigit() else None
        if owner is None or owner.archived != archived:
            return self._error(404, "OBJECT_NOT_FOUND", f"Owner {raw_id} not found")
        return json_response(owner.to_json())

    # -- associations v4 ----------------------------------------------------------------------

    def _assoc_batch_read(
        self: HubSpotFacade, request: Request, from_type: str, to_type: str
    ) -> Response:
        started = iso_ms(self.clock.now())
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        inputs = self._batch_inputs(body, MAX_ASSOC_INPUTS)
        if isinstance(inputs, Response):
            return inputs
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in inputs:
            raw_id = str(item["id"])
            # a merged-away id has no associations ("you will receive an empty response":
            # https://developers.hubspot.com/changelog/announcement-deals-now-support-merging)
            merged = raw_id.isdigit() and int(raw_id) in self.stores[from_type].merged
            record = None if merged else self._find(from_type, raw_id, False)
            linked = record.assoc.get(to_type, {}) if record is not None else {}
            target_store = self.stores[to_type]
            to = [
                {
                    "toObjectId": to_id,
                    "associationTypes": [
                        {"category": cat, "typeId": type_id, "label": label}
                        for cat, type_id, label, _ in kinds
                    ],
                }
                for to_id, kinds in sorted(linked.items())
                if to_id in target_store.by_id
                and not target_store.by_id[to_id].archived
                and to_id not in target_store.merged
            ]
            if not to:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No {ASSOC_SINGULAR[to_type]} is associated with "
                        f"{ASSOC_SINGULAR[from_type]} {raw_id}.",
                        "context": {"fromObjectId": [raw_id], "toObjectType": [to_type]},
                        "links": {},
                        "errors": [],
                    }
                )
                continue
            results.append({"from": {"id": str(record.id)}, "to": to})
        out: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
        out["startedAt"] = started
        out["completedAt"] = iso_ms(self.clock.now())
        return json_response(out, 207 if errors else 200)

    # -- account ------------------------------------------------------------------------------

    def _account_details(self: HubSpotFacade) -> Response:
        offset_ms = 0
        try:
            zone = ZoneInfo(self.time_zone)
            delta = self.clock.now().astimezone(zone).utcoffset()
            offset_ms = int(delta.total_seconds() * 1000) if delta is not None else 0
        except ZoneInfoNotFoundError:
            zone = UTC
        sign = "-" if offset_ms < 0 else "+"
        minutes = abs(offset_ms) // 60000
        others = sorted(c for c in self.currency_rates if c != self.company_currency)
        return json_response(
            {
                "portalId": self.portal_id,
                "accountType": "STANDARD",
                "timeZone": self.time_zone,
                "companyCurrency": self.company_currency,
                "additionalCurrencies": others,
                "utcOffset": f"{sign}{minutes // 60:02d}:{minutes % 60:02d}",
                "utcOffsetMilliseconds": offset_ms,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }
        )

    # -- OAuth --------------------------------------------------------------------------------

    def _oauth_token(self: HubSpotFacade, request: Request) -> Response:
        form = request.form
        grant = form.get("grant_type")
        refresh_ok = grant == "refresh_token" and form.get("refresh_token") in self.refresh_tokens
        code_ok = grant == "authorization_code" and bool(form.get("code"))
        if not (refresh_ok or code_ok):
            return json_response(
                {
                    "status": "BAD_REFRESH_TOKEN",
                    "message": "missing or unknown refresh token",
                    "correlationId": self._correlation_id(),
                },
                400,
            )
        token = f"sandbox-oauth-{secrets.token_hex(8)}"
        self.tokens.add(token)
        refresh = form.get("refresh_token") or f"sandbox-refresh-{secrets.token_hex(8)}"
        self.refresh_tokens.add(refresh)
        return json_response(
            {
                "token_type": "bearer",
                "refresh_token": refresh,
                "access_token": token,
                "expires_in": 1800,
            }
        )

    def _oauth_token_info(self: HubSpotFacade, token: str) -> Response:
        if token not in self.tokens:
            return self._error(404, "OBJECT_NOT_FOUND", "Token not found")
        return json_response(
            {
                "token": token,
                "user": "sandbox@example.com",
                "hub_domain": "sandbox.example.com",
                "scopes": [
                    "crm.objects.companies.read",
                    "crm.objects.companies.write",
                    "crm.objects.contacts.read",
                    "crm.objects.deals.read",
                    "crm.objects.owners.read",
                    "crm.schemas.companies.write",
                    "oauth",
                ],
                "hub_id": self.portal_id,
                "app_id": 1234567,
                "expires_in": 1800,
                "user_id": 1,
                "token_type": "access",
            }
        )
