"""Benchmark: a HubSpot first sync of N deals with partners and history, then the association
sweep's run (default 50,000 deals).

Run by hand: ``python bench/hubspot_sweep.py [--deals 50000]``. The CRM sandbox runs in its own
process (:mod:`bench.pull_common`) and enforces HubSpot's rate limit (100 calls / 10 s, its
``X-HubSpot-RateLimit-*`` headers), which the connector waits out for real here, as it would
against a portal:

1. a first sync of every stream into a fresh DuckDB file (deals by the list endpoint with their
   stage history, partner associations 1,000 deals a call), timed, its calls per endpoint
   counted by the sandbox;
2. an hour later (sandbox clock), an incremental run with nothing changed: what the association
   sweep costs on every run (its calls), beside the search that finds no change;
3. the same with the sweep off: run 2 - run 3 is the sweep's time.

Prints both runs' calls per endpoint and seconds, and the sweep's per-run calls computed from the
rule (:func:`connectors.hubspot.sweep.sweep_calls`) at this size and at 1,000,000 deals. Never part
of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pull_common import SandboxProcess
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.sweep import sweep_calls
from connectors.sync import run_sync
from crm_sandbox.hubspot import DEFAULT_TOKEN
from kpi_engine.store import Store

ASSOC = "POST /crm/v4/associations/deals/companies/batch/read"


def calls_by_endpoint(sb: SandboxProcess) -> Counter[str]:
    """The sandbox's calls since the last clear, by ``METHOD path``."""
    return Counter(f"{m} {p}" for m, p in sb.control("calls")["calls"] if not p.startswith("/_"))


def run(store: Store, settings: HubSpotSettings, sb: SandboxProcess,
        label: str) -> tuple[Counter[str], float]:
    """One sync run, timed; prints its calls per endpoint; returns them and the seconds."""
    sb.control("calls/clear", {})
    connector = HubSpotConnector(settings, "USD")
    started = time.perf_counter()
    result = run_sync(store, connector)
    seconds = time.perf_counter() - started
    counts = calls_by_endpoint(sb)
    waits = connector.client.usage.waits
    print(f"{label}: {seconds:.1f} s, {result.api_calls:,} API calls "
          f"({waits:.1f} s waiting out the rate limit), status {result.status}")
    for endpoint, n in counts.most_common():
        print(f"    {n:>6,}  {endpoint}")
    return counts, seconds


def main() -> None:
    """Start the sandbox; time the first sync, then the incremental run with its sweep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=50_000)
    args = parser.parse_args()
    os.environ["HUBSPOT_BENCH_TOKEN"] = DEFAULT_TOKEN
    with SandboxProcess(args.deals, seed=1) as sb, tempfile.TemporaryDirectory() as tmp:
        print(f"sandbox: {args.deals:,} deals, ready in {sb.ready_s:.1f} s (own process)")
        settings = HubSpotSettings(token_env="HUBSPOT_BENCH_TOKEN", host=sb.url,
                                   ca_bundle=Path(sb.ca_bundle))
        with Store(Path(tmp) / "bench.duckdb") as store:
            first, _ = run(store, settings, sb, "first sync")
            sb.control("clock/advance", {"seconds": 3600})
            second, with_sweep = run(store, settings, sb, "run 2 (nothing changed)")
            sb.control("clock/advance", {"seconds": 3600})
            off = settings.model_copy(update={"association_sweep_max_deals": 0})
            _, without = run(store, off, sb, "run 3 (nothing changed, sweep off)")
            live = store.con.execute(
                "SELECT count(*) FROM deals WHERE NOT is_deleted").fetchall()[0][0]
        size = settings.association_sweep_max_deals
        print(f"first sync: {sum(first.values()):,} calls (goal <= 1,100; before: 1,497), "
              f"of which {first[ASSOC]:,} association reads")
        print(f"run 2: association reads {second[ASSOC]:,} (sweep over {live:,} live deals; the "
              f"rule says {sweep_calls(live, size):,} + one per page of changed deals); "
              f"the sweep's time: run 2 - run 3 = {with_sweep - without:.1f} s")
        print(f"sweep per run from the rule (size {size:,}): 50k deals "
              f"{sweep_calls(50_000, size)} calls, every deal every run; 1M deals "
              f"{sweep_calls(1_000_000, size)} calls, every deal within "
              f"{-(-1_000_000 // size)} runs (all 1M every run: {sweep_calls(1_000_000, 10**9):,})")


if __name__ == "__main__":
    main()
