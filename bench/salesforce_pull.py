"""Benchmark: Salesforce pull of N synthetic opportunities (default 100,000) from the CRM sandbox.

Run by hand:
``python bench/salesforce_pull.py [--deals 100000] [--runs 3] [--path rest|bulk|both]``.
The CRM sandbox runs in its own process (:mod:`bench.pull_common`). Each run, for each path:

1. a full sync of every stream through the connector into a fresh DuckDB store (REST
   ``queryAll`` pages of 2,000, or Bulk API 2.0 query jobs for every stream), every HTTP request
   it sends recorded (login, describes, queries, job polls, result pages);
2. the bare loop: the same requests sent again with requests, each body parsed (``json.loads``;
   Bulk result pages with ``csv.reader``), nothing stored.

Prints the medians, the ratio sync / bare loop of each run and its median, API calls, and the
peak RSS of this process (the connector's) and of the sandbox's. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pull_common import SandboxProcess, median_line, peak_rss_mb, pull_run
from connectors.salesforce import SalesforceConnector, SalesforceSettings

CREDENTIALS = {"SF_PASSWORD": "sandbox-password", "SF_TOKEN": "SANDBOXTOKEN",
               "SF_CLIENT_ID": "partnerkpi-sandbox-client",
               "SF_CLIENT_SECRET": "partnerkpi-sandbox-secret"}


def settings(sb: SandboxProcess, *, bulk: bool) -> SalesforceSettings:
    """``sources.salesforce`` for the sandbox; Bulk API 2.0 for every stream when ``bulk``."""
    return SalesforceSettings.model_validate({
        "auth": "password", "login_url": sb.url, "ca_bundle": sb.ca_bundle,
        "username": "sandbox@partnerkpi.example", "password_env": "SF_PASSWORD",
        "security_token_env": "SF_TOKEN", "client_id_env": "SF_CLIENT_ID",
        "client_secret_env": "SF_CLIENT_SECRET",
        "bulk_threshold": 1 if bulk else 10_000_000,
    })


def main() -> None:
    """Start the sandbox once; per run and path, time a full sync and the replay of its calls."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--path", choices=("rest", "bulk", "both"), default="both")
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    paths = ("rest", "bulk") if args.path == "both" else (args.path,)
    with SandboxProcess(args.deals, seed=11) as sb:
        print(f"sandbox: {args.deals:,} opportunities, ready in {sb.ready_s:.1f} s (own process)")
        for path in paths:
            runs = []
            for n_run in range(1, args.runs + 1):
                connector = SalesforceConnector(settings(sb, bulk=path == "bulk"), "USD")
                run = pull_run(connector, sb.ca_bundle)
                runs.append(run)
                rows = sum(c.inserted for c in run.result.streams.values())
                deals = run.result.streams["deals"].inserted
                print(f"{path} run {n_run}: sync {run.sync_s:.2f} s ({deals:,} opportunities, "
                      f"{rows:,} rows in all streams, {run.result.api_calls or run.requests:,} "
                      f"API calls, {rows / run.sync_s:,.0f} rows/s); {run.tail()}")
            print(f"{path}: {median_line(runs)}")
        print(f"peak RSS: connector process {peak_rss_mb():,.0f} MB (goal at 1M <= 250 MB), "
              f"sandbox process {sb.peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
