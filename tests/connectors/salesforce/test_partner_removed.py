"""Partners that go away (Salesforce): an Account deleted, or one whose ``IsPartner`` is turned
off (it no longer matches ``partner_filter``). Both are flagged in ``partners``; their deals
stay and count unattributed (partner ``none``), never dropped.

World: P1 with two won deals (25,000 and 15,000), P2 with one (10,000), all closed in Q2-2024.
Between run 1 and run 2, P1's ``IsPartner`` is turned off and P2 is deleted (recycle bin).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
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

NOW = datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
Q2 = "2024-04-01"


def world() -> World:
    won = Stage("Closed Won", "Closed Won", Decimal(1), True, True, 1)
    t = datetime(2024, 4, 1, tzinfo=UTC)
    deals = [
        Deal(key, key, partner, None, None, "Closed Won", Decimal(amount), "USD", t,
             date(2024, 5, 10), None, t + timedelta(days=40))
        for key, partner, amount in (("D1", "P1", 25000), ("D2", "P1", 15000),
                                     ("D3", "P2", 10000))
    ]  # fmt: skip
    return World([Partner("P1", "Partner One"), Partner("P2", "Partner Two")], [], [won], deals)


def test_partner_deleted_or_no_longer_partner_deals_count_unattributed(sleeps: Sleeps) -> None:
    with Sandbox(world(), clock=Clock(NOW)).start() as sb:
        sf = sb.salesforce
        p1, p2 = sf.id_for("Account", "P1"), sf.id_for("Account", "P2")
        settings = sandbox_settings(sb, streams=["stages", "partners", "deals"])
        store = Store(":memory:")
        sync(store, settings, sleeps, now=NOW)
        later = NOW + timedelta(hours=1)
        sb.clock.freeze(later)
        sf.update("Account", p1, {"IsPartner": False})
        sf.delete("Account", p2)
        sb.clock.freeze(later + timedelta(hours=1))
        second, _ = sync(store, settings, sleeps, now=later + timedelta(hours=1))
        compute(store, KpiSettings(reporting_currency="USD"), ["quarter"], today=date(2024, 7, 1))
    assert second.streams["partners"].deleted == 2
    assert store.con.execute(
        "SELECT partner_id, is_deleted FROM partners ORDER BY partner_id"
    ).fetchall() == sorted([(p1, True), (p2, True)])
    assert store.con.execute(
        "SELECT count(*), sum(amount) FROM deals WHERE NOT is_deleted"
    ).fetchall() == [(3, Decimal("50000.000000"))]
    assert kpi(store, "partner", "none", "won_amount", Q2) == Decimal("50000")
    assert kpi(store, "partner", "none", "deals_won", Q2) == Decimal(3)
    assert kpi(store, "partner", p1, "won_amount", Q2) is None
    assert kpi(store, "partner", p2, "won_amount", Q2) is None
    assert kpi(store, "overall", "all", "won_amount", Q2) == Decimal("50000")
