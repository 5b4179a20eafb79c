"""HubSpot JSON -> canonical rows (pure functions, no HTTP).

HubSpot sends every property as a string (https://developers.hubspot.com/docs/api-reference/crm-properties-v3/guide):
amounts become exact ``Decimal`` (``""``/null -> NULL, never 0: C-04; unreadable text, an
impossible date or an unknown stage id rejects the deal or stops the run, per ``on_bad_record``:
:mod:`connectors.bad_records`), instants in ISO ``Z`` or epoch milliseconds become UTC (C-03), and
``closedate`` becomes a DATE as described in :func:`close_date`. Stages are keyed by
``(pipeline id, stage id)`` and won/lost come from the stage metadata, never the label (C-12).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connectors.bad_records import BadRecords
from connectors.hubspot.settings import HubSpotSettings
from connectors.values import parse_amount, parse_bool, parse_instant

SOURCE = "hubspot"
ONE = Decimal(1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StageInfo:
    """What a deal takes from its stage."""

    is_closed: bool
    is_won: bool


@dataclass
class Context:
    """What converting a deal needs to know about the portal and this run.

    Attributes:
        stages: ``(pipeline id, stage id)`` -> closed / won.
        portal_zone: the portal's time zone (account details ``timeZone``).
        home_currency: the portal's company currency.
        reporting_currency: the config's reporting currency.
        partner_property: deal property holding the partner company id, or None.
        owners: owner ids known (active and archived), for the unknown-owner report (C-13).
        midnight_utc_is_date: see :func:`close_date`.
    """

    stages: dict[tuple[str, str], StageInfo] = field(default_factory=dict)
    portal_zone: ZoneInfo | None = None
    home_currency: str | None = None
    reporting_currency: str = "USD"
    partner_property: str | None = None
    owners: set[str] = field(default_factory=set)
    midnight_utc_is_date: bool = True


def stage_rows(pipelines: Mapping[str, Any], won: Iterable[str] = (),
               lost: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Rows of ``stages`` from ``GET /crm/v3/pipelines/deals``.

    A stage is closed when ``metadata.isClosed`` is true; won when closed with probability 1.0,
    lost when closed with probability 0.0 -- or when ``won`` / ``lost`` name it (``stage`` or
    ``pipeline:stage``). Labels are kept for display only.

    Args:
        pipelines: the response body (``{"results": [pipeline, ...]}``).
        won: stage ids forced won.
        lost: stage ids forced lost.

    Returns:
        One row per (pipeline, stage); probability as a ratio 0..1 (None when absent).
    """
    won_set, lost_set = set(won), set(lost)
    rows = []
    for pipeline in pipelines.get("results") or []:
        pid = str(pipeline["id"])
        for order, stage in enumerate(pipeline.get("stages") or []):
            sid = str(stage["id"])
            meta = stage.get("metadata") or {}
            probability = parse_amount(meta.get("probability"))
            closed = bool(parse_bool(meta.get("isClosed")))
            keys = {sid, f"{pid}:{sid}"}
            if keys & won_set:
                closed, is_won = True, True
            elif keys & lost_set:
                closed, is_won = True, False
            else:
                is_won = closed and probability == ONE
            rows.append({
                "source": SOURCE, "pipeline": pid, "stage": sid, "label": stage.get("label"),
                "probability": probability, "is_closed": closed, "is_won": is_won,
                "display_order": stage.get("displayOrder", order),
            })
    return rows


def stage_map(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], StageInfo]:
    """``(pipeline, stage)`` -> :class:`StageInfo` from :func:`stage_rows`' rows."""
    return {(r["pipeline"], r["stage"]): StageInfo(r["is_closed"], r["is_won"]) for r in rows}


def owner_row(owner: Mapping[str, Any], team_units: Mapping[str, str],
              default_unit: str | None) -> dict[str, Any]:
    """A row of ``owners`` from one ``GET /crm/v3/owners`` result.

    Archived owners (``archived=true`` listing) come with blank names and ``userId`` null
    (C-13): they are kept, inactive, named by e-mail when the names are blank. Team = the
    owner's primary team (else the first); unit = ``team_units[team]`` else ``default_unit``.
    """
    name = " ".join(p for p in (owner.get("firstName"), owner.get("lastName")) if p).strip()
    teams = owner.get("teams") or []
    primary = next((t for t in teams if t.get("primary")), teams[0] if teams else None)
    team = primary.get("name") if primary else None
    return {
        "source": SOURCE, "owner_id": str(owner["id"]),
        "name": name or owner.get("email") or None,
        "team": team, "unit": team_units.get(team, default_unit) if team else default_unit,
        "is_active": not owner.get("archived", False),
    }


