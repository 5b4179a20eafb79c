"""Targets from the CRMs, over real HTTP against the CRM sandbox: Salesforce ``ForecastingQuota``
(with its ``Period``) and HubSpot ``goal_targets``, synced as the ``targets`` stream and measured
by compute; an org / portal without them gets a one-line note, not a failure.

The small World (tests/helpers/salesforce.py): owner U1 won D1 (100000 USD, 2024-05-20) and D2
(100000 CAD at 1.25 CAD per USD = 80000 USD, 2024-05-22): 180000 USD in Q2 2024. Quotas: U1
200000 for Q2 2024, U2 120000 for the year 2024, U1 a quantity quota of 10 for April 2024.
Today 2024-06-01 (the sandbox clock): Q2 is 61 of its 91 days gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from connectors.salesforce.quotas import FORECASTING_OFF
from crm_sandbox.server import Sandbox
from crm_sandbox.world import Quota, World
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers import hubspot as hs
from tests.helpers.salesforce import NOW, Sleeps, sandbox_settings, small_world, start, sync

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]
TODAY = NOW.date()


def _world(forecasting: bool = True) -> World:
    world = small_world()
    world.quotas = [
        Quota("Q1", "U1", date(2024, 4, 1), 3, amount=Decimal("200000")),
        Quota("Q2", "U2", date(2024, 1, 1), 12, amount=Decimal("120000.50")),
        Quota("Q3", "U1", date(2024, 4, 1), 1, quantity=Decimal(10)),
        Quota("Q4", "U1", date(2024, 4, 1), 1, amount=Decimal(40), name="Calls made"),
    ]
    world.forecasting = forecasting
    return world


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with start(_world()) as sb:
        yield sb


def _targets(store: Store) -> list[tuple]:
    return store.con.execute(
        "SELECT source, target_id, dimension, member, kpi, grain, period_start, period_end, "
        "target, name FROM targets ORDER BY source, period_start, grain").fetchall()


def _pace(actual: int, target: int, elapsed: int, days: int) -> Decimal:
    exact = Fraction(actual * days, target * elapsed)
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("1e-10"))


def test_targets_salesforce_forecasting_quotas(sandbox: Sandbox, tmp_path, sleeps: Sleeps) -> None:
    ids = sandbox.salesforce
    with Store(tmp_path / "s.duckdb") as store:
        result, _ = sync(store, sandbox_settings(sandbox, quotas=True), sleeps)
        assert result.status == "ok"
        assert result.streams["targets"].warnings == [
            "salesforce targets: 1 quantity quota(s) left out (product units are no partnerkpi "
            "KPI)"]
        u1, u2 = ids.id_for("User", "U1"), ids.id_for("User", "U2")
        # Q4 (a revenue quota too: Salesforce has no goal names) is April's 40
        assert _targets(store) == [
            ("salesforce", ids.id_for("ForecastingQuota", "Q2"), "owner", u2, "won_amount",
             "year", date(2024, 1, 1), date(2025, 1, 1), Decimal("120000.5"), None),
            ("salesforce", ids.id_for("ForecastingQuota", "Q4"), "owner", u1, "won_amount",
             "month", date(2024, 4, 1), date(2024, 5, 1), Decimal(40), None),
            ("salesforce", ids.id_for("ForecastingQuota", "Q1"), "owner", u1, "won_amount",
             "quarter", date(2024, 4, 1), date(2024, 7, 1), Decimal(200000), None),
        ]
        compute(store, KpiSettings(), today=TODAY)
        row = store.con.execute(
            "SELECT target, target_from, actual, attainment, gap, elapsed_share, pace "
            "FROM target_results WHERE grain = 'quarter' AND member = ?", [u1]).fetchall()
        assert row == [(Decimal(200000), "salesforce", Decimal(180000), Decimal("0.9"),
                        Decimal(20000), Decimal("0.6703296703"), _pace(180000, 200000, 61, 91))]


def test_targets_salesforce_without_forecasting_is_a_note(tmp_path, sleeps: Sleeps) -> None:
    with start(_world(forecasting=False)) as sb, Store(tmp_path / "s.duckdb") as store:
        result, _ = sync(store, sandbox_settings(sb, quotas=True), sleeps)
        assert result.status == "ok"
        assert result.streams["targets"].warnings == [FORECASTING_OFF]
        assert result.streams["deals"].inserted == 453
        assert _targets(store) == []


def test_targets_hubspot_goals(sandbox: Sandbox, tmp_path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        result = hs.sync(store, sandbox, goal_kpis={"Revenue": "won_amount"})
        assert result.status == "ok"
        assert result.streams["targets"].warnings == [
            "hubspot targets: goals 'Calls made' are not in sources.hubspot.goal_kpis: left out"]
        goal_ids = sorted(sandbox.hubspot.stores["goal_targets"].by_id)
        u1, u2 = sandbox.hubspot.owner_id("U1"), sandbox.hubspot.owner_id("U2")
        assert _targets(store) == [
            ("hubspot", str(goal_ids[1]), "owner", u2, "won_amount", "year", date(2024, 1, 1),
             date(2025, 1, 1), Decimal("120000.5"), "Revenue"),
            ("hubspot", str(goal_ids[0]), "owner", u1, "won_amount", "quarter",
             date(2024, 4, 1), date(2024, 7, 1), Decimal(200000), "Revenue"),
        ]
        compute(store, KpiSettings(), today=TODAY)
        row = store.con.execute(
            "SELECT target, target_from, actual, attainment, gap, pace FROM target_results "
            "WHERE grain = 'quarter' AND member = ?", [u1]).fetchall()
        assert row == [(Decimal(200000), "hubspot", Decimal(180000), Decimal("0.9"),
                        Decimal(20000), _pace(180000, 200000, 61, 91))]


def test_targets_hubspot_without_goals_scope_is_a_note(tmp_path) -> None:
    with start(_world(forecasting=False)) as sb, Store(tmp_path / "s.duckdb") as store:
        result = hs.sync(store, sb, goal_kpis={"Revenue": "won_amount"})
        assert result.status == "ok"
        [note] = result.streams["targets"].warnings
        assert note.startswith("hubspot targets: goals cannot be read (HubSpot GET "
                               "/crm/v3/objects/goal_targets: 403 MISSING_SCOPES")
        assert note.endswith("grant the scope crm.objects.goals.read to read them")
        assert _targets(store) == []

