"""Write partner KPIs onto HubSpot companies: read the property definitions, create missing ones
(``push --create-properties``), send batch updates, read every record's result.

- Properties: ``GET /crm/v3/properties/companies`` gives each property's ``type`` (``number``),
  ``modificationMetadata.readOnlyValue`` and ``hubspotDefined`` (absent on custom properties).
  Number properties have no scale: the push loop rounds values (2 places, 0 for counts, unless
  configured; a win rate is written 0..1 unless ``percent: true``).
  https://developers.hubspot.com/docs/api-reference/crm-properties-v3/guide
- Current values: ``POST /crm/v3/objects/companies/batch/read`` (100 ids a call) before the
  plan, so a value a person edited is seen.
  https://developers.hubspot.com/docs/api-reference/crm-companies-v3/batch/post-crm-v3-objects-companies-batch-read
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
from datetime import date
from typing import Any

from connectors.base import FieldInfo, FieldValue, RecordResult, RecordUpdate
from connectors.errors import FatalAPIError
from connectors.http import RetryPolicy
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.settings import HubSpotSettings, HubSpotWriteback

#: ids per companies ``batch/read`` call (the API's limit)
READ_LIMIT = 100
#: HubSpot property type -> :attr:`FieldInfo.kind`.
FIELD_KINDS = {"number": "number", "string": "text", "date": "date", "datetime": "datetime"}


def property_value(value: FieldValue) -> str:
    """A value as HubSpot's property value string (``""`` clears the property): a number
    without exponent or trailing zeros, a day as ``YYYY-MM-DD`` (date properties take ISO
    8601 days), text as is."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
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
        kind=FIELD_KINDS.get(ptype, "other"),
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
        #: ``batch/read`` requests sent for the current values (retries included)
        self.read_calls = 0

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

    def read_values(self, record_ids: Sequence[str],
                    fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The properties' current values: ``POST /crm/v3/objects/companies/batch/read``, 100
        ids a call. Values are HubSpot's strings (``""`` / absent: empty -> ``None``); ids
        HubSpot does not find (207, ``OBJECT_NOT_FOUND``) are absent."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(record_ids), READ_LIMIT):
            chunk = list(record_ids[start:start + READ_LIMIT])
            before = self.client.usage.calls
            try:
                answer = self.client.read_companies(chunk, list(fields))
            finally:
                self.read_calls += self.client.usage.calls - before
            for item in answer.get("results") or []:
                if not isinstance(item, Mapping) or item.get("id") is None:
                    continue
                props = item.get("properties") or {}
                found[str(item["id"])] = {f: props.get(f) or None for f in fields}
        return found

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
