"""Dated exchange rates (advanced currency management): amounts convert at the
DatedConversionRate in force on the close date, and the store says which rule a source follows.

World: corporate USD; CAD's static CurrencyType rate 1.25; dated CAD rates 1.30 from 2024-01-01
and 1.40 from 2024-05-21. Three won CAD deals of 100,000 of partner P1: closed 2023-12-15
(before any dated rate: the static 1.25), 2024-05-20 (1.30) and 2024-05-22 (1.40).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from crm_sandbox.world import Deal, Partner, Stage, World
from kpi_engine.completeness import notes_and_counts
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.salesforce import Sleeps, kpi, sandbox_settings, sync

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]

NOW = datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
CENT6 = Decimal("0.000001")


def world(dated: bool) -> World:
    won = Stage("Closed Won", "Closed Won", Decimal(1), True, True, 1)
    closes = [date(2023, 12, 15), date(2024, 5, 20), date(2024, 5, 22)]
    deals = [
        Deal(f"D{n}", f"CAD deal {n}", "P1", None, "Maple Inc", "Closed Won",
             Decimal("100000"), "CAD", datetime(2023, 11, 1, tzinfo=UTC), close, None,
             datetime(2024, 6, 1, tzinfo=UTC))
        for n, close in enumerate(closes, 1)
    ]  # fmt: skip
    rates = [("CAD", date(2024, 1, 1), Decimal("1.30")),
             ("CAD", date(2024, 5, 21), Decimal("1.40"))]
    return World([Partner("P1", "Partner One")], [], [won], deals, [], "USD",
                 {"USD": Decimal(1), "CAD": Decimal("1.25")}, dated_rates=rates if dated else [])


def run(dated: bool, sleeps: Sleeps) -> tuple[Store, str]:
    with Sandbox(world(dated), clock=Clock(NOW)).start() as sb:
        store = Store(":memory:")
        settings = sandbox_settings(sb, streams=["currency_rates", "stages", "partners", "deals"])
        sync(store, settings, sleeps, now=NOW)
        compute(store, KpiSettings(reporting_currency="USD"), ["quarter"], today=date(2024, 7, 1))
        return store, sb.salesforce.id_for("Account", "P1")


def usd(amount: str, rate: str) -> Decimal:
    """The amount in USD to the store's 6 decimals, computed apart from the KPI SQL."""
    return (Decimal(amount) / Decimal(rate)).quantize(CENT6, rounding=ROUND_HALF_UP)


def test_dated_rates_convert_at_the_rate_in_force_on_the_close_date(sleeps: Sleeps) -> None:
    store, p1 = run(True, sleeps)
    assert store.con.execute(
        "SELECT rate, start_date, end_date FROM currency_rates WHERE currency = 'CAD' "
        "ORDER BY start_date"
    ).fetchall() == [
        (Decimal("1.250000000000"), date(1, 1, 1), None),
        (Decimal("1.300000000000"), date(2024, 1, 1), date(2024, 5, 21)),
        (Decimal("1.400000000000"), date(2024, 5, 21), None),
    ]
    q2 = usd("100000", "1.30") + usd("100000", "1.40")
    assert q2 == Decimal("148351.648352")
    assert kpi(store, "partner", p1, "won_amount", "2024-04-01") == q2
    assert kpi(store, "partner", p1, "won_amount", "2023-10-01") == Decimal("80000")
    notes, _ = notes_and_counts(store)
    assert [(n["topic"], n["note"]) for n in notes if n["topic"] == "currency_rule"] == [(
        "currency_rule",
        "salesforce: amounts convert at the DatedConversionRate in force on each deal's close "
        "date (advanced currency management, 2 dated rates; CurrencyType's rate before a "
        "currency's first dated rate)",
    )]


def test_static_rates_without_dated_conversion_rate(sleeps: Sleeps) -> None:
    store, p1 = run(False, sleeps)
    assert kpi(store, "partner", p1, "won_amount", "2024-04-01") == Decimal("160000")
    notes, _ = notes_and_counts(store)
    assert [n["note"] for n in notes if n["topic"] == "currency_rule"] == [
        "salesforce: amounts convert at the org's CurrencyType rates (static: the org has no "
        "DatedConversionRate)"
    ]
