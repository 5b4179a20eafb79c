"""Benchmark: Salesforce pull of N synthetic opportunities (default 100,000) from the CRM sandbox.

Run by hand: ``python bench/salesforce_pull.py [--deals 100000] [--runs 3] [--bulk]``. For each
run, a fresh DuckDB store and a full sync of every stream through the connector (REST pages of
2,000, or Bulk API 2.0 with ``--bulk``), then in the same run a bare fetch-and-parse loop over the
same Opportunity pages (requests + json, nothing stored). Prints medians, records/s, the ratio
connector / bare loop, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.http import make_session  # noqa: E402
from connectors.salesforce import SalesforceConnector, SalesforceSettings  # noqa: E402
from connectors.sync import run_sync  # noqa: E402
from crm_sandbox.datasets import synthetic  # noqa: E402
from crm_sandbox.server import Sandbox  # noqa: E402
from kpi_engine.store import Store  # noqa: E402

FIELDS = ("Id, Name, AccountId, PartnerAccountId, OwnerId, StageName, Amount, CurrencyIsoCode, "
          "Probability, IsClosed, IsWon, CloseDate, CreatedDate, LeadSource, SystemModstamp, "
          "IsDeleted")


def bare_loop(sb: Sandbox) -> int:
    """Fetch and parse every Opportunity page with requests + json; returns records read."""
    session = make_session(sb.ca_bundle)
    headers = {"Authorization": f"Bearer {sb.salesforce.issue_token()}"}
    url = f"{sb.url}/services/data/v60.0/queryAll"
    params: dict[str, str] | None = {
        "q": f"SELECT {FIELDS} FROM Opportunity ORDER BY SystemModstamp, Id"}
    records = 0
    while True:
        body = json.loads(session.get(url, params=params, headers=headers).content)
        records += len(body["records"])
        if body["done"]:
            return records
        url, params = sb.url + body["nextRecordsUrl"], None


def main() -> None:
    """Start the sandbox once; time full syncs and the bare loop ``--runs`` times each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bulk", action="store_true", help="read through Bulk API 2.0")
    args = parser.parse_args()
    os.environ.update({"SF_PASSWORD": "sandbox-password", "SF_TOKEN": "SANDBOXTOKEN",
                       "SF_CLIENT_ID": "partnerkpi-sandbox-client",
                       "SF_CLIENT_SECRET": "partnerkpi-sandbox-secret"})
    world = synthetic(args.deals, seed=11)
    with Sandbox(world).start() as sb:
        sb.salesforce  # noqa: B018 - render the facade before timing
        settings = SalesforceSettings.model_validate({
            "auth": "password", "login_url": sb.url, "ca_bundle": sb.ca_bundle,
            "username": "sandbox@partnerkpi.example", "password_env": "SF_PASSWORD",
            "security_token_env": "SF_TOKEN", "client_id_env": "SF_CLIENT_ID",
            "client_secret_env": "SF_CLIENT_SECRET",
            "bulk_threshold": 1 if args.bulk else 10_000_000,
        })
        syncs, loops, rows = [], [], 0
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "b.duckdb") as store:
                t0 = time.perf_counter()
                result = run_sync(store, SalesforceConnector(settings, "USD"))
                syncs.append(time.perf_counter() - t0)
                rows = sum(c.inserted for c in result.streams.values())
                deals = result.streams["deals"].inserted
            t0 = time.perf_counter()
            loop_records = bare_loop(sb)
            loops.append(time.perf_counter() - t0)
    sync_s, loop_s = statistics.median(syncs), statistics.median(loops)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    path = "Bulk API 2.0" if args.bulk else "REST"
    print(f"salesforce full sync ({path}), {deals:,} opportunities ({rows:,} rows, all streams): "
          f"median {sync_s:.2f} s of {args.runs} -> {rows / sync_s:,.0f} rows/s")
    print(f"bare fetch+parse of the same {loop_records:,} opportunities: median {loop_s:.2f} s "
          f"-> {loop_records / loop_s:,.0f} records/s")
    print(f"ratio sync / bare loop: {sync_s / loop_s:.2f}x (the sync also pulls the other streams)")
    print(f"peak RSS {peak:.0f} MB (sandbox and client in one process)")


if __name__ == "__main__":
    main()