def partner_row(company: Mapping[str, Any], name_property: str,
                tier_property: str | None) -> dict[str, Any]:
    """A row of ``partners`` from one company object (search or batch read result)."""
    props = company.get("properties") or {}
    return {
        "source": SOURCE, "partner_id": str(company["id"]),
        "name": props.get(name_property) or None,
        "partner_type": props.get("type") or None,
        "tier": (props.get(tier_property) or None) if tier_property else None,
        "updated_at": parse_instant(props.get("hs_lastmodifieddate") or company.get("updatedAt")),
        "is_deleted": bool(company.get("archived", False)),
    }


def close_date(value: object, zone: ZoneInfo | None,
               midnight_utc_is_date: bool = True) -> date | None:
    """The calendar date a HubSpot ``closedate`` means.

    ``closedate`` is a datetime property: HubSpot stores an instant (UTC) and shows it in the
    portal's time zone (https://developers.hubspot.com/docs/faq/how-should-timestamps-be-formatted-for-hubspots-apis).
    So the date is the instant's calendar date in the portal's time zone -- except an instant at
    exactly 00:00:00.000 UTC, which is how a date-only value is written (date properties,
    imports, API writes of ``YYYY-MM-DD``): that is taken as its UTC date when
    ``midnight_utc_is_date``.

    Args:
        value: ISO text, epoch milliseconds, or None/``""``.
        zone: the portal's time zone (None: UTC).
        midnight_utc_is_date: see above.

    Returns:
        The date, or None when empty.

    Raises:
        ValueError: unreadable value.
    """
    instant = parse_instant(value)
    if instant is None:
        return None
    if (midnight_utc_is_date and instant.time() == time(0)) or zone is None:
        return instant.date()
    return instant.astimezone(zone).date()


def close_instant(value: object, midnight_utc_is_date: bool = True) -> datetime | None:
    """The close as an instant (UTC) for the engine to date in the reporting time zone
    (``deals.closed_at``), or None when ``closedate`` is empty or a date-only value (exactly
    00:00 UTC, see :func:`close_date`): ``close_date`` then holds the date as is.

    Raises:
        ValueError: unreadable value.
    """
    instant = parse_instant(value)
    if instant is None or (midnight_utc_is_date and instant.time() == time(0)):
        return None
    return instant


def calendar_row(zone: ZoneInfo | None) -> dict[str, Any]:
    """The ``source_calendar`` row: the portal's time zone (the default reporting zone)."""
    return {"source": SOURCE, "time_zone": zone.key if zone else "UTC"}


