"""Case C-19: one calendar. HubSpot close dates and create dates bucketed in one reporting time
zone, the portal's by default (read by the sync from ``GET /account-info/v3/details``), or the
one configured; real HTTP against the sandbox, two runs, then a compute.

The case's input (../shared/cases/crm-sync-cases.md, C-19): portal ``America/New_York``, six won
deals of 1,000 USD of one partner, create and close instants around midnights across DST.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from crm_sandbox.world import Deal, Owner, Partner, Stage, World
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.hubspot import rows, sync

pytestmark = pytest.mark.slow

NOW = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
#: deal -> (createdate, closedate), the case's instants
CASE = {
    "9501": ("2023-12-01T15:00:00.000Z", "2024-01-01T04:30:00.000Z"),
    "9502": ("2024-03-01T15:00:00.000Z", "2024-03-10T04:30:00.000Z"),
    "9503": ("2024-06-03T15:00:00.000Z", "2024-07-01T04:30:00.000Z"),
    "9504": ("2024-09-02T15:00:00.000Z", "2024-10-01T03:59:59.000Z"),
    "9505": ("2024-07-10T01:00:00.000Z", "2024-07-10T03:00:00.000Z"),
    "9506": ("2024-07-01T02:00:00.000Z", "2024-07-15T16:00:00.000Z"),
}
Q4_23, Q1, Q2, Q3, Q4 = (date(2023, 10, 1), date(2024, 1, 1), date(2024, 4, 1),
                         date(2024, 7, 1), date(2024, 10, 1))


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def case_world() -> World:
    """Partner 555, six won deals entering Prospecting when created and Won when closed."""
    deals = [
        Deal(key=key, name=f"Deal {key}", partner_key="555", owner_key="O1", account_name=None,
             stage_key="Won", amount=Decimal(1000), currency="USD",
             created_at=instant(created), close_date=instant(closed).date(), lead_source=None,
             modified_at=datetime(2024, 10, 15, tzinfo=UTC),
             stage_history=[("Prospecting", instant(created)), ("Won", instant(closed))])
        for key, (created, closed) in CASE.items()
    ]
    return World(
        partners=[Partner("555", "Partner 555")],
        owners=[Owner("O1", "Rep One", "rep.one@example.com", "East", None)],
        stages=[Stage("Prospecting", "Prospecting", Decimal("0.2"), False, False, 1),
                Stage("Won", "Closed Won", Decimal(1), True, True, 2)],
        deals=deals, leads=[], corporate_currency="USD",
        currency_rates={"USD": Decimal(1)},
    )


@pytest.fixture
def synced() -> Iterator[tuple[Store, Sandbox]]:
    """The case's portal synced twice (first sync, then an incremental run)."""
    with Sandbox(case_world(), clock=Clock(NOW)) as sb, Store(":memory:") as store:
        hs = sb.hubspot
        hs.time_zone = "America/New_York"
        for key, (created, closed) in CASE.items():
            props = hs.record("deals", hs.deal_id(key)).props
            props["createdate"], props["closedate"] = created, closed
        assert sync(store, sb).status == "ok"
        sb.clock.advance(3600)
        assert sync(store, sb).status == "ok"
        yield store, sb


def overall(store: Store, zone: str | None, kpi: str) -> dict[date, tuple[Decimal, int]]:
    """period start -> (value, n) of the overall quarter rows of ``kpi``."""
    compute(store, KpiSettings(reporting_currency="USD", reporting_timezone=zone), ["quarter"],
            today=date(2024, 12, 1))
    return {p: (v, n) for p, v, n in rows(
        store, "SELECT period_start, value, n FROM kpi_values WHERE grain = 'quarter' AND "
        "dimension = 'overall' AND kpi = ? ORDER BY period_start", kpi)}


def values(found: dict[date, tuple[Decimal, int]]) -> dict[date, Decimal]:
    return {p: v for p, (v, _) in found.items()}


def test_c19_close_dates_stored_in_the_portal_zone_across_dst(synced) -> None:
    store, sb = synced
    got = dict(rows(store, "SELECT deal_id, close_date FROM deals"))
    ids = {sb.hubspot.deal_id(k): k for k in CASE}
    assert {ids[d]: v for d, v in got.items()} == {
        "9501": date(2023, 12, 31), "9502": date(2024, 3, 9), "9503": date(2024, 7, 1),
        "9504": date(2024, 9, 30), "9505": date(2024, 7, 9), "9506": date(2024, 7, 15)}
    assert rows(store, "SELECT source, time_zone FROM source_calendar") == [
        ("hubspot", "America/New_York")]


@pytest.mark.parametrize("zone", [None, "America/New_York"], ids=["portal_default", "named"])
def test_c19_one_calendar_in_the_portal_zone(synced, zone) -> None:
    store, _ = synced
    won = overall(store, zone, "deals_won")
    created = overall(store, zone, "deals_created")
    cycle = overall(store, zone, "sales_cycle_days")
    open_count = overall(store, zone, "pipeline_open_count")
    assert values(won) == {Q4_23: 1, Q1: 1, Q2: 0, Q3: 4}
    assert values(created) == {Q4_23: 1, Q1: 1, Q2: 2, Q3: 2}  # Q2: 9503, 9506; Q3: 9504, 9505
    # (28 + 28 + 0 + 15) / 4, no deal skipped
    assert cycle[Q3] == (Decimal("17.75"), 4)
    # at the end of Q2 (New York midnight, 04:00Z) 9503 and 9506 are open (stage entered in zone)
    assert open_count[Q2] == (2, 2)


def test_c19_a_configured_zone_moves_both_dates(synced) -> None:
    """Reporting in UTC: close and create dates both follow UTC (never one of each)."""
    store, _ = synced
    won = overall(store, "UTC", "deals_won")
    created = overall(store, "UTC", "deals_created")
    cycle = overall(store, "UTC", "sales_cycle_days")
    open_count = overall(store, "UTC", "pipeline_open_count")
    assert values(won) == {Q4_23: 0, Q1: 2, Q2: 0, Q3: 3, Q4: 1}  # 9501 Jan 1, 9504 Oct 1
    assert values(created) == {Q4_23: 1, Q1: 1, Q2: 1, Q3: 3, Q4: 0}
    # 9503 28, 9505 0, 9506 14 (created 07-01 UTC): 42 / 3
    assert cycle[Q3] == (Decimal(14), 3)
    assert open_count[Q2] == (1, 1)  # 9506 is created after 00:00Z
