"""Benchmark: push (write-back) of N partners' KPIs to each CRM (default 10,000 partners).

Run by hand: ``python bench/push_writeback.py [--partners 10000] [--runs 3] [--crm both]``.

Setup (not timed): an in-process CRM sandbox serving a World of N partners, each with one won
and one lost deal closed in 2024-Q4; both connectors sync it into a DuckDB store and the KPIs
are computed (quarter grain). Then, per run, on a fresh copy of that store (empty
``push_state``), through ``jobs.run.push_targets`` (what ``partnerkpi push`` runs):

1. a first push: win rate, average deal size and quality score of 2024-Q4 onto every partner
   (Salesforce Account custom fields; HubSpot company properties);
2. a second push with nothing changed;
3. (last run) the KPIs computed again from the same data, then a third push, as the scheduled
   ``partnerkpi run`` does (sync, compute, push): a re-computation must not look like a change.

Write calls are counted on the sandbox's side (the requests it served: ``PATCH
/composite/sobjects``, ``POST /crm/v3/objects/companies/batch/update``), next to the pushers'
own count. Goals: the first push makes exactly ceil(N/200) Salesforce and ceil(N/100) HubSpot
write calls, the second none. Every push first reads the target fields' current values (the
plan compares against the CRM): at most ceil(N/2000) Salesforce retrieve calls (``POST
/composite/sobjects/Account``) and ceil(N/100) HubSpot ``batch/read`` calls, counted the same
two ways. Prints medians of the runs' seconds, goal vs measured,
PASS/MISS and peak RSS (sandbox included: it runs in this process). Never part of the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._crm import SF_ENV, Waits, connector, hs_source, peak_rss_mb, routes, sf_source
from jobs.config import AppConfig
from connectors.http import RetryPolicy
from jobs.run import push_targets
from connectors.sync import run_sync
from crm_sandbox.server import Sandbox
from crm_sandbox.synthetic import SYNTHETIC_STAGES
from crm_sandbox.world import Deal, Owner, Partner, Stage, World
from kpi_engine.kpis import compute
from kpi_engine.store import Store

SF_FIELDS = {
    "win_rate": "Partner_Win_Rate__c",
    "average_deal_size": "Partner_Avg_Deal_Size__c",
    "quality_score": "Partner_Quality_Score__c",
}
HS_FIELDS = {
    "win_rate": "partner_win_rate",
    "average_deal_size": "partner_avg_deal_size",
    "quality_score": "partner_quality_score",
}
#: The push runs "on" this day: the latest complete quarter is 2024-Q4, where the deals close.
TODAY = date(2025, 1, 2)
BATCH = {"salesforce": 200, "hubspot": 100}
WRITE_ROUTE = {
    "salesforce": "PATCH /services/data/v60.0/composite/sobjects",
    "hubspot": "POST /crm/v3/objects/companies/batch/update",
}
READ_ROUTE = {
    "salesforce": "POST /services/data/v60.0/composite/sobjects/Account",
    "hubspot": "POST /crm/v3/objects/companies/batch/read",
}
READ_BATCH = {"salesforce": 2000, "hubspot": 100}


def partner_world(n: int) -> World:
    """N partners, each with a won and a lost deal created in September 2024 and closed in
    2024-Q4 (so every partner has every KPI of that quarter)."""
    stages = [
        Stage(k, k, Decimal(p), c, w, o) for o, (k, p, c, w) in enumerate(SYNTHETIC_STAGES, start=1)
    ]
    owners = [
        Owner(f"U{i:03d}", f"Rep {i}", f"rep{i}@bench.example", f"Team {i // 8}", "EMEA")
        for i in range(1, 41)
    ]
    partners, deals = [], []
    base = datetime(2024, 9, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        key = f"P{i:05d}"
        partners.append(Partner(key, f"Bench Partner {i:05d}", "Reseller"))
        for j, stage in enumerate(("Closed Won", "Closed Lost")):
            created = base + timedelta(hours=(i * 7 + j) % 700)  # September 2024
            closed = created + timedelta(days=31 + (i + j) % 50)  # October to December
            deals.append(
                Deal(
                    key=f"D{i:05d}{j}",
                    name=f"Deal {i}-{j}",
                    partner_key=key,
                    owner_key=owners[i % len(owners)].key,
                    account_name=f"Customer {i % 3000}",
                    stage_key=stage,
                    amount=Decimal(1000 + (i * 37) % 90_000),
                    currency="USD",
                    created_at=created,
                    close_date=closed.date(),
                    lead_source="Partner",
                    modified_at=closed,
                    stage_history=[("Prospecting", created), (stage, closed)],
                )
            )
    return World(partners, owners, stages, deals)


def config_for(sb: Sandbox, database: Path, crms: list[str]) -> AppConfig:
    """A config with both sources and write-back of three KPIs to each CRM."""
    sources = {"salesforce": sf_source(sb), "hubspot": hs_source(sb)}
    fields = {"salesforce": SF_FIELDS, "hubspot": HS_FIELDS}
    return AppConfig.model_validate(
        {
            "database": str(database),
            "reporting_currency": "USD",
            "sources": {c: sources[c] for c in crms},
            "writeback": {c: {"fields": dict(fields[c])} for c in crms},
        }
    )


def one_push(sb: Sandbox, config: AppConfig, store: Store, crm: str) -> dict[str, object]:
    """One push to ``crm``: seconds, write calls served, all calls served, pusher's count."""
    sb.calls.clear()
    waits = Waits(sb)
    t0 = time.perf_counter()
    (result,) = push_targets(
        config, store, target=crm, today=TODAY, policy=RetryPolicy(sleep=waits)
    )
    seconds = time.perf_counter() - t0
    served = routes(list(sb.calls))
    return {
        "seconds": seconds,
        "writes": served[WRITE_ROUTE[crm]],
        "reads": served[READ_ROUTE[crm]],
        "pusher_reads": result.read_calls,
        "other_writes": sum(
            v
            for k, v in served.items()
            if k.split()[0] in ("POST", "PATCH", "PUT", "DELETE")
            and k not in (WRITE_ROUTE[crm], READ_ROUTE[crm])
            and not k.endswith("/token")
        ),
        "calls": sum(served.values()),
        "routes": dict(served),
        "waits": sum(waits),
        "pusher_writes": result.write_calls,
        "records": result.records_written,
        "failed": result.records_failed,
        "status": result.status,
        "planned": len({c.record_id for c in result.cells if c.action == "write"}),
    }


