"""Salesforce Collaborative Forecasts quotas as targets: ``ForecastingQuota`` rows of the
forecast ``Period`` each names, into rows of the canonical ``targets`` table.

A quota is one user's (``QuotaOwnerId``: the deal owner's id, dimension ``owner``) target for
one forecast period (``PeriodId`` -> ``Period.StartDate`` / ``EndDate`` / ``Type`` Month,
Quarter or Year). A revenue quota (``IsAmount``, ``QuotaAmount``) is a ``won_amount`` target in
its ``CurrencyIsoCode`` (multi-currency orgs) or the org's currency (compute refuses one that is
not the reporting currency); a quantity quota (``IsQuantity``: product units, not deals) has
no KPI and is counted in a note. The object exists only where Collaborative Forecasts is
enabled: an org without it answers the describe with 404 and the stream ends with a one-line
note.

Object reference: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
object_reference/sforce_api_objects_forecastingquota.htm (Period: sforce_api_objects_period.htm)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from simple_salesforce import format_soql

from connectors.salesforce.ids import case_safe_id
from connectors.values import parse_instant

#: Period.Type -> our grain.
GRAINS = {"month": "month", "quarter": "quarter", "year": "year"}

FORECASTING_OFF = ("salesforce targets: the org shows no ForecastingQuota (Collaborative "
                   "Forecasts off, or the user lacks View All Forecasts): no quotas read")


def periods_soql(ids: Iterable[str]) -> str:
    """The SOQL reading the forecast periods of the quotas."""
    return format_soql("SELECT Id, StartDate, EndDate, Type FROM Period WHERE Id IN {}",
                       sorted(set(ids)))


def quota_rows(
    quotas: Iterable[Mapping[str, Any]], periods: Mapping[str, Mapping[str, Any]], currency: str,
) -> tuple[list[dict[str, Any]], list[str]]:
    """``targets`` rows from ``ForecastingQuota`` records and their ``Period`` records (by Id).

    Args:
        quotas: the quota records as the API returns them.
        periods: Period records by Id.
        currency: the currency of quotas without ``CurrencyIsoCode`` (a single-currency org's:
            ``currency`` or the reporting one).

    Returns:
        (rows, notes): quotas without an amount, of quantity, or of a period that is not a
        month, quarter or year are left out and counted in a note.
    """
    rows: list[dict[str, Any]] = []
    skipped = {"quantity": 0, "period": 0, "amount": 0}
    for q in quotas:
        period = periods.get(str(q.get("PeriodId")))
        grain = GRAINS.get(str((period or {}).get("Type") or "").lower())
        if q.get("IsQuantity") and not q.get("IsAmount"):
            skipped["quantity"] += 1
            continue
        if period is None or grain is None:
            skipped["period"] += 1
            continue
        owner = case_safe_id(q.get("QuotaOwnerId"))
        if q.get("QuotaAmount") is None or owner is None:
            skipped["amount"] += 1
            continue
        start = date.fromisoformat(str(period["StartDate"]))
        end = date.fromisoformat(str(period["EndDate"])) + timedelta(days=1)
        rows.append({
            "source": "salesforce", "target_id": str(q["Id"]), "dimension": "owner",
            "member": owner, "kpi": "won_amount", "grain": grain,
            "period_start": start, "period_end": end,
            "target": Decimal(str(q["QuotaAmount"])),
            "currency": str(q.get("CurrencyIsoCode") or currency), "name": None,
            "updated_at": parse_instant(q.get("SystemModstamp")), "is_deleted": False,
        })
    notes = []
    if skipped["quantity"]:
        notes.append(f"salesforce targets: {skipped['quantity']} quantity quota(s) left out "
                     "(product units are no partnerkpi KPI)")
    if skipped["period"]:
        notes.append(f"salesforce targets: {skipped['period']} quota(s) of a period that is not "
                     "a month, quarter or year left out")
    if skipped["amount"]:
        notes.append(f"salesforce targets: {skipped['amount']} quota(s) without QuotaAmount or "
                     "QuotaOwnerId left out")
    return rows, notes
