"""Write partner KPIs onto Salesforce Accounts: describe the target fields, send sObject
Collections updates, read every record's result.

- Fields: ``GET /sobjects/Account/describe`` gives each field's ``type`` (``percent`` holds
  0..100, ``currency`` / ``double`` / ``int`` keep the KPI's own scale), ``scale`` (decimal places
  kept), ``updateable`` and ``custom``.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm
- Updates: ``PATCH /services/data/vXX.X/composite/sobjects`` with ``{"allOrNone": false,
  "records": [{"attributes": {"type": "Account"}, "id": ..., field: value}]}``, at most 200
  records per call. The answer is HTTP 200 with one SaveResult per input record *in input
  order*; a failed record has ``success: false``, its ``errors`` (``statusCode``, ``message``)
  and no ``id``, so results are matched to records by position (case C-10).
  https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html
- A JSON ``null`` clears a field; a ``kpi_period`` text goes as a string, a ``kpi_as_of`` day
  as ``YYYY-MM-DD``.
- Current values (what the plan compares against) are read first by :mod:`.read_back`.
- Errors and retries as for the pulls: 429 / 5xx / dropped connections are retried
  (``Retry-After`` honoured) through :func:`connectors.http.call_with_retries` — safe, because
  setting a field to a value is idempotent; 401 logs in again once; 403
  ``REQUEST_LIMIT_EXCEEDED`` stops (:mod:`connectors.salesforce.http`).

Creating the fields is an admin's job (see ``README.md``): Setup -> Object Manager -> Account ->
Fields & Relationships -> New; e.g. ``Partner_Win_Rate__c`` Percent(3, 2),
``Partner_Avg_Deal_Size__c`` Currency(16, 2), ``Partner_Quality_Score__c`` Number(3, 2); then
grant the integration user's profile or permission set Edit access to them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import requests

from connectors.base import FieldInfo, FieldValue, RecordResult, RecordUpdate
from connectors.errors import ConfigError
from connectors.http import RetryPolicy, call_with_retries
from connectors.salesforce import read_back
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.http import send, with_relogin
from connectors.salesforce.settings import SalesforceSettings, SalesforceWriteback
from connectors.secrets import load_secrets_file

#: Salesforce field types that hold numbers.
NUMERIC_TYPES = frozenset({"percent", "currency", "double", "int", "long"})
#: Salesforce field type -> :attr:`FieldInfo.kind`.
FIELD_KINDS = {**dict.fromkeys(NUMERIC_TYPES, "number"), "string": "text", "textarea": "text",
               "date": "date", "datetime": "datetime"}


def json_number(value: FieldValue) -> int | float | str | None:
    """A field value as JSON: a number (``None`` clears the field); a day as ``YYYY-MM-DD``;
    text as is.

    Values are already rounded to the field's scale, so the float is the decimal's shortest
    repr (exact for the 18-digit fields Salesforce has).
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return int(value) if value == value.to_integral_value() else float(value)


def collection_body(crm_object: str, batch: Sequence[RecordUpdate]) -> dict[str, Any]:
    """The sObject Collections update body for one batch (``allOrNone: false``)."""
    return {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": crm_object}, "id": u.record_id,
             **{name: json_number(v) for name, v in u.values.items()}}
            for u in batch
        ],
    }


def read_results(batch: Sequence[RecordUpdate], answer: Any) -> list[RecordResult]:
    """One :class:`RecordResult` per input record, by position (failed results carry no id).

    A missing or malformed result counts as a failure (``NO_RESULT``), never as a success.
    """
    items = answer if isinstance(answer, list) else []
    results = []
    for i, update in enumerate(batch):
        item = items[i] if i < len(items) and isinstance(items[i], Mapping) else None
        if item is None:
            results.append(RecordResult(update.record_id, False, "NO_RESULT",
                                        "Salesforce sent no result for this record"))
        elif item.get("success") is True:
            results.append(RecordResult(update.record_id, True))
        else:
            errors = [e for e in item.get("errors") or [] if isinstance(e, Mapping)]
            first = errors[0] if errors else {}
            fields = first.get("fields") or []
            message = str(first.get("message") or "no error detail")
            if fields:
                message += f" (fields: {', '.join(map(str, fields))})"
            results.append(RecordResult(update.record_id, False,
                                        str(first.get("statusCode") or "UNKNOWN"), message))
    return results


