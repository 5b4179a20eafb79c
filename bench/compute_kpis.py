"""Benchmark: KPI compute over N synthetic deals (default 1,000,000), all dimensions, 3 grains.

Run by hand: ``python bench/compute_kpis.py [--deals N] [--runs R] [--grains month,quarter,year]
[--phases]``. Prints the median seconds of R runs and the process's peak RSS; with ``--phases``,
the seconds (wall and CPU) each SQL file of ``kpi_engine/sql`` took in the last run. Never part of
the test suite.

The deals are generated inside DuckDB (so generation is not measured): 3 years of deals, 2,000
partners, 3,000 owners in 375 teams and 4 units, 9 lead sources, 3 currencies with rates, a stage
history of 3 rows per deal, ~60% closed of which ~40% won, ~1% deleted.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kpi_engine.kpis import compute, steps  # noqa: E402
from kpi_engine.settings import KpiSettings  # noqa: E402
from kpi_engine.store import Store  # noqa: E402

GENERATE = """
CREATE OR REPLACE TEMP MACRO h(i, k) AS CAST(hash(i, k) % 1000000007 AS BIGINT);
INSERT INTO partners
SELECT 'bench', 'P' || i, 'Partner ' || i, 'Reseller', NULL, now(), false FROM range(2000) t(i);
INSERT INTO owners
SELECT 'bench', 'U' || i, 'Rep ' || i, 'Team ' || (i // 8), ['EMEA','NA','APAC','LATAM'][i % 4 + 1], true
FROM range(3000) t(i);
INSERT INTO stages VALUES
  ('bench','default','Prospecting','Prospecting',0.1,false,false,1),
  ('bench','default','Qualification','Qualification',0.2,false,false,2),
  ('bench','default','Proposal','Proposal',0.6,false,false,3),
  ('bench','default','Closed Won','Closed Won',1.0,true,true,4),
  ('bench','default','Closed Lost','Closed Lost',0.0,true,false,5);
INSERT INTO currency_rates VALUES ('bench','EUR','USD',0.92,DATE '0001-01-01',NULL),
                                  ('bench','GBP','USD',0.79,DATE '0001-01-01',NULL);
INSERT INTO deals
SELECT 'bench', 'D' || i, 'Deal ' || i,
       CASE WHEN h(i, 1) % 10 < 7 THEN 'P' || (h(i, 2) % 2000) END,
       'U' || (h(i, 3) % 3000), 'Account ' || (h(i, 4) % 50000), 'default',
       CASE WHEN closed AND won THEN 'Closed Won' WHEN closed THEN 'Closed Lost'
            ELSE ['Prospecting','Qualification','Proposal'][h(i, 5) % 3 + 1] END,
       closed, closed AND won,
       CASE WHEN h(i, 6) % 50 = 0 THEN NULL
            ELSE CAST((500 + h(i, 7) % 200000) AS DECIMAL(38,6)) END,
       ['USD','USD','USD','USD','USD','USD','USD','USD','EUR','GBP'][h(i, 8) % 10 + 1],
       NULL, created, CASE WHEN closed THEN CAST(created AS DATE) + CAST(5 + h(i, 9) % 175 AS INTEGER) END,
       ['PAID_SEARCH','PAID_SOCIAL','EMAIL_MARKETING','DIRECT_TRAFFIC','ORGANIC_SOCIAL',
        'ORGANIC_SEARCH','REFERRALS','Partner','Partner Referral', NULL][h(i, 10) % 10 + 1],
       created, h(i, 11) % 100 = 0
FROM (
    SELECT i, h(i, 12) % 10 < 6 AS closed, h(i, 13) % 10 < 4 AS won,
           TIMESTAMPTZ '2022-01-01 00:00:00+00' + to_seconds(CAST(h(i, 14) % 94608000 AS BIGINT)) AS created
    FROM range({n}) t(i)
);
INSERT INTO stage_history
SELECT source, deal_id, s.stage, created_at + to_days(s.k * 7)
FROM deals, (VALUES (0, 'Prospecting'), (1, 'Qualification'), (2, 'Proposal')) s(k, stage);
"""


class _PhaseTimer:
    """Stands in for the store's connection and adds up each statement's wall and CPU seconds,
    under its step's name (``kpis.steps()``; other statements under their first words)."""

    def __init__(self, con: object) -> None:
        self._con = con
        self._files = {s.sql: f"step {s.name}" for s in steps()}
        self.wall: dict[str, float] = collections.defaultdict(float)
        self.cpu: dict[str, float] = collections.defaultdict(float)

    def execute(self, query: str, *args: object) -> object:
        started, cpu = time.perf_counter(), os.times()
        result = self._con.execute(query, *args)
        name = self._files.get(query) or " ".join(query.split())[:40]
        ended = os.times()
        self.wall[name] += time.perf_counter() - started
        self.cpu[name] += ended.user + ended.system - cpu.user - cpu.system
        return result

    def __getattr__(self, name: str) -> object:
        return getattr(self._con, name)


def main() -> None:
    """Generate the store once, then time ``compute`` (all grains) ``--runs`` times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--grains", default="month,quarter,year")
    parser.add_argument("--phases", action="store_true", help="time each SQL file (last run)")
    args = parser.parse_args()
    grains = args.grains.split(",")
    settings = KpiSettings(channels={
        "paid": ["PAID_SEARCH", "PAID_SOCIAL"],
        "owned": ["EMAIL_MARKETING", "DIRECT_TRAFFIC", "ORGANIC_SOCIAL"],
        "earned": ["ORGANIC_SEARCH", "REFERRALS"], "partner": ["Partner", "Partner Referral"]})
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        started = time.perf_counter()
        store.con.execute(GENERATE.format(n=int(args.deals)))
        print(f"generated {args.deals:,} deals in {time.perf_counter() - started:.1f} s")
        times = []
        for run in range(args.runs):
            timer = None
            if args.phases and run == args.runs - 1:
                timer = store.con = _PhaseTimer(store.con)  # type: ignore[assignment]
            started = time.perf_counter()
            summary = compute(store, settings, grains)
            times.append(time.perf_counter() - started)
        if timer is not None:
            store.con = timer._con  # type: ignore[assignment]
        store.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if timer is not None:
        print("phases of the last run (wall s, CPU s):")
        for name, wall in sorted(timer.wall.items(), key=lambda kv: -kv[1]):
            if wall >= 0.01:
                print(f"  {wall:7.2f} {timer.cpu[name]:7.2f}  {name}")
    print(f"compute, {args.deals:,} deals, {len(grains)} grains x 6 dimensions: "
          f"median {statistics.median(times):.2f} s of {args.runs} runs "
          f"(min {min(times):.2f}, max {max(times):.2f}); rows {summary.rows}")
    print(f"peak RSS {peak_mb:.0f} MB (whole process, generation included)")


if __name__ == "__main__":
    main()
