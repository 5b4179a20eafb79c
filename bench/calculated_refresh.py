"""Benchmark: the per-run cost of the Salesforce calculated-field refresh (case C-14) at N deals.

Run by hand: ``python bench/calculated_refresh.py [--deals 50000]``. The CRM sandbox runs in its
own process (:mod:`bench.pull_common`). Per path (REST pages of 2,000; Bulk API 2.0):

1. a first sync of stages, partners and deals into a fresh DuckDB store;
2. run 2, 25 hours later, nothing changed, twice from copies of that store: with
   ``calculated_refresh_hours: 24`` (the refresh is due: every deal is read again) and with 0
   (no refresh). The difference of their API calls and times is the refresh's cost.

Prints calls and seconds of both, the difference, and the calls at 1,000,000 deals from the
page sizes (REST: ``ceil(N / 2,000)``; Bulk: the job and its polls as measured, plus one call
per result page of 50,000). Never part of the test suite.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pull_common import SandboxProcess
from bench.salesforce_pull import CREDENTIALS
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sync import run_sync
from kpi_engine.store import Store

REST_PAGE, BULK_PAGE = 2_000, 50_000  # records per REST query page / Bulk result page


def settings(sb: SandboxProcess, *, bulk: bool, hours: float) -> SalesforceSettings:
    return SalesforceSettings.model_validate({
        "auth": "password", "login_url": sb.url, "ca_bundle": sb.ca_bundle,
        "username": "sandbox@partnerkpi.example", "password_env": "SF_PASSWORD",
        "security_token_env": "SF_TOKEN", "client_id_env": "SF_CLIENT_ID",
        "client_secret_env": "SF_CLIENT_SECRET", "streams": ["stages", "partners", "deals"],
        "bulk_threshold": 1 if bulk else 10_000_000, "calculated_refresh_hours": hours,
        "sweep_interval_days": 0,
    })


def run(sb: SandboxProcess, db: Path, *, bulk: bool, hours: float,
        now: datetime) -> tuple[int, float]:
    """One sync; (API calls, seconds)."""
    connector = SalesforceConnector(settings(sb, bulk=bulk, hours=hours), "USD", now=now)
    started = time.perf_counter()
    with Store(db) as store:
        run_sync(store, connector)
    return connector.api_calls, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=50_000)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    work = Path(tempfile.mkdtemp(prefix="refresh-bench-"))
    now = datetime.now(UTC)
    with SandboxProcess(args.deals, seed=11) as sb:
        print(f"sandbox: {args.deals:,} opportunities, ready in {sb.ready_s:.1f} s")
        for path, bulk in (("rest", False), ("bulk", True)):
            base = work / f"{path}.duckdb"
            run(sb, base, bulk=bulk, hours=24, now=now)
            later = now + timedelta(hours=25)
            figures = {}
            for hours in (24, 0):
                db = work / f"{path}-{hours}.duckdb"
                shutil.copy(base, db)
                figures[hours] = run(sb, db, bulk=bulk, hours=hours, now=later)
            calls = figures[24][0] - figures[0][0]
            seconds = figures[24][1] - figures[0][1]
            per_call = args.deals / calls if calls else float("nan")
            if bulk:  # a job and its polls, then one result page per 50,000 records
                fixed = calls - math.ceil(args.deals / BULK_PAGE)
                at_1m = fixed + math.ceil(1_000_000 / BULK_PAGE)
            else:  # one page per 2,000 records
                at_1m = math.ceil(1_000_000 / REST_PAGE)
            print(f"{path}: run 2 with the refresh {figures[24][0]} calls {figures[24][1]:.1f} s, "
                  f"without {figures[0][0]} calls {figures[0][1]:.1f} s; the refresh: {calls} "
                  f"calls, {seconds:.1f} s at {args.deals:,} deals ({per_call:,.0f} deals per "
                  f"call); at 1,000,000 deals ~{at_1m} calls")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
