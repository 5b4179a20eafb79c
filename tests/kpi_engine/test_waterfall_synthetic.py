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
from tests.helpers.regression import CHANNELS, GENERATE

HISTORY = """
-- source a: a first version at the creation (amount x 0.8 or x 1.3, close date 50 days later
-- or 70 days earlier), the current values 20..80 days later; every 7th deal gets a second
-- close-date version at the same instant, set before the first in the CRM's order
INSERT INTO deal_history
SELECT source, deal_id, 'amount', '0000000000', created_at,
       CAST(amount * CASE WHEN h(i, 60) % 2 = 0 THEN 0.8 ELSE 1.3 END AS DECIMAL(38, 6)), NULL, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND amount IS NOT NULL AND h(i, 61) % 3 <> 0
UNION ALL
SELECT source, deal_id, 'amount', '0000000001',
       created_at + to_days(CAST(20 + h(i, 62) % 60 AS INTEGER)), amount, NULL, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND amount IS NOT NULL AND h(i, 61) % 3 <> 0
UNION ALL
SELECT source, deal_id, 'close_date', '0000000000', created_at, NULL,
       close_date + CASE WHEN h(i, 63) % 2 = 0 THEN 50 ELSE -70 END, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND close_date IS NOT NULL AND h(i, 64) % 3 <> 0
UNION ALL
SELECT source, deal_id, 'close_date', '0000000002',
       created_at + to_days(CAST(10 + h(i, 65) % 90 AS INTEGER)), NULL, close_date, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND close_date IS NOT NULL AND h(i, 64) % 3 <> 0
UNION ALL
SELECT source, deal_id, 'close_date', '0000000001', created_at, NULL, close_date + 400, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND close_date IS NOT NULL AND h(i, 64) % 3 <> 0
  AND i % 7 = 0;

-- source b: two snapshots of the open deals (as a CSV source stores them at each sync)
INSERT INTO pipeline_snapshots
SELECT source, TIMESTAMPTZ '2023-01-15 06:00:00+00', deal_id, stage,
       CAST(amount * 1.5 AS DECIMAL(38, 6)), currency, close_date + 95
FROM deals WHERE source = 'b' AND NOT is_closed
UNION ALL
SELECT source, TIMESTAMPTZ '2023-08-15 06:00:00+00', deal_id, stage, amount, currency, close_date
FROM deals WHERE source = 'b' AND NOT is_closed;
"""


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
