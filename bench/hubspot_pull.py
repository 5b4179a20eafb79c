"""Benchmark: HubSpot pull of N synthetic deals (default 50,000; ``--million``: 1,000,000).

Run by hand: ``python bench/hubspot_pull.py [--deals 50000] [--million] [--runs 1] [--search]``.
In one run against one in-process CRM sandbox:

1. a first sync of every stream through the connector into a fresh DuckDB store (deals by the
   list endpoint, with their stage history and partner associations, committed 1,000 at a time);
2. a bare fetch-and-parse loop over the same deal pages (``GET /crm/v3/objects/deals``, 100 per
   page, requests + ``json.loads``, nothing stored);
3. the same pages through hubspot-api-client twice: model objects (the default) and
   ``_preload_content=False`` + ``json.loads`` (what the connector does);
4. with ``--search``: the deal pages through the keyset search instead of the list (200 per page).

Prints records/s, the ratio connector / bare loop, model / raw parse, and peak RSS. Never part
of the test suite. The sandbox runs in this process, so its serving time is in every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubspot import HubSpot

from connectors.http import RetryPolicy, make_session
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.settings import BASE_DEAL_PROPERTIES
from connectors.hubspot.streams import search_deal_pages
from connectors.sync import run_sync
from crm_sandbox.datasets import synthetic
from crm_sandbox.hubspot import DEFAULT_TOKEN
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store

PROPS = list(BASE_DEAL_PROPERTIES)


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, MB (Linux: ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_loop(sb: Sandbox) -> int:
    """Fetch and parse every live deal page with requests + json; returns records read."""
    session = make_session(sb.ca_bundle)
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    url = f"{sb.url}/crm/v3/objects/deals"
    params: dict[str, object] = {"limit": 100, "properties": ",".join(PROPS)}
    records = 0
    while True:
        body = json.loads(session.get(url, params=params, headers=headers).content)
        records += len(body["results"])
        after = (body.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return records
        params["after"] = after


def client_loop(sb: Sandbox, *, raw: bool) -> int:
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
    """Start the sandbox once; time the connector's sync, the bare loop and the parses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--million", action="store_true", help="1,000,000 deals")
    parser.add_argument("--search", action="store_true", help="also time the keyset search")
    args = parser.parse_args()
    n = 1_000_000 if args.million else args.deals
    os.environ["HUBSPOT_BENCH_TOKEN"] = DEFAULT_TOKEN
    started = time.perf_counter()
    with Sandbox(synthetic(n, seed=1)) as sb:
        live = len(sb.hubspot.stores["deals"].active)
        ready = time.perf_counter() - started
        print(f"sandbox: {n:,} deals ({live:,} live), ready in {ready:.1f} s, "
              f"peak RSS {peak_rss_mb():,.0f} MB")
        settings = HubSpotSettings(token_env="HUBSPOT_BENCH_TOKEN", host=sb.url,
                                   ca_bundle=Path(sb.ca_bundle))
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
            connector = HubSpotConnector(settings, "USD", policy=RetryPolicy(sleep=lambda s: None))
            t = time.perf_counter()
            result = run_sync(store, connector)
            sync_s = timed("connector: full sync into DuckDB", live, time.perf_counter() - t)
            deal_pages = result.streams["deals"]
            print(f"  deals stream: {deal_pages.pages} commits, {result.api_calls:,} API calls; "
                  f"peak RSS {peak_rss_mb():,.0f} MB")
        t = time.perf_counter()
        bare_s = timed("bare loop: GET pages + json.loads", bare_loop(sb), time.perf_counter() - t)
        print(f"ratio connector / bare loop: {sync_s / bare_s:.2f}")
        t = time.perf_counter()
        model_s = timed("hubspot-api-client, model objects", client_loop(sb, raw=False),
                        time.perf_counter() - t)
        t = time.perf_counter()
        raw_s = timed("hubspot-api-client, raw body + json.loads", client_loop(sb, raw=True),
                      time.perf_counter() - t)
        print(f"ratio model / raw parse (same pages, serving included): {model_s / raw_s:.2f}")
        if args.search:
            connector = HubSpotConnector(settings, "USD", policy=RetryPolicy(sleep=lambda s: None))
            t = time.perf_counter()
            count = sum(len(r) for r, _ in search_deal_pages(
                connector.client.search_deals, PROPS, None, 200))
            timed("keyset search pages (200 each, unpaced)", count, time.perf_counter() - t)
        print(f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
