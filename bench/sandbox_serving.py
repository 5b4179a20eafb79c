"""Benchmark: how fast the CRM sandbox serves pages, so it is never a benchmark's bottleneck.

Run by hand: ``python bench/sandbox_serving.py [--deals 50000] [--runs 3]``. Serves N synthetic
deals as HubSpot list pages of 100 (``GET /crm/v3/objects/deals``) and as Salesforce query pages
of 2,000 (``queryAll``), through TLS and ``requests`` with a plain ``json`` parse, and prints the
median seconds of R runs, pages/s, records/s and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.http import make_session  # noqa: E402
from crm_sandbox.datasets import synthetic  # noqa: E402
from crm_sandbox.server import Sandbox  # noqa: E402

PROPERTIES = "amount,deal_currency_code,dealstage,pipeline,closedate,createdate,hs_lastmodifieddate"


def hubspot_pages(sb: Sandbox, session) -> tuple[int, int]:
    """Read every deal through the list endpoint; returns (pages, records)."""
    token = sorted(sb.hubspot.accepted_tokens)[0]
    headers = {"Authorization": f"Bearer {token}"}
    after, pages, records = None, 0, 0
    while True:
        params = {"limit": 100, "properties": PROPERTIES}
        if after:
            params["after"] = after
        body = json.loads(session.get(f"{sb.url}/crm/v3/objects/deals", params=params,
                                      headers=headers).content)
        pages += 1
        records += len(body["results"])
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return pages, records


def salesforce_pages(sb: Sandbox, session) -> tuple[int, int]:
    """Read every Opportunity through queryAll; returns (pages, records)."""
    headers = {"Authorization": f"Bearer {sb.salesforce.issue_token()}"}
    soql = ("SELECT Id, Name, AccountId, PartnerAccountId, OwnerId, StageName, Amount, CloseDate, "
            "CreatedDate, LeadSource, SystemModstamp, IsDeleted FROM Opportunity "
            "ORDER BY SystemModstamp, Id")
    url, params, pages, records = f"{sb.url}/services/data/v60.0/queryAll", {"q": soql}, 0, 0
    while True:
        body = json.loads(session.get(url, params=params, headers=headers).content)
        pages += 1
        records += len(body["records"])
        if body["done"]:
            return pages, records
        url, params = sb.url + body["nextRecordsUrl"], None


def main() -> None:
    """Build the sandbox once, then time both CRMs' full reads ``--runs`` times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    world = synthetic(args.deals, seed=7)
    with Sandbox(world).warm().start() as sb:
        print(f"built world + both facades for {args.deals:,} deals in "
              f"{time.perf_counter() - started:.1f} s")
        session = make_session(sb.ca_bundle)
        for name, read in (("hubspot list, 100/page", hubspot_pages),
                           ("salesforce queryAll, 2000/page", salesforce_pages)):
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                pages, records = read(sb, session)
                times.append(time.perf_counter() - t0)
            median = statistics.median(times)
            print(f"{name}: {records:,} records in {pages} pages, median {median:.2f} s of "
                  f"{args.runs} ({pages / median:.0f} pages/s, {records / median:,.0f} records/s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB (client and server in one process)")


if __name__ == "__main__":
    main()
