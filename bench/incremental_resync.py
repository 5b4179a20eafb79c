"""Benchmark: incremental re-sync after 1% of the deals changed, vs the full first sync.

Run by hand: ``python bench/incremental_resync.py [--crm both] [--deals N] [--runs 3]
[--change 0.01]``. Defaults: 50,000 synthetic deals for HubSpot and for Salesforce (REST).

Per CRM, one in-process CRM sandbox (``crm_sandbox.datasets.synthetic``), then per run:

1. a full first sync of every stream into a fresh DuckDB store (what ``partnerkpi sync`` does
   the first time);
2. a re-sync with nothing changed (the fixed cost of a run);
3. 1% of the live deals changed in the sandbox as users would edit them, spread over an hour
   of sandbox time (amount, and the stage of every other one; the sandbox bumps
   ``SystemModstamp`` / ``hs_lastmodifieddate`` and adds the stage history), then the
   incremental re-sync.

Runs after the first one see the previous run's edits as the latest modified deals, so their
re-sync also reads again the edits of that hour's last 10 minutes (the lookback window): the
steady state of an hourly job. Each sync starts a minute after the previous one on the
sandbox's clock (its ten-second rate-limit window empty).

Prints the median seconds of each, the ratio re-sync / full sync (goal, issue 7: at most 3%),
the API calls the sandbox served in each, rows read (inserted + updated + unchanged, all
streams), and where the re-sync's time and calls go, stream by stream. Nothing sleeps: the
waits the connector asks for (HubSpot: search pacing at 4 calls/s, and a full ten-second window
whenever the sandbox's 100-calls-per-10-s window is used up) move the sandbox's clock instead
and are printed as "+ waits": what a real run against the same limits would add. The seconds
are our work plus the sandbox's serving (it runs in this process). Peak RSS includes the
sandbox. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._crm import SF_ENV, Waits, connector, peak_rss_mb, route
from connectors.base import Page, Stream
from connectors.sync import SyncResult, run_sync
from crm_sandbox.datasets import synthetic
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store

GOAL = 0.03


class ServerTime:
    """Adds up the seconds the sandbox spends answering requests (its facades, not TLS or
    sending): in this process, that time is inside every sync's figure but is not ours."""

    def __init__(self, sb: Sandbox) -> None:
        self.total = 0.0
        route_request = sb._route

        def timed(request: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return route_request(request)
            finally:
                self.total += time.perf_counter() - t0

        sb._route = timed  # type: ignore[method-assign]


class Timed:
    """A connector wrapper that times each stream (pulls and commits) and counts the calls the
    sandbox served meanwhile and the seconds it spent on them."""

    def __init__(self, inner: Any, sb: Sandbox, server: ServerTime) -> None:
        self._inner, self._sb, self._server = inner, sb, server
        self.seconds: dict[str, float] = {}
        self.server: dict[str, float] = {}
        self.calls: dict[str, Counter[str]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def streams(self) -> Any:
        """The inner connector's streams."""
        return self._inner.streams()

    def pull(
        self, stream: Stream, watermark: str | None, state: Mapping[str, str | None]
    ) -> Iterator[Page]:
        """The inner pull, timed from its first call to its last page's commit."""
        t0, c0, s0 = time.perf_counter(), len(self._sb.calls), self._server.total
        try:
            yield from self._inner.pull(stream, watermark, state)
        finally:
            self.seconds[stream.name] = time.perf_counter() - t0
            self.server[stream.name] = self._server.total - s0
            self.calls[stream.name] = Counter(route(m, p) for m, p in self._sb.calls[c0:])


def timed_sync(crm: str, sb: Sandbox, server: ServerTime, store: Store) -> dict[str, Any]:
    """One sync run of a fresh connector, a minute after the previous one (sandbox clock: the
    CRM's ten-second rate-limit window starts empty): seconds, calls served, rows, per-stream
    detail."""
    sb.clock.advance(60)
    waits = Waits(sb)
    conn = Timed(connector(crm, sb, waits), sb, server)
    c0, s0 = len(sb.calls), server.total
    t0 = time.perf_counter()
    result: SyncResult = run_sync(store, conn)
    seconds = time.perf_counter() - t0
    assert result.status == "ok", result.error
    streams = {}
    for name, counts in result.streams.items():
        streams[name] = {
            "seconds": conn.seconds.get(name, 0.0),
            "server": conn.server.get(name, 0.0),
            "calls": conn.calls.get(name, Counter()),
            "read": counts.inserted + counts.updated + counts.unchanged,
            "inserted": counts.inserted,
            "updated": counts.updated,
            "deleted": counts.deleted,
            "pages": counts.pages,
        }
    return {
        "seconds": seconds,
        "calls": len(sb.calls) - c0,
        "server": server.total - s0,
        "routes": Counter(route(m, p) for m, p in sb.calls[c0:]),
        "connector_calls": result.api_calls,
        "waits": sum(waits),
        "read": sum(s["read"] for s in streams.values()),
        "streams": streams,
        "deals": result.streams["deals"].tables.get("deals"),
    }


def change_deals(crm: str, sb: Sandbox, store: Store, share: float, seed: int) -> int:
    """Edit ``share`` of the live deals in the sandbox as users would, spread over an hour of
    sandbox time; returns how many."""
    ids = [
        r[0]
        for r in store.con.execute(
            "SELECT deal_id FROM deals WHERE NOT is_deleted ORDER BY deal_id"
        ).fetchall()
    ]
    chosen = random.Random(seed).sample(ids, round(len(ids) * share))
    for i, deal_id in enumerate(chosen):
        sb.clock.advance(3600 / len(chosen))
        new_stage = "Negotiation/Review" if i % 2 == 0 else None
        if crm == "salesforce":
            values: dict[str, Any] = {"Amount": Decimal(1000 + i)}
            if new_stage:
                values["StageName"] = new_stage
            sb.salesforce.update("Opportunity", deal_id, values)
        else:
            values = {"amount": str(1000 + i)}
            if new_stage:
                values["dealstage"] = new_stage
            sb.hubspot.update("deals", deal_id, values)
    return len(chosen)


def bench_crm(crm: str, n: int, runs: int, share: float) -> dict[str, Any]:
    """Full sync, no-change re-sync and 1% re-sync of one CRM, ``runs`` times."""
    t0 = time.perf_counter()
    with Sandbox(synthetic(n, seed=3)).start() as sb, tempfile.TemporaryDirectory() as tmp:
        _ = sb.salesforce if crm == "salesforce" else sb.hubspot  # render before timing
        server = ServerTime(sb)
        print(
            f"\n{crm}: sandbox with {n:,} synthetic deals ready in {time.perf_counter() - t0:.1f} s"
        )
        full, idle, resync, changed = [], [], [], 0
        for run in range(runs):
            with Store(Path(tmp) / f"{crm}-{run}.duckdb") as store:
                full.append(timed_sync(crm, sb, server, store))
                idle.append(timed_sync(crm, sb, server, store))
                changed = change_deals(crm, sb, store, share, seed=run)
                resync.append(timed_sync(crm, sb, server, store))
            (Path(tmp) / f"{crm}-{run}.duckdb").unlink()
            print(
                f"  run {run + 1}: full {full[-1]['seconds']:.2f} s, no-change re-sync "
                f"{idle[-1]['seconds']:.2f} s, re-sync after {changed:,} changes "
                f"{resync[-1]['seconds']:.2f} s"
            )
        return report(crm, n, runs, changed, full, idle, resync)


def med(runs: list[dict[str, Any]], key: str) -> float:
    """Median of one figure over the runs."""
    return statistics.median(r[key] for r in runs)


def report(
    crm: str,
    n: int,
    runs: int,
    changed: int,
    full: list[dict[str, Any]],
    idle: list[dict[str, Any]],
    resync: list[dict[str, Any]],
) -> dict[str, Any]:
    """Print one CRM's figures; returns them for ``--json-out``."""
    f_s, i_s, r_s = med(full, "seconds"), med(idle, "seconds"), med(resync, "seconds")
    f_w, r_w = med(full, "waits"), med(resync, "waits")
    ratio = r_s / f_s
    deals = resync[-1]["deals"]
    print(
        f"{crm}, {n:,} deals ({runs} runs, medians; 'serving': the in-process sandbox's share; "
        "'+ waits': rate-limit waits a real run would add, not slept):"
    )
    for label, runs_of, s in (
        ("full sync", full, f_s),
        ("no-change re-sync", idle, i_s),
        (f"re-sync after {changed:,} changed deals", resync, r_s),
    ):
        last = runs_of[-1]
        print(
            f"  {label:<36} {s:7.2f} s (serving {med(runs_of, 'server'):5.2f}) "
            f"{last['calls']:>6,} API calls {last['read']:>9,} rows read  "
            f"+ waits {med(runs_of, 'waits'):.1f} s"
        )
    if deals is not None:
        print(
            f"  re-sync deals table: {deals.inserted:,} inserted, {deals.updated:,} updated, "
            f"{deals.unchanged:,} unchanged (the lookback window's deals are read again)"
        )
    verdict = "PASS" if ratio <= GOAL else "MISS"
    print(f"  ratio re-sync / full sync: {ratio:.2%} (goal <= {GOAL:.0%}) -> {verdict}")
    f_srv, r_srv = med(full, "server"), med(resync, "server")
    print(
        f"  same, the waits included: {(r_s + r_w) / (f_s + f_w):.2%}; without the sandbox's "
        f"serving: {(r_s - r_srv) / (f_s - f_srv):.2%}; no-change re-sync / full sync: "
        f"{i_s / f_s:.2%}; API calls re-sync / full sync: "
        f"{resync[-1]['calls'] / full[-1]['calls']:.2%}"
    )
    print(
        "  full sync's calls: "
        + ", ".join(f"{k} x{v}" for k, v in full[-1]["routes"].most_common())
    )
    last = resync[-1]
    inside = sum(s["seconds"] for s in last["streams"].values())
    print(
        f"  where the last re-sync's {last['seconds']:.2f} s go (stream: seconds, of which "
        "sandbox serving; calls; rows read):"
    )
    for name, s in last["streams"].items():
        calls = sum(s["calls"].values())
        what = ", ".join(f"{k} x{v}" for k, v in s["calls"].most_common())
        print(
            f"    {name:<16} {s['seconds']:6.2f} s ({s['server']:5.2f}) {calls:>4} calls "
            f"{s['read']:>7,} rows  {what}"
        )
    print(
        f"    {'(outside streams)':<16} {last['seconds'] - inside:6.2f} s          "
        "run bookkeeping (sync_runs row, watermark reads)"
    )
    return {
        "deals": n,
        "changed": changed,
        "full_seconds": f_s,
        "idle_seconds": i_s,
        "resync_seconds": r_s,
        "ratio": ratio,
        "pass": ratio <= GOAL,
        "full_waits": f_w,
        "resync_waits": r_w,
        "full_server": f_srv,
        "resync_server": r_srv,
        "full_calls": full[-1]["calls"],
        "idle_calls": idle[-1]["calls"],
        "resync_calls": last["calls"],
        "full_rows": full[-1]["read"],
        "resync_rows": last["read"],
    }


def main() -> None:
    """Run the benchmark for the chosen CRMs and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crm", choices=("salesforce", "hubspot", "both"), default="both")
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--change", type=float, default=0.01, help="share of deals changed")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    os.environ.update(SF_ENV)
    crms = ["hubspot", "salesforce"] if args.crm == "both" else [args.crm]
    out = {crm: bench_crm(crm, args.deals, args.runs, args.change) for crm in crms}
    print(f"\npeak RSS {peak_rss_mb():,.0f} MB (sandbox and client in one process)")
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"crms": out, "peak_rss_mb": peak_rss_mb()}, indent=2), encoding="utf-8"
        )


if __name__ == "__main__":
    main()
