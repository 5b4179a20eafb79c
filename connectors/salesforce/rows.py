"""Salesforce records -> canonical rows.

Records come from REST (JSON: typed values, numbers as ``Decimal``, parents as nested objects with
an ``attributes`` key, a missing parent as ``null``) or from Bulk API 2.0 (CSV text: every value a
string or None, parents as ``Parent.Field`` columns). :func:`flatten` makes both the same: keys are
the full field path, lower case, dots as underscores (``Owner.Name`` -> ``owner_name``,
``Partner_Account__r.Name`` -> ``partner_account__r_name``, ``Account.BillingAddress`` ->
``account_billingaddress_city`` ...); ``attributes`` is dropped; a null parent gives no keys, so
its fields read as None (case C-07).

Values: amounts exact (``Decimal``, also exponent form); every ISO-8601 variant -> aware UTC
datetime (case C-03); ``CloseDate`` a date; percents (0..100) -> probabilities 0..1. A value that
does not parse (text in an amount, ``2024-13-45``) is never stored as a guess: the record is
rejected or the run stops, per ``on_bad_record`` (:mod:`connectors.bad_records`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.bad_records import BadRecords
from connectors.salesforce.ids import case_safe_id
from connectors.salesforce.settings import PartnerJunction
from connectors.values import parse_amount, parse_bool, parse_date, parse_instant

SOURCE = "salesforce"
PIPELINE = "default"
UNDATED = date(1, 1, 1)  # currency_rates.start_date of an undated rate
_HUNDRED = Decimal(100)


@functools.cache
def key(path: str) -> str:
    """The flattened key of a field path: ``Owner.Name`` -> ``owner_name`` (cached: a sync
    meets the same few dozen field names on every record)."""
    return path.lower().replace(".", "_")


#: Types a JSON or CSV value has when it is not a parent record (checked before the slower
#: ``isinstance(value, Mapping)``).
_SCALARS = frozenset({str, Decimal, int, float, bool, type(None)})


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record as one level of ``{full path key: value}`` (see the module docstring)."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        k = key(prefix + name) if prefix else key(name)
        if type(value) not in _SCALARS and isinstance(value, Mapping):
            out.update(flatten(value, k + "_"))
        else:
            out[k] = value
    return out


@dataclass
class RowContext:
    """What the row builders need besides the record.

    Attributes:
        partner_field: Opportunity field holding the partner id.
        lead_partner_field: Lead field holding the partner id.
        team_field: User field path giving the team.
        unit_field: User field path giving the unit.
        tier_field: Account field giving the tier, or None.
        default_currency: currency of deals without ``CurrencyIsoCode`` (single-currency orgs).
        junction: the junction object's fields (``partner_junction``), or None.
        warnings: one-line notes collected while building.
        bad: the records rejected while building (or the stop on the first one).
    """

    partner_field: str
    lead_partner_field: str
    team_field: str
    unit_field: str
    tier_field: str | None
    default_currency: str
    junction: PartnerJunction | None = None
    warnings: list[str] = field(default_factory=list)
    bad: BadRecords = field(default_factory=BadRecords)

    def read(
        self, flat: Mapping[str, Any], path: str, parse: Callable[[Any], Any] | None, what: str
    ) -> Any:
        """The value of ``path`` parsed; when it does not parse, the record is rejected
        (``bad``; the caller leaves it out) and None is returned.

        Raises:
            RecordError: the value does not parse and ``on_bad_record`` is ``stop``.
        """
        value = flat.get(key(path))
        if parse is None:
            return None if value is None else str(value)
        try:
            return parse(value)
        except ValueError as exc:
            self.bad.add(what, str(flat.get("id")), path, value, str(exc))
            return None

    def own_id(self, flat: Mapping[str, Any], what: str) -> str | None:
        """The record's own ``Id`` in the 18-character form (:func:`case_safe_id`); a value
        that is not an id rejects the record whatever ``on_bad_record`` says but ``stop`` (a row
        cannot be kept without its key).

        Raises:
            RecordError: the Id is not an id and ``on_bad_record`` is ``stop``.
        """
        value = flat.get("id")
        try:
            return case_safe_id(value)
        except ValueError as exc:
            self.bad.add(what, str(value), "Id", value, str(exc), nullable=False)
            return None


def _percent(value: Any) -> Decimal | None:
    number = parse_amount(value)
    return None if number is None else number / _HUNDRED


def is_deleted(flat: Mapping[str, Any]) -> bool:
    """True for a record in the recycle bin (``IsDeleted``; absent means live)."""
    return bool(parse_bool(flat.get("isdeleted")))


def deal_row(flat: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    """A ``deals`` row from an Opportunity (amount kept in its own currency)."""
    r = ctx.read
    return {
        "source": SOURCE,
        "deal_id": ctx.own_id(flat, "deal"),
        "name": r(flat, "Name", None, "deal"),
        "partner_id": r(flat, ctx.partner_field, case_safe_id, "deal"),
        "owner_id": r(flat, "OwnerId", case_safe_id, "deal"),
        "account_name": r(flat, "Account.Name", None, "deal"),
        "pipeline": PIPELINE,
        "stage": r(flat, "StageName", None, "deal"),
        "is_closed": bool(r(flat, "IsClosed", parse_bool, "deal")),
        "is_won": bool(r(flat, "IsWon", parse_bool, "deal")),
        "amount": r(flat, "Amount", parse_amount, "deal"),
        "currency": r(flat, "CurrencyIsoCode", None, "deal") or ctx.default_currency,
        "created_at": r(flat, "CreatedDate", parse_instant, "deal"),
        "close_date": r(flat, "CloseDate", parse_date, "deal"),
        "lead_source": r(flat, "LeadSource", None, "deal"),
        "updated_at": r(flat, "SystemModstamp", parse_instant, "deal"),
        "is_deleted": False,
    }


def partner_row(flat: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    """A ``partners`` row from a partner Account."""
    r = ctx.read
    return {
        "source": SOURCE,
        "partner_id": ctx.own_id(flat, "partner"),
        "name": r(flat, "Name", None, "partner"),
        "partner_type": r(flat, "Type", None, "partner"),
        "tier": r(flat, ctx.tier_field, None, "partner") if ctx.tier_field else None,
        "updated_at": r(flat, "SystemModstamp", parse_instant, "partner"),
        "is_deleted": False,
    }


def owner_row(flat: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    """An ``owners`` row from a User."""
    r = ctx.read
    return {
        "source": SOURCE,
        "owner_id": ctx.own_id(flat, "owner"),
        "name": r(flat, "Name", None, "owner"),
        "team": r(flat, ctx.team_field, None, "owner"),
        "unit": r(flat, ctx.unit_field, None, "owner"),
        "is_active": r(flat, "IsActive", parse_bool, "owner"),
    }


def stage_row(flat: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    """A ``stages`` row from an OpportunityStage: won / closed from its flags, never its name."""
    r = ctx.read
    return {
        "source": SOURCE,
        "pipeline": PIPELINE,
        "stage": r(flat, "ApiName", None, "stage"),
        "label": r(flat, "MasterLabel", None, "stage"),
        "probability": r(flat, "DefaultProbability", _percent, "stage"),
        "is_closed": bool(r(flat, "IsClosed", parse_bool, "stage")),
        "is_won": bool(r(flat, "IsWon", parse_bool, "stage")),
        "display_order": r(
            flat, "SortOrder", lambda v: None if v in (None, "") else int(v), "stage"
        ),
    }


def history_row(flat: Mapping[str, Any], ctx: RowContext) -> dict[str, Any] | None:
    """A ``stage_history`` row from an OpportunityHistory (None without stage or time).

    ``crm_order`` is the history row's ``Id``: of two rows with one ``CreatedDate`` (whole
    seconds), the greater Id was inserted later (case C-15; migration 007).
    """
    r = ctx.read
    stage = r(flat, "StageName", None, "stage history")
    entered = r(flat, "CreatedDate", parse_instant, "stage history")
    deal = r(flat, "OpportunityId", case_safe_id, "stage history")
    order = r(flat, "Id", case_safe_id, "stage history")
    if not (stage and entered and deal):
        return None
    return {"source": SOURCE, "deal_id": deal, "stage": stage, "entered_at": entered,
            "crm_order": order}


def field_history_rows(flat: Mapping[str, Any], ctx: RowContext) -> list[dict[str, Any]]:
    """``deal_history`` rows (amount, close date) from an OpportunityHistory: each row records
    the Opportunity's Amount and CloseDate as they were after the change, ``crm_order`` its
    ``Id`` (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_opportunityhistory.htm).
    """
    r = ctx.read
    changed = r(flat, "CreatedDate", parse_instant, "stage history")
    deal = r(flat, "OpportunityId", case_safe_id, "stage history")
    order = r(flat, "Id", case_safe_id, "stage history")
    if not (changed and deal and order):
        return []
    base = {"source": SOURCE, "deal_id": deal, "crm_order": order, "changed_at": changed}
    return [
        {**base, "field": "amount",
         "value_amount": r(flat, "Amount", parse_amount, "stage history")},
        {**base, "field": "close_date",
         "value_date": r(flat, "CloseDate", parse_date, "stage history")},
    ]


def lead_row(flat: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    """A ``leads`` row from a Lead (ConvertedDate, a date, as midnight UTC)."""
    r = ctx.read
    return {
        "source": SOURCE,
        "lead_id": ctx.own_id(flat, "lead"),
        "partner_id": r(flat, ctx.lead_partner_field, case_safe_id, "lead"),
        "owner_id": r(flat, "OwnerId", case_safe_id, "lead"),
        "created_at": r(flat, "CreatedDate", parse_instant, "lead"),
        "converted_at": r(flat, "ConvertedDate", parse_instant, "lead"),
        "converted_deal_id": r(flat, "ConvertedOpportunityId", case_safe_id, "lead"),
        "lead_source": r(flat, "LeadSource", None, "lead"),
        "is_deleted": False,
    }


def rate_rows(
    records: list[Mapping[str, Any]], reporting_currency: str, ctx: RowContext
) -> list[dict[str, Any]]:
    """``currency_rates`` rows from every CurrencyType record (undated rates).

    A row says: 1 ``per_currency`` = ``rate`` ``currency``. Salesforce's ConversionRate is
    against the corporate currency, so rows are ``per_currency`` = the corporate code. When the
    reporting currency is another of the org's currencies, rows against it are added too
    (``rate / rate of the reporting currency``, 12 decimals).
    """
    flats = [flatten(rec) for rec in records]
    rates = {}
    corporate = None
    for flat in flats:
        code = ctx.read(flat, "IsoCode", None, "currency")
        rate = ctx.read(flat, "ConversionRate", parse_amount, "currency")
        if code and rate:
            rates[code] = rate
        if parse_bool(flat.get("iscorporate")):
            corporate = code
    if corporate is None:
        return []
    rows = [
        {
            "source": SOURCE,
            "currency": code,
            "per_currency": corporate,
            "rate": rate,
            "start_date": UNDATED,
        }
        for code, rate in rates.items()
    ]
    base = rates.get(reporting_currency)
    if reporting_currency != corporate and base:
        rows += [
            {
                "source": SOURCE,
                "currency": code,
                "per_currency": reporting_currency,
                "rate": (rate / base).quantize(Decimal("1e-12")),
                "start_date": UNDATED,
            }
            for code, rate in rates.items()
        ]
    return rows


def opportunity_partner_row(flat: Mapping[str, Any], ctx: RowContext) -> dict[str, Any] | None:
    """A ``deal_partners`` row from an ``OpportunityPartner`` (origin ``opportunity_partner``),
    or None for a reverse row.

    Salesforce adds a reverse row for every partner row of an opportunity with an account: the
    opportunity's own Account as ``AccountToId`` (the relationship seen from the partner), the
    two rows naming each other in ``ReversePartnerId``. Counted too, every partnered deal would
    have one partner more (the customer). A row whose ``AccountToId`` is the opportunity's
    ``AccountId`` is that reverse row. Object reference:
    https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_opportunitypartner.htm
    """
    r = ctx.read
    link = ctx.own_id(flat, "deal partner")
    deal = r(flat, "OpportunityId", case_safe_id, "deal partner")
    partner = r(flat, "AccountToId", case_safe_id, "deal partner")
    account = r(flat, "Opportunity.AccountId", case_safe_id, "deal partner")
    if not (link and deal and partner) or partner == account:
        return None
    return {
        "source": SOURCE, "link_id": link, "deal_id": deal, "partner_id": partner,
        "role": r(flat, "Role", None, "deal partner"),
        "is_primary": bool(r(flat, "IsPrimary", parse_bool, "deal partner")),
        "share": None, "origin": "opportunity_partner",
        "updated_at": r(flat, "SystemModstamp", parse_instant, "deal partner"),
        "is_deleted": False,
    }


def junction_row(flat: Mapping[str, Any], ctx: RowContext) -> dict[str, Any] | None:
    """A ``deal_partners`` row from a record of the configured junction object (origin
    ``junction``; share as a ratio 0..1), or None without deal or partner."""
    j = ctx.junction
    assert j is not None
    r = ctx.read
    link = ctx.own_id(flat, "deal partner")
    deal = r(flat, j.deal_field, case_safe_id, "deal partner")
    partner = r(flat, j.partner_field, case_safe_id, "deal partner")
    if not (link and deal and partner):
        return None
    share = r(flat, j.share_field, parse_amount, "deal partner") if j.share_field else None
    if share is not None and j.share_scale == "percent":
        share = share / _HUNDRED
    return {
        "source": SOURCE, "link_id": link, "deal_id": deal, "partner_id": partner,
        "role": r(flat, j.role_field, None, "deal partner") if j.role_field else None,
        "is_primary": bool(r(flat, j.primary_field, parse_bool, "deal partner"))
        if j.primary_field else False,
        "share": share, "origin": "junction",
        "updated_at": r(flat, "SystemModstamp", parse_instant, "deal partner"),
        "is_deleted": False,
    }


def partner_change_row(flat: Mapping[str, Any], ctx: RowContext) -> dict[str, Any] | None:
    """A ``partner_changes`` row from an ``OpportunityFieldHistory`` row of the partner field.

    A lookup's change is recorded twice: once with the record ids, once with the names. Only
    the row whose old and new values are ids (or empty) is kept; None for the other.
    """
    r = ctx.read
    deal = r(flat, "OpportunityId", case_safe_id, "partner change")
    at = r(flat, "CreatedDate", parse_instant, "partner change")
    values = []
    for name in ("OldValue", "NewValue"):
        value = flat.get(key(name))
        try:
            values.append(None if value in (None, "") else case_safe_id(value))
        except ValueError:
            return None  # the names row of the pair
    if not (deal and at):
        return None
    return {"source": SOURCE, "deal_id": deal, "changed_at": at,
            "field": r(flat, "Field", None, "partner change"),
            "old_partner_id": values[0], "new_partner_id": values[1]}


def dated_rate_rows(
    records: list[Mapping[str, Any]],
    static: list[dict[str, Any]],
    reporting_currency: str,
    ctx: RowContext,
) -> list[dict[str, Any]]:
    """``currency_rates`` rows from DatedConversionRate records (advanced currency management).

    Each record is in force from ``StartDate`` until ``NextStartDate`` (exclusive; None: open),
    against the corporate currency (``1 corporate = ConversionRate IsoCode``,
    https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_datedconversionrate.htm).
    When the reporting currency is another org currency, cross rates against it are added for
    every interval where both rates hold (``rate / rate of the reporting currency``, 12
    decimals); before a currency's first dated rate its static CurrencyType rate holds.

    Args:
        records: DatedConversionRate records (Id, IsoCode, ConversionRate, StartDate,
            NextStartDate).
        static: the undated rows of :func:`rate_rows` (their ``per_currency`` is the corporate
            currency for the first rows).
        reporting_currency: the KPI currency.
        ctx: the row context (bad values become warnings or rejects).

    Returns:
        Dated rows (``start_date``, ``end_date`` set); none when ``static`` is empty (no
        corporate currency known).
    """
    if not static:
        return []
    corporate = static[0]["per_currency"]
    spans: dict[str, list[tuple[date, date | None, Decimal]]] = {}
    for rec in records:
        flat = flatten(rec)
        code = ctx.read(flat, "IsoCode", None, "currency")
        rate = ctx.read(flat, "ConversionRate", parse_amount, "currency")
        start = ctx.read(flat, "StartDate", parse_date, "currency")
        end = ctx.read(flat, "NextStartDate", parse_date, "currency")
        if code and rate and start:
            spans.setdefault(code, []).append((start, end, rate))
    rows = [
        {"source": SOURCE, "currency": code, "per_currency": corporate, "rate": rate,
         "start_date": start, "end_date": end}
        for code, items in spans.items() for start, end, rate in items
    ]
    if reporting_currency == corporate or reporting_currency not in spans:
        return rows
    static_rate = {r["currency"]: r["rate"] for r in static if r["per_currency"] == corporate}

    def rate_on(code: str, day: date) -> Decimal | None:
        found = static_rate.get(code)
        for start, end, rate in sorted(spans.get(code, [])):
            if start <= day and (end is None or day < end):
                found = rate
        return found

    base_starts = {start for start, _, _ in spans[reporting_currency]}
    for code in spans.keys() | static_rate.keys():
        starts = sorted(base_starts | {start for start, _, _ in spans.get(code, [])})
        for n, start in enumerate(starts):
            rate, base = rate_on(code, start), rate_on(reporting_currency, start)
            if rate and base:
                rows.append({
                    "source": SOURCE, "currency": code, "per_currency": reporting_currency,
                    "rate": (rate / base).quantize(Decimal("1e-12")), "start_date": start,
                    "end_date": starts[n + 1] if n + 1 < len(starts) else None,
                })
    return rows