def deal_row(deal: Mapping[str, Any], ctx: Context, partner_id: str | None,
             warnings: list[str], bad: BadRecords | None = None) -> dict[str, Any] | None:
    """A row of ``deals`` from one search / batch-read result.

    Args:
        deal: ``{"id", "properties": {...}, "archived", ...}``.
        ctx: portal facts and this run's stage map.
        partner_id: the partner company id (from the partner property or the association).
        warnings: one-line notes are appended here (unknown owner, won without close date).
        bad: where an unreadable value or an unknown stage id is rejected (default: a
            throwaway ``reject`` collector).

    Returns:
        The canonical row; ``amount`` in ``currency``, ``amount_reporting`` in the reporting
        currency when HubSpot gives it (``amount_in_home_currency`` with home = reporting).
        None when the deal is rejected.

    Raises:
        RecordError: a bad value under ``on_bad_record: stop``.
    """
    did = str(deal["id"])
    p = deal.get("properties") or {}
    bad = bad if bad is not None else BadRecords()
    before = len(bad.rejects)

    def value(name: str, parse: Any) -> Any:
        raw = p.get(name)
        try:
            return parse(raw)
        except ValueError as exc:
            bad.add("deal", did, name, raw, str(exc))
            return None

    pipeline = p.get("pipeline") or "default"
    stage = p.get("dealstage") or None
    info = ctx.stages.get((pipeline, stage or ""))
    if info is None:
        bad.add("deal", did, "dealstage", stage, f"is not a stage of pipeline {pipeline!r}",
                nullable=False)
        info = StageInfo(False, False)
    currency = p.get("deal_currency_code") or ctx.home_currency or ctx.reporting_currency
    amount = value("amount", parse_amount)
    reporting = None
    if amount is not None and ctx.home_currency == ctx.reporting_currency:
        reporting = value("amount_in_home_currency", parse_amount)
    closed_on = value("closedate",
                      lambda v: close_date(v, ctx.portal_zone, ctx.midnight_utc_is_date))
    if info.is_won and closed_on is None:
        warnings.append(f"deal {did}: won but has no close date; left out of period KPIs")
    owner = p.get("hubspot_owner_id") or None
    if owner is not None and ctx.owners and owner not in ctx.owners:
        warnings.append(f"deal {did}: owner {owner} is unknown even among archived owners; "
                        "grouped under that id")
    row = {
        "source": SOURCE, "deal_id": did, "name": p.get("dealname") or None,
        "partner_id": partner_id, "owner_id": owner, "account_name": None,
        "pipeline": pipeline, "stage": stage,
        "is_closed": info.is_closed, "is_won": info.is_won,
        "amount": amount, "currency": currency, "amount_reporting": reporting,
        "created_at": value("createdate", parse_instant),
        "close_date": closed_on,
        "closed_at": (close_instant(p.get("closedate"), ctx.midnight_utc_is_date)
                      if closed_on is not None else None),
        "lead_source": p.get("hs_analytics_source") or None,
        "updated_at": value("hs_lastmodifieddate", parse_instant),
        "is_deleted": False,
    }
    return None if bad.skips(before) else row


#: The deal properties read with their history: the stage, and what the pipeline waterfall
#: needs (``deal_history``, migration 011).
HISTORY_PROPERTIES = ["dealstage", "amount", "closedate", "pipeline"]


def _versions(deal: Mapping[str, Any], name: str) -> list[tuple[str, datetime, str | None]]:
    """(crm_order, timestamp, value) of a property's versions, in HubSpot's order (newest
    first); ``crm_order`` is the position counted from the oldest, 10 zero-padded digits."""
    versions = (deal.get("propertiesWithHistory") or {}).get(name) or []
    out = []
    for position, entry in enumerate(versions):
        stamp = parse_instant(entry.get("timestamp"))
        if stamp is not None:
            out.append((f"{len(versions) - 1 - position:010d}", stamp, entry.get("value") or None))
    return out


