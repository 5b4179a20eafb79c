"""The pipeline waterfall balances on the synthetic 3,000-deal store (``tests/helpers/regression``)
given amount and close-date history: versions that raise and cut amounts, move close dates in
and out of periods, share an instant (the CRM's order decides) and, for source ``b``, pipeline
snapshots. For every grain, dimension, member and period: start + created + pulled_in +
increased - decreased - pushed_out - lost - won = end, in amounts and in deals; and the
drill-down's deals sum to each bucket."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from kpi_engine.waterfall import BUCKETS, drilldown
from tests.helpers.history import HISTORY
from tests.helpers.regression import CHANNELS, GENERATE


def test_waterfall_balances_on_the_synthetic_store_with_history(tmp_path: Path) -> None:
    settings = KpiSettings(channels=CHANNELS)
    with Store(tmp_path / "w.duckdb") as store:
        store.con.execute(GENERATE)
        store.con.execute(HISTORY)
        compute(store, settings)
        [row] = store.con.execute(
            """
            SELECT count(*),
                   count(*) FILTER (WHERE waterfall_start + waterfall_created + waterfall_pulled_in
                       + waterfall_increased - waterfall_decreased - waterfall_pushed_out
                       - waterfall_lost - waterfall_won <> waterfall_end),
                   count(*) FILTER (WHERE waterfall_start_n + waterfall_created_n
                       + waterfall_pulled_in_n - waterfall_pushed_out_n - waterfall_lost_n
                       - waterfall_won_n <> waterfall_end_n),
                   count(*) FILTER (WHERE least(waterfall_start, waterfall_created,
                       waterfall_pulled_in, waterfall_increased, waterfall_decreased,
                       waterfall_pushed_out, waterfall_lost, waterfall_won, waterfall_end) < 0),
                   sum(waterfall_pulled_in_n), sum(waterfall_pushed_out_n),
                   sum(waterfall_increased_n), sum(waterfall_decreased_n)
            FROM kpi_wide
            """).fetchall()
        rows, broken, counts_broken, negative, *moves = row
        assert rows > 2000
        assert (broken, counts_broken, negative) == (0, 0, 0)
        assert all(m > 100 for m in moves), moves
        # the drill-down of one quarter sums to each stored bucket, overall and for a partner
        for dimension, member in (("overall", "all"), ("partner", "P1"), ("channel", "paid")):
            deals = drilldown(store, settings, "quarter", date(2023, 4, 1), dimension, member)
            sums: dict[str, Decimal] = defaultdict(Decimal)
            counts: dict[str, int] = defaultdict(int)
            for d in deals:
                sums[d.bucket] += d.amount
                counts[d.bucket] += 1
            stored = store.con.execute(
                "SELECT kpi, value, n FROM kpi_values WHERE grain = 'quarter' "
                "AND period_start = DATE '2023-04-01' AND dimension = ? AND member = ? "
                "AND kpi LIKE 'waterfall_%'", [dimension, member]).fetchall()
            assert {k: (v, n) for k, v, n in stored} == {
                f"waterfall_{b}": (sums[b], counts[b]) for b in BUCKETS}
