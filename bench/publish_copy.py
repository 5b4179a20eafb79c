"""Benchmark: publishing the copy for readers (``kpi_engine.publish``) next to the compute it
follows, on N synthetic deals (default 100,000; the generator of ``compute_kpis.py``).

Run by hand: ``python bench/publish_copy.py [--deals N] [--runs R] [--parquet]``. Generates the
store, computes once, then times R publishes (and R computes, in the same run, for the ratio)
and prints the medians, the ratio publish / compute and the sizes of the store and the copy.
Never part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compute_kpis import __file__ as COMPUTE_BENCH
from kpi_engine.kpis import compute
from kpi_engine.publish import publish
from kpi_engine.settings import KpiSettings
from kpi_engine.store import DEFAULT_MEMORY_LIMIT, Store


def main() -> None:
    """Generate, compute, then time publish and compute ``--runs`` times each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parquet", action="store_true", help="also the Parquet folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        subprocess.run([sys.executable, COMPUTE_BENCH, "--deals", str(args.deals),
                        "--generate-only", str(path)], check=True)
        copy = Path(tmp) / "bench.published.duckdb"
        folder = Path(tmp) / "bi-parquet" if args.parquet else None
        with Store(path, memory_limit=DEFAULT_MEMORY_LIMIT) as store:
            compute(store, KpiSettings())
            publishes, computes = [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                publish(store, copy, folder)
                publishes.append(time.perf_counter() - started)
                started = time.perf_counter()
                compute(store, KpiSettings())
                computes.append(time.perf_counter() - started)
            store.con.execute("CHECKPOINT")
        pub, comp = statistics.median(publishes), statistics.median(computes)
        print(f"{args.deals:,} deals: publish median {pub:.2f} s of {args.runs} "
              f"(min {min(publishes):.2f}, max {max(publishes):.2f})"
              f"{' with Parquet' if folder else ''}; compute median {comp:.2f} s; "
              f"publish / compute {pub / comp:.2f}x")
        print(f"store {path.stat().st_size / 1e6:.1f} MB, copy {copy.stat().st_size / 1e6:.1f} MB"
              + (f", Parquet {sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.1f} MB"
                 if folder else "") + f"; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