def history_rows(deal: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of ``stage_history`` from a batch-read result with ``propertiesWithHistory``.

    HubSpot lists the versions newest first, and two can share a millisecond (a workflow acting on
    create; case C-15): ``crm_order`` keeps the list's order as the position counted from the
    oldest, 10 zero-padded digits (greater = later; migration 007). The whole history comes with
    every read of the deal, so every row's key is rewritten together.

    Stage ids belong to a pipeline, and a deal moved to another pipeline keeps the versions of
    its old stages: each row's ``pipeline`` is the deal's pipeline when the stage was entered,
    the latest ``pipeline`` version at or before it (of versions at one instant, the later in
    HubSpot's order; a stage and a pipeline set together share one). Without pipeline history,
    None (the deal's current pipeline).
    """
    did = str(deal["id"])
    pipelines = _versions(deal, "pipeline")
    rows = []
    for order, entered, stage in _versions(deal, "dealstage"):
        if not stage:
            continue
        before = [p for p in pipelines if p[1] <= entered]
        # the latest version at or before the stage's, else (none yet) the oldest
        held = max(before, key=lambda p: (p[1], p[0])) if before else (
            min(pipelines, key=lambda p: (p[1], p[0])) if pipelines else None)
        rows.append({"source": SOURCE, "deal_id": did, "stage": stage, "entered_at": entered,
                     "crm_order": order, "pipeline": held[2] if held else None})
    return rows


def deal_history_rows(deal: Mapping[str, Any], ctx: Context,
                      warnings: list[str]) -> list[dict[str, Any]]:
    """Rows of ``deal_history`` (amount, close date and pipeline versions) from a read with
    ``propertiesWithHistory``; ``crm_order`` as in :func:`history_rows`. A close date version is
    read as ``closedate`` is (:func:`close_date`); an unreadable version is left out, with a
    warning naming it."""
    did = str(deal["id"])
    rows = []
    for column, name in (("amount", "amount"), ("close_date", "closedate"),
                         ("pipeline", "pipeline")):
        for order, stamp, raw in _versions(deal, name):
            row: dict[str, Any] = {"source": SOURCE, "deal_id": did, "field": column,
                                   "crm_order": order, "changed_at": stamp}
            try:
                if column == "amount":
                    row["value_amount"] = parse_amount(raw)
                elif column == "close_date":
                    row["value_date"] = close_date(raw, ctx.portal_zone, ctx.midnight_utc_is_date)
                else:
                    row["value_text"] = raw
            except ValueError as exc:
                warnings.append(f"deal {did}: {name} version of {stamp.isoformat()} {raw!r} left "
                                f"out of its history ({exc})")
                continue
            rows.append(row)
    return rows


def partner_from_associations(result: Mapping[str, Any], label: str) -> str | None:
    """The company id a v4 association result links under ``label`` (lowest id if several)."""
    ids = [
        int(to["toObjectId"]) for to in result.get("to") or []
        if any((t.get("label") or "") == label for t in to.get("associationTypes") or [])
    ]
    return str(min(ids)) if ids else None


def deal_partners_from_associations(result: Mapping[str, Any],
                                    settings: HubSpotSettings) -> list[dict[str, Any]]:
    """The ``deal_partners`` rows of one v4 association result (one deal -> its companies):
    one row per company and user-defined label, every label (origin ``association``, role = the
    label, link_id ``<deal>/<company>/<typeId>``). Which labels count:
    ``partners.link_labels`` (None: all); the ``association_label`` is the deal's partner field
    (``deals.partner_id``) unless ``partner_property`` is set. HubSpot-defined types (the
    Primary company, unlabelled) never count: they are the customer.

    Shape: https://developers.hubspot.com/docs/api-reference/crm-associations-v4/batch/post-crm-v4-associations-fromObjectType-toObjectType-batch-read
    """
    rule = settings.partners
    wanted = None if rule.link_labels is None else set(rule.link_labels)
    field_label = rule.association_label if settings.partner_property is None else None
    deal = str(result["from"]["id"])
    rows = []
    for to in result.get("to") or []:
        company = str(to["toObjectId"])
        for kind in to.get("associationTypes") or []:
            label = kind.get("label")
            if kind.get("category") != "USER_DEFINED" or not label or label == field_label:
                continue
            if wanted is not None and label not in wanted:
                continue
            rows.append({"source": SOURCE, "link_id": f"{deal}/{company}/{kind.get('typeId')}",
                         "deal_id": deal, "partner_id": company, "role": label,
                         "is_primary": False, "share": None, "origin": "association",
                         "is_deleted": False})
    return rows


def partner_change_rows(deal: Mapping[str, Any], prop: str) -> list[dict[str, Any]]:
    """``partner_changes`` rows from a deal's ``propertiesWithHistory[prop]`` (newest first):
    one per version after the first, with the value before and after."""
    versions = list(reversed((deal.get("propertiesWithHistory") or {}).get(prop) or []))
    rows = []
    for before, after in itertools.pairwise(versions):
        at = parse_instant(after.get("timestamp"))
        if at is None or (before.get("value") or None) == (after.get("value") or None):
            continue
        rows.append({"source": SOURCE, "deal_id": str(deal["id"]), "changed_at": at,
                     "field": prop, "old_partner_id": before.get("value") or None,
                     "new_partner_id": after.get("value") or None})
    return rows


def rate_rows(rates: Mapping[str, Decimal], reporting_currency: str) -> list[dict[str, Any]]:
    """Undated ``currency_rates`` rows from the configured rates (units per reporting unit)."""
    return [{"source": SOURCE, "currency": code, "per_currency": reporting_currency,
             "rate": rate, "start_date": date(1, 1, 1)} for code, rate in rates.items()]


def epoch_ms(instant: datetime) -> str:
    """An aware datetime as HubSpot filter text: epoch milliseconds (exact, no float)."""
    return str((instant - EPOCH) // timedelta(milliseconds=1))
