"""Write partner KPIs onto HubSpot companies: read the property definitions, create missing ones
(``push --create-properties``), send batch updates, read every record's result.

- Properties: ``GET /crm/v3/properties/companies`` gives each property's ``type`` (``number``),
  ``modificationMetadata.readOnlyValue`` and ``hubspotDefined`` (absent on custom properties).
  Number properties keep the KPI's own scale (a win rate is written 0..1).
  https://developers.hubspot.com/docs/api-reference/crm-properties-v3/guide
- Missing properties are created with ``POST /crm/v3/properties/companies`` (``type: number``,
  ``fieldType: number``) in the ``partnerkpi`` group. A group no property definition names is
  created first (``POST /crm/v3/properties/companies/groups``; 409 Conflict: it exists already).
- Updates: ``POST /crm/v3/objects/companies/batch/update`` with
  ``{"inputs": [{"id": ..., "properties": {name: "value"}}]}``, at most 100 inputs per call;
  values are strings and ``""`` clears a property. The answer is 200 when every input was
  written, 207 Multi-Status when some were not: ``results`` hold the written records (by ``id``),
  ``errors`` the failures (``category``, ``message``, ``context.ids``).
  https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/companies/batch/update-companies
  https://developers.hubspot.com/changelog/simplifying-batch-update-response-codes-for-crm-v3-apis
- Retries, 429 (POST included) and pacing come from the connector's
  :class:`~connectors.hubspot.client.HubSpotClient`; re-sending an update is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from connectors.base import FieldInfo, RecordResult, RecordUpdate
from connectors.errors import FatalAPIError
from connectors.http import RetryPolicy
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.settings import HubSpotSettings, HubSpotWriteback


def property_value(value: Decimal | None) -> str:
    """A number as HubSpot's property value string (``""`` clears the property)."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def update_body(batch: Sequence[RecordUpdate]) -> dict[str, Any]:
    """The ``batch/update`` body for one batch."""
    return {"inputs": [
        {"id": u.record_id, "properties": {k: property_value(v) for k, v in u.values.items()}}
        for u in batch
    ]}


def read_results(batch: Sequence[RecordUpdate], answer: Mapping[str, Any]) -> list[RecordResult]:
    """One :class:`RecordResult` per input record: written when its id is in ``results``,
    failed with the error naming it in ``context.ids``, else failed ``NO_RESULT``."""
    written = {str(r.get("id")) for r in answer.get("results") or [] if isinstance(r, Mapping)}
    failed: dict[str, tuple[str, str]] = {}
    for error in answer.get("errors") or []:
        if not isinstance(error, Mapping):
            continue
        ids = (error.get("context") or {}).get("ids") or []
        code = str(error.get("category") or "UNKNOWN")
        details = [d for d in error.get("errors") or [] if isinstance(d, Mapping)]
        if details and details[0].get("code"):
            code += f"/{details[0]['code']}"
        for rid in ids:
            failed.setdefault(str(rid), (code, str(error.get("message") or "")))
    results = []
    for u in batch:
        if u.record_id in failed:
            code, message = failed[u.record_id]
            results.append(RecordResult(u.record_id, False, code, message))
        elif u.record_id in written:
            results.append(RecordResult(u.record_id, True))
        else:
            results.append(RecordResult(u.record_id, False, "NO_RESULT",
                                        "HubSpot sent no result for this record"))
    return results


def _field_info(prop: Mapping[str, Any]) -> FieldInfo:
    meta = prop.get("modificationMetadata") or {}
    ptype = str(prop.get("type") or "")
    return FieldInfo(
        name=str(prop["name"]), type=ptype,
        updateable=not meta.get("readOnlyValue") and not prop.get("calculated"),
        custom=not prop.get("hubspotDefined"), numeric=ptype == "number",
    )


class HubSpotPusher:
    """The push side of the HubSpot connector.

    Args:
        settings: ``sources.hubspot`` (token, host, CA bundle, retries, timeout).
        writeback: ``writeback.hubspot``.
        policy: retries (default: ``settings.retry_attempts`` tries, real sleeps).
        client: the connector's client to share (its token, pacing and usage counts); default:
            a client of its own built from ``settings`` and ``policy``.

    Raises:
        ConfigError: the token's environment variable is not set.
    """

    source = "hubspot"

    def __init__(self, settings: HubSpotSettings, writeback: HubSpotWriteback, *,
                 policy: RetryPolicy | None = None, client: HubSpotClient | None = None) -> None:
        self.crm_object: str = writeback.object
        self.client = client or HubSpotClient.from_settings(settings, policy)
        #: property groups known to exist (read with the property definitions)
        self._groups: set[str] = set()

    @property
    def write_calls(self) -> int:
        """``batch/update`` requests sent (retries included)."""
        return self.client.write_calls

    def describe_fields(self) -> dict[str, FieldInfo]:
        """The company property definitions, keyed by (lower-case) internal name."""
        body = self.client.company_properties()
        found = [p for p in body.get("results") or [] if isinstance(p, Mapping) and p.get("name")]
        self._groups.update(str(p["groupName"]) for p in found if p.get("groupName"))
        return {str(p["name"]).lower(): _field_info(p) for p in found}

    def missing_field_hint(self, kpi: str, name: str) -> str:
        """How to create the missing property."""
        return "run partnerkpi push --create-properties to create it (type number)"

    def create_field(self, kpi: str, name: str, group: str) -> FieldInfo:
        """Create a number property for ``kpi`` in ``group`` (the group too, when missing).

        Raises:
            FatalAPIError: HubSpot refused the group or the definition.
        """
        body = {"name": name, "label": "Partner " + kpi.replace("_", " "), "type": "number",
                "fieldType": "number", "groupName": group,
                "description": f"partnerkpi: the partner's {kpi} (written by partnerkpi push)"}
        if group not in self._groups:
            try:
                self.client.create_company_group({"name": group, "label": "partnerkpi",
                                                  "displayOrder": -1})
            except FatalAPIError as exc:
                if exc.status != 409:  # 409 Conflict: the group exists (with no property yet)
                    raise
            self._groups.add(group)
        created = self.client.create_company_property(body)
        return _field_info(created)

    def push(self, batch: Sequence[RecordUpdate]) -> list[RecordResult]:
        """One ``batch/update`` call for up to 100 companies.

        Raises:
            LimitReachedError, AuthError, FatalAPIError, RetriableAPIError: see
                :mod:`connectors.hubspot.client`.
        """
        if len(batch) > 100:
            msg = f"hubspot: {len(batch)} inputs in one batch update (at most 100)"
            raise ValueError(msg)
        return read_results(batch, self.client.update_companies(update_body(batch)))