def main() -> None:
    """Sync and compute once, then push ``--runs`` times (first and no-change) per CRM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--crm", choices=("salesforce", "hubspot", "both"), default="both")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    crms = ["salesforce", "hubspot"] if args.crm == "both" else [args.crm]
    os.environ.update(SF_ENV)
    n = args.partners
    started = time.perf_counter()
    report: dict[str, object] = {"partners": n, "runs": args.runs, "crms": {}}
    with tempfile.TemporaryDirectory() as tmp, Sandbox(partner_world(n)).start() as sb:
        template = Path(tmp) / "template.duckdb"
        with Store(template) as store:
            for crm in crms:
                result = run_sync(store, connector(crm, sb, Waits(sb)))
                print(
                    f"setup: {crm} sync, {result.streams['partners'].inserted:,} partners, "
                    f"{result.streams['deals'].inserted:,} deal rows"
                )
            config = config_for(sb, template, crms)
            compute(store, config.kpi_settings(), ["quarter"])
        print(
            f"setup: {n:,} partners synced and computed in "
            f"{time.perf_counter() - started:.1f} s; peak RSS {peak_rss_mb():,.0f} MB"
        )
        for crm in crms:
            firsts, seconds = [], []
            for run in range(args.runs):
                path = Path(tmp) / f"run-{crm}-{run}.duckdb"
                shutil.copy(template, path)
                config = config_for(sb, path, crms)
                with Store(path) as store:
                    firsts.append(one_push(sb, config, store, crm))
                    seconds.append(one_push(sb, config, store, crm))
                    if run == args.runs - 1:
                        compute(store, config.kpi_settings(), ["quarter"])
                        third = one_push(sb, config, store, crm)
                path.unlink()
            first, second = firsts[-1], seconds[-1]
            goal = math.ceil(n / BATCH[crm])
            write_counts = sorted({f["writes"] for f in firsts})
            ok_first = write_counts == [goal] and all(f["records"] == n for f in firsts)
            ok_second = all(s["writes"] == 0 for s in seconds)
            t_first = statistics.median(f["seconds"] for f in firsts)
            t_second = statistics.median(s["seconds"] for s in seconds)
            print(f"\n{crm}: {n:,} partners, {args.runs} runs")
            print(
                f"  first push: {first['planned']:,} records planned, {first['records']:,} "
                f"written, {first['failed']} refused, status {first['status']}; median "
                f"{t_first:.2f} s (min {min(f['seconds'] for f in firsts):.2f}, max "
                f"{max(f['seconds'] for f in firsts):.2f}); {n / t_first:,.0f} partners/s; "
                f"+ rate-limit waits {first['waits']:.1f} s (not slept)"
            )
            print(
                f"    write calls served: {', '.join(map(str, write_counts))} "
                f"(pusher counted {first['pusher_writes']}); goal ceil({n:,}/{BATCH[crm]}) = "
                f"{goal} -> {'PASS' if ok_first else 'MISS'}"
            )
            read_goal = math.ceil(n / READ_BATCH[crm])
            reads = sorted({p["reads"] for p in (*firsts, *seconds)})
            ok_reads = max(reads) <= read_goal and all(
                p["pusher_reads"] == p["reads"] for p in (*firsts, *seconds))
            print(
                f"    read calls served per push: {', '.join(map(str, reads))} (pusher counted "
                f"{first['pusher_reads']}); goal <= ceil({n:,}/{READ_BATCH[crm]}) = {read_goal}"
                f" -> {'PASS' if ok_reads else 'MISS'}"
            )
            print(f"    all calls served: {first['calls']} ({_routes(first['routes'])})")
            print(
                f"  second push, nothing changed: median {t_second:.2f} s; write calls "
                f"served {max(s['writes'] for s in seconds)} (pusher counted "
                f"{second['pusher_writes']}), other writes {second['other_writes']}; goal 0 -> "
                f"{'PASS' if ok_second else 'MISS'}"
            )
            print(f"    all calls served: {second['calls']} ({_routes(second['routes'])})")
            ok_third = third["writes"] == 0
            print(
                f"  push after the KPIs were computed again (same data): {third['seconds']:.2f} s; "
                f"write calls served {third['writes']}; goal 0 -> {'PASS' if ok_third else 'MISS'}"
            )
            report["crms"][crm] = {  # type: ignore[index]
                "first_writes": first["writes"],
                "first_goal": goal,
                "first_pass": ok_first,
                "first_seconds": t_first,
                "second_writes": max(s["writes"] for s in seconds),
                "second_pass": ok_second,
                "second_seconds": t_second,
                "records_written": first["records"],
                "first_calls": first["calls"],
                "read_calls": max(reads),
                "read_goal": read_goal,
                "read_pass": ok_reads,
                "second_calls": second["calls"],
                "recompute_writes": third["writes"],
                "recompute_pass": ok_third,
            }
    report["peak_rss_mb"] = peak_rss_mb()
    print(
        f"\npeak RSS {peak_rss_mb():,.0f} MB (sandbox, both CRMs' data and client in one process)"
    )
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")


def _routes(served: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(served.items(), key=lambda kv: -kv[1]))


if __name__ == "__main__":
    main()
