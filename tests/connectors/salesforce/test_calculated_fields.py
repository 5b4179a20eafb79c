"""Calculated fields (case C-14): a formula partner field changes without SystemModstamp.

``Opportunity.Account_Partner__c = CASESAFEID(Account.Partner_Account__c)`` in the sandbox: the
sandbox recomputes it on every child Opportunity when the customer Account's partner changes,
without moving the Opportunities' stamps, as Salesforce does. The case's expected values: after
run 2, 006...051 belongs to P2; Q2-2024 won amount P2 = 40,000 (2 deals), P1 = 0.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from crm_sandbox.world import Deal, Partner, Stage, World
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.salesforce import Sleeps, kpi, sandbox_settings, sync

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]

RUN1 = datetime(2024, 7, 2, 10, 0, tzinfo=UTC)
EVENT = datetime(2024, 7, 2, 12, 0, tzinfo=UTC)
RUN2 = datetime(2024, 7, 3, 10, 0, tzinfo=UTC)
Q2 = "2024-04-01"
NOTE = ("Opportunity.Account_Partner__c (formula CASESAFEID(Account.Partner_Account__c)) can "
        "change without the record's SystemModstamp")


def c14_world() -> World:
    """The case's two won deals of customers C01 and C02 (no partner of their own)."""
    won = Stage("Closed Won", "Closed Won", Decimal(1), True, True, 1)
    deals = [
        Deal("051", "Deal 51", None, None, "C01", "Closed Won", Decimal("30000.0"), "USD",
             datetime(2024, 5, 1, tzinfo=UTC), date(2024, 5, 10), None,
             datetime(2024, 5, 12, 9, 0, tzinfo=UTC)),
        Deal("052", "Deal 52", None, None, "C02", "Closed Won", Decimal("10000.0"), "USD",
             datetime(2024, 6, 1, tzinfo=UTC), date(2024, 6, 10), None,
             datetime(2024, 7, 2, 7, 0, tzinfo=UTC)),
    ]  # fmt: skip
    return World([Partner("P1", "Partner One"), Partner("P2", "Partner Two")], [], [won], deals)


def run_case(hours: float, sleeps: Sleeps) -> tuple[Store, Sandbox, list[list[str]]]:
    """Run 1, the partner move on Account C01, run 2; returns the store, the sandbox and each
    run's warnings."""
    sb = Sandbox(c14_world(), clock=Clock(RUN1)).start()
    sf = sb.salesforce
    p1, p2 = sf.id_for("Account", "P1"), sf.id_for("Account", "P2")
    sf.update("Account", sf.id_for("Account", "customer:C01"), {"Partner_Account__c": p1})
    sf.update("Account", sf.id_for("Account", "customer:C02"), {"Partner_Account__c": p2})
    settings = sandbox_settings(sb, partner_field="Account_Partner__c",
                                streams=["stages", "partners", "deals"],
                                calculated_refresh_hours=hours)
    store = Store(":memory:")
    warnings = []
    first, _ = sync(store, settings, sleeps, now=RUN1)
    warnings.append([w for c in first.streams.values() for w in c.warnings])
    sb.clock.freeze(EVENT)
    sf.update("Account", sf.id_for("Account", "customer:C01"), {"Partner_Account__c": p2})
    sb.clock.freeze(RUN2)
    sb.calls.clear()
    second, _ = sync(store, settings, sleeps, now=RUN2)
    warnings.append([w for c in second.streams.values() for w in c.warnings])
    compute(store, KpiSettings(reporting_currency="USD"), ["quarter"], today=date(2024, 7, 3))
    return store, sb, warnings


def test_calculated_partner_field_refreshed_on_schedule_c14(sleeps: Sleeps) -> None:
    store, sb, warnings = run_case(24, sleeps)
    with sb:
        sf = sb.salesforce
        p1, p2 = sf.id_for("Account", "P1"), sf.id_for("Account", "P2")
        deal51 = sf.id_for("Opportunity", "051")
        assert store.con.execute(
            "SELECT partner_id FROM deals WHERE deal_id = ?", [deal51]
        ).fetchall() == [(p2,)]
        assert kpi(store, "partner", p2, "won_amount", Q2) == Decimal("40000")
        assert kpi(store, "partner", p2, "deals_won", Q2) == Decimal(2)
        # P1 has no deal left: no row, which the KPI's default reads as 0
        assert kpi(store, "partner", p1, "won_amount", Q2) is None
        # named once, on the run that first saw it
        assert [w for w in warnings[0] if "can change without" in w] == [
            "salesforce: Opportunity.Account.Name (read through a relationship), "
            f"{NOTE}; the streams deals are re-read whole every 24 h "
            "(sources.salesforce.calculated_refresh_hours)"
        ]
        assert not [w for w in warnings[1] if "can change without" in w]
        # the refresh of run 2: the deals query without the watermark, once
        whole = [p for _, p in sb.calls if p.endswith("/queryAll/")]
        # stages, partners, the Accounts no longer partners, deals, then the refresh of deals
        assert len(whole) == 3 + 1 + 1
        assert store.con.execute(
            "SELECT topic FROM source_notes WHERE source = 'salesforce'"
        ).fetchall() == [("calculated_fields",)]


def test_calculated_partner_field_never_refreshed_keeps_the_stale_partner(
    sleeps: Sleeps,
) -> None:
    """``calculated_refresh_hours: 0``: the bug the case describes, and the note says so."""
    store, sb, warnings = run_case(0, sleeps)
    with sb:
        sf = sb.salesforce
        p1, p2 = sf.id_for("Account", "P1"), sf.id_for("Account", "P2")
        assert kpi(store, "partner", p1, "won_amount", Q2) == Decimal("30000")
        assert kpi(store, "partner", p2, "won_amount", Q2) == Decimal("10000")
        assert any("they are never re-read (calculated_refresh_hours is 0)" in w
                   for w in warnings[0])