class SalesforcePusher:
    """The push side of the Salesforce connector.

    Args:
        settings: ``sources.salesforce`` (login, API version, CA bundle, timeouts).
        writeback: ``writeback.salesforce``.
        policy: retries (default: ``settings.retry_attempts`` tries, real sleeps).
        session: the HTTP session (default: one verifying TLS against ``ca_bundle``).
        client: the connector's client to share (its login, session and policy); default: a
            client of its own built from ``settings``, ``policy`` and ``session``.
    """

    source = "salesforce"

    def __init__(
        self,
        settings: SalesforceSettings,
        writeback: SalesforceWriteback,
        *,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        client: SalesforceClient | None = None,
    ) -> None:
        self.settings = settings
        self.crm_object: str = writeback.object
        if client is None:
            policy = policy or RetryPolicy(attempts=settings.retry_attempts)
            client = SalesforceClient(settings, policy=policy,
                                      secrets=load_secrets_file(settings.secrets_file,
                                                                "sources.salesforce.secrets_file"),
                                      session=session)
        self.client = client
        self.policy = client.policy
        self.write_calls = 0
        self.read_calls = 0

    def describe_fields(self) -> dict[str, FieldInfo]:
        """The target object's fields from ``describe``, keyed by lower-cased API name."""
        fields = {}
        for f in self.client.describe(self.crm_object).get("fields") or []:
            ftype = str(f.get("type") or "")
            scale = f.get("scale")
            if ftype in ("int", "long"):
                scale = 0
            fields[str(f["name"]).lower()] = FieldInfo(
                name=str(f["name"]), type=ftype, updateable=bool(f.get("updateable")),
                custom=bool(f.get("custom")), numeric=ftype in NUMERIC_TYPES,
                percent=ftype == "percent",
                scale=int(scale) if scale is not None else None,
                kind=FIELD_KINDS.get(ftype, "other"),
            )
        return fields

    def read_values(self, record_ids: Sequence[str],
                    fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The fields' current values, 2,000 records a call (:mod:`.read_back`)."""
        def count() -> None:
            self.read_calls += 1
        return read_back.read_values(self.client, self.crm_object, record_ids, fields,
                                     api_version=self.settings.api_version,
                                     timeout=self.settings.timeout_seconds, on_call=count)

    def missing_field_hint(self, kpi: str, name: str) -> str:
        """How an admin creates the field."""
        return (f"an admin creates it in Setup > Object Manager > {self.crm_object} > Fields & "
                "Relationships > New (Percent for rates, Currency for amounts, Number otherwise) "
                "and gives the integration user Edit access")

    def create_field(self, kpi: str, name: str, group: str) -> FieldInfo:
        """Salesforce fields are created by an admin, never by partnerkpi.

        Raises:
            ConfigError: always.
        """
        msg = (f"salesforce: {self.crm_object} has no field {name} (writeback.salesforce.fields."
               f"{kpi}); {self.missing_field_hint(kpi, name)}")
        raise ConfigError(msg)

    def push(self, batch: Sequence[RecordUpdate]) -> list[RecordResult]:
        """One ``PATCH /composite/sobjects`` call for up to 200 records.

        Raises:
            SessionExpired: the session expired again right after a new login.
            LimitReachedError, FatalAPIError, RetriableAPIError: see
                :mod:`connectors.salesforce.http`.
        """
        if len(batch) > 200:
            msg = f"salesforce: {len(batch)} records in one collection call (at most 200)"
            raise ValueError(msg)
        _ = self.client.sf  # logs in on first use
        body = collection_body(self.crm_object, batch)
        what = f"salesforce update {len(batch)} {self.crm_object} records"

        def once() -> Any:
            self.write_calls += 1
            url = (f"{self.client.instance_url}/services/data/v{self.settings.api_version}"
                   "/composite/sobjects")
            response = send(self.client.session, "PATCH", url, what, json=body,
                            timeout=self.settings.timeout_seconds)
            return json.loads(response.content or b"null", parse_float=Decimal)

        answer = with_relogin(lambda: call_with_retries(once, self.policy), self.client.connect)
        return read_results(batch, answer)
