"""Benchmark (informational): the KPI compute on Spark local mode vs DuckDB, N synthetic deals.

Run by hand: ``python bench/spark_vs_duckdb.py [--deals 1000000] [--runs 3] [--spark-runs R]
[--master local[*]] [--shuffle-partitions 8] [--grains month,quarter,year]``.
Needs the ``spark`` extra and Java 17.

The deals are ``bench/compute_kpis.py``'s (3 years, 2,000 partners, 3,000 owners, 3 currencies,
3 stage-history rows a deal), generated in a DuckDB store (not measured). Then, in the same run:

- DuckDB: ``kpis.compute`` on the store (what ``partnerkpi compute`` does), median of R runs;
- export: ``export-canonical`` of the store to Parquet (once; Spark's input);
- Spark: ``spark_engine.compute_spark`` from that Parquet, the rows written as Parquet (what
  ``compute --engine spark`` does, without the config), median of R runs, in one session
  started once (its start-up is printed apart).

Prints each median (and range), the ratio Spark / DuckDB, and checks that both computed the
same number of KPI rows. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.compute_kpis import GENERATE
from kpi_engine.canonical import export_canonical
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.spark_engine import (
    SparkSettings,
    compute_spark,
    read_canonical,
    session,
)
from kpi_engine.store import Store

CHANNELS = {"paid": ["PAID_SEARCH", "PAID_SOCIAL"],
            "owned": ["EMAIL_MARKETING", "DIRECT_TRAFFIC", "ORGANIC_SOCIAL"],
            "earned": ["ORGANIC_SEARCH", "REFERRALS"], "partner": ["Partner", "Partner Referral"]}


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    """Generate, compute on both engines, print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spark-runs", type=int, default=None,
                        help="Spark runs (default: --runs)")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--shuffle-partitions", default="8")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--grains", default="month,quarter,year")
    args = parser.parse_args()
    grains = args.grains.split(",")
    settings = KpiSettings(reporting_currency="USD", channels=CHANNELS)
    today = date(2025, 3, 15)
    work = Path(tempfile.mkdtemp(prefix="partnerkpi-spark-bench-"))
    try:
        store = Store(work / "bench.duckdb", memory_limit="4GB")
        t = time.perf_counter()
        store.con.execute(GENERATE.format(n=args.deals))
        print(f"{args.deals:,} deals generated in {time.perf_counter() - t:.1f} s "
              f"(cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f})")
        duck: list[float] = []
        for _ in range(args.runs):
            t = time.perf_counter()
            summary = compute(store, settings, grains, today=today)
            duck.append(time.perf_counter() - t)
        t = time.perf_counter()
        export_canonical(store, work / "canonical")
        exported = time.perf_counter() - t
        (duck_rows,) = store.con.execute("SELECT count(*) FROM kpi_wide").fetchone()  # type: ignore[misc]
        store.close()
        t = time.perf_counter()
        spark = session(SparkSettings(args.master, "partnerkpi-bench", {
            "spark.sql.shuffle.partitions": args.shuffle_partitions,
            "spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false"}))
        spark.sparkContext.setLogLevel("ERROR")
        started = time.perf_counter() - t
        times: list[float] = []
        for i in range(args.spark_runs or args.runs):
            t = time.perf_counter()
            result = compute_spark(spark, read_canonical(spark, work / "canonical"), settings,
                                   grains, today=today)
            result.wide.write.mode("overwrite").parquet(str(work / f"wide{i}"))
            times.append(time.perf_counter() - t)
        spark_rows = spark.read.parquet(str(work / "wide0")).count()
        spark.stop()
        print(f"DuckDB compute: median {_median(duck)}, {summary.deals:,} deals, "
              f"{duck_rows:,} wide rows")
        print(f"export-canonical to Parquet: {exported:.1f} s; Spark session start: "
              f"{started:.1f} s ({args.master}, {args.shuffle_partitions} shuffle partitions)")
        print(f"Spark compute (read Parquet, compute, write Parquet): median {_median(times)}, "
              f"{spark_rows:,} wide rows")
        ratio = statistics.median(times) / statistics.median(duck)
        same = "equal" if spark_rows == duck_rows else "DIFFER"
        print(f"ratio Spark / DuckDB: {ratio:.1f}x; rows {same}; "
              f"load at the end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
