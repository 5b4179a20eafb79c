"""Benchmark: HubSpot pull of N synthetic deals (default 50,000; ``--million``: 1,000,000).

Run by hand: ``python bench/hubspot_pull.py [--deals 50000] [--million] [--runs 3] [--models]
[--search]``. The CRM sandbox runs in its own process (:mod:`bench.pull_common`). Each run:

1. a first sync of every stream through the connector into a fresh DuckDB store (deals by the
   list endpoint with their stage history, partner associations, committed 1,000 at a time),
   every HTTP request it sends recorded;
2. the bare loop: the same requests sent again with requests + ``json.loads``, nothing stored.

Prints the medians, the ratio sync / bare loop of each run and its median, API calls, and the
peak RSS of this process (the connector's) and of the sandbox's. With ``--models``: the deal
pages through hubspot-api-client's model objects vs ``_preload_content=False`` + ``json.loads``
(what the connector does). With ``--search``: the deal pages through the keyset search. Never
part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubspot import HubSpot

from bench.pull_common import SandboxProcess, median_line, peak_rss_mb, pull_run
from connectors.http import RetryPolicy
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.settings import BASE_DEAL_PROPERTIES
from connectors.hubspot.streams import search_deal_pages
from crm_sandbox.hubspot import DEFAULT_TOKEN

PROPS = list(BASE_DEAL_PROPERTIES)


def client_loop(sb: SandboxProcess, *, raw: bool) -> int:
    """The same pages through hubspot-api-client: model objects, or raw body + json.loads."""
    api = HubSpot(access_token=DEFAULT_TOKEN, host=sb.url, ssl_ca_cert=sb.ca_bundle,
                  retry=False).crm.deals.basic_api
    after, records = None, 0
    while True:
        kwargs = {"limit": 100, "properties": PROPS, **({"after": after} if after else {})}
        if raw:
            body = json.loads(api.get_page(_preload_content=False, **kwargs).data)
            records += len(body["results"])
            after = (body.get("paging") or {}).get("next", {}).get("after")
        else:
            page = api.get_page(**kwargs)
            records += len(page.results)
            after = page.paging.next.after if page.paging and page.paging.next else None
        if not after:
            return records


def timed(label: str, records: int, seconds: float) -> float:
    print(f"{label:<44} {records:>9,} records {seconds:>8.2f} s {records / seconds:>10,.0f} rec/s")
    return seconds


def main() -> None:
    """Start the sandbox once; per run, time the connector's sync and the replay of its calls."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--million", action="store_true", help="1,000,000 deals")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", action="store_true", help="also time model objects vs raw")
    parser.add_argument("--search", action="store_true", help="also time the keyset search")
    args = parser.parse_args()
    n = 1_000_000 if args.million else args.deals
    os.environ["HUBSPOT_BENCH_TOKEN"] = DEFAULT_TOKEN
    with SandboxProcess(n, seed=1) as sb:
        print(f"sandbox: {n:,} deals, ready in {sb.ready_s:.1f} s (own process)")
        settings = HubSpotSettings(token_env="HUBSPOT_BENCH_TOKEN", host=sb.url,
                                   ca_bundle=Path(sb.ca_bundle))
        runs = []
        for n_run in range(1, args.runs + 1):
            connector = HubSpotConnector(settings, "USD", policy=RetryPolicy(sleep=lambda s: None))
            run = pull_run(connector, sb.ca_bundle)
            runs.append(run)
            deals = run.result.streams["deals"].tables["deals"].inserted
            print(f"run {n_run}: sync {run.sync_s:.2f} s ({deals:,} deals, "
                  f"{run.result.api_calls:,} API calls, {deals / run.sync_s:,.0f} deals/s); "
                  f"{run.tail()}")
        print(median_line(runs))
        print(f"peak RSS: connector process {peak_rss_mb():,.0f} MB (goal at 1M <= 250 MB), "
              f"sandbox process {sb.peak_rss_mb():,.0f} MB")
        if args.models:
            t = time.perf_counter()
            model_s = timed("hubspot-api-client, model objects", client_loop(sb, raw=False),
                            time.perf_counter() - t)
            t = time.perf_counter()
            raw_s = timed("hubspot-api-client, raw body + json.loads", client_loop(sb, raw=True),
                          time.perf_counter() - t)
            print(f"ratio model / raw parse (same pages): {model_s / raw_s:.2f}")
        if args.search:
            connector = HubSpotConnector(settings, "USD", policy=RetryPolicy(sleep=lambda s: None))
            t = time.perf_counter()
            count = sum(len(r) for r, _ in search_deal_pages(
                connector.client.search_deals, PROPS, None, 200))
            timed("keyset search pages (200 each, unpaced)", count, time.perf_counter() - t)


if __name__ == "__main__":
    main()
