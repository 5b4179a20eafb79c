"""Fault injection: each kind asserted through real HTTP clients (requests, simple-salesforce)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError

from crm_sandbox.core import HUBSPOT_TEN_SECONDLY_BODY, Clock, Faults
from tests.helpers.salesforce_world import API, N_LIVE_OPPS, auth, client, http, start_sandbox

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "api-samples"
QUERY_GLOB = "/services/data/*/query*"


@pytest.fixture(scope="module")
def sb():
    with start_sandbox() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _no_leftover_faults(sb):
    yield
    sb.faults.clear()


def _hubspot_get(sb, path="/crm/v3/objects/deals?limit=2"):
    from crm_sandbox.hubspot import DEFAULT_TOKEN

    return http(sb).get(sb.url + path, headers=auth(DEFAULT_TOKEN))


def test_hubspot_429_ten_secondly_with_retry_after(sb):
    pytest.importorskip("crm_sandbox.hubspot")
    sb.faults.add("status", "GET", "/crm/v3/objects/deals", status=429, retry_after=2)
    r = _hubspot_get(sb)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "2"
    assert r.json() == json.loads((SAMPLES / "hubspot-429-ten-secondly.json").read_text())
    assert r.json() == HUBSPOT_TEN_SECONDLY_BODY
    assert "X-HubSpot-RateLimit-Daily" in r.headers
    again = _hubspot_get(sb)  # times=1: the retry of the same request succeeds
    assert again.status_code == 200


def test_429_without_retry_after_and_with_after(sb):
    pytest.importorskip("crm_sandbox.hubspot")
    rule = sb.faults.add("status", "POST", "/crm/v3/objects/*/search", status=429, after=1)
    from crm_sandbox.hubspot import DEFAULT_TOKEN

    s = http(sb)
    url = sb.url + "/crm/v3/objects/deals/search"
    codes = [
        s.post(url, json={"limit": 1}, headers=auth(DEFAULT_TOKEN)).status_code for _ in range(3)
    ]
    assert codes == [200, 429, 200]
    assert (rule.seen, rule.hits) == (2, 1)


def test_salesforce_503_then_recovers(sb):
    sf = client(sb)
    sb.faults.add("status", "GET", QUERY_GLOB, status=503, times=2)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as err:
            sf.query("SELECT Id FROM User")
        assert err.value.status == 503
    assert sf.query("SELECT Id FROM User")["totalSize"] == 3


def test_drop_closes_the_socket_mid_body(sb):
    sb.faults.add("drop", "GET", QUERY_GLOB, keep_bytes=40)
    s = http(sb)
    url = f"{sb.url}/services/data/v{API}/query"
    params = {"q": "SELECT Id, Name FROM Opportunity"}
    token = auth(sb.salesforce.issue_token())
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        s.get(url, params=params, headers=token)
    assert len(s.get(url, params=params, headers=token).json()["records"]) == N_LIVE_OPPS


def test_delay(sb):
    sb.faults.add("delay", "GET", QUERY_GLOB, seconds=0.05)
    sf = client(sb)
    start = time.perf_counter()
    sf.query("SELECT Id FROM User")
    assert time.perf_counter() - start >= 0.05
    assert sb.faults.rules[0].exhausted


def test_malformed_json(sb):
    sb.faults.add("malformed_json", "GET", QUERY_GLOB)
    r = http(sb).get(
        f"{sb.url}/services/data/v{API}/query",
        params={"q": "SELECT Id FROM Opportunity"},
        headers=auth(sb.salesforce.issue_token()),
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError, match=r"Expecting|Unterminated|Extra data"):
        r.json()


def test_short_pages_c01(sb):
    sb.faults.add("short_pages", "GET", QUERY_GLOB, page_size=100, times=None)
    sf = client(sb)
    first = sf.query("SELECT Id, Amount, StageName, CloseDate, SystemModstamp FROM Opportunity")
    assert (first["totalSize"], first["done"], len(first["records"])) == (N_LIVE_OPPS, False, 100)
    assert first["nextRecordsUrl"].endswith("-100")
    rows = list(sf.query_all_iter("SELECT Id FROM Opportunity"))
    assert len({r["Id"] for r in rows}) == N_LIVE_OPPS


def test_faults_over_http_control_and_listing(sb):
    s = http(sb)
    rule = s.post(
        f"{sb.url}/_sandbox/faults",
        json={"kind": "status", "method": "GET", "path": "/services/data/", "status": 503},
    ).json()
    assert (rule["kind"], rule["status"], rule["times"]) == ("status", 503, 1)
    assert s.get(f"{sb.url}/services/data/").status_code == 503
    listed = s.get(f"{sb.url}/_sandbox/faults").json()["rules"]
    assert listed[0]["hits"] == 1
    s.post(f"{sb.url}/_sandbox/faults/clear")
    assert sb.faults.rules == []
    bad = s.post(f"{sb.url}/_sandbox/faults", json={"kind": "explode"})
    assert bad.status_code == 400


def test_rule_counters_times_and_after():
    faults = Faults()
    rule = faults.add("status", "GET", "/a/*", times=2, after=1)
    hits = [faults.match("GET", "/a/x") is not None for _ in range(5)]
    assert hits == [False, True, True, False, False]
    assert (rule.seen, rule.hits, rule.exhausted) == (3, 2, True)
    assert faults.match("POST", "/a/x") is None
    forever = faults.add("delay", path="/b", times=None)
    assert all(faults.match("PUT", "/b") is forever for _ in range(10))
    with pytest.raises(ValueError, match="unknown fault kind"):
        faults.add("explode")


def test_clock():
    clock = Clock()
    assert clock.now().tzinfo is UTC
    clock.freeze(datetime(2024, 6, 1, 10, 0, tzinfo=UTC))
    assert clock.now() == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert clock.advance(5) == datetime(2024, 6, 1, 10, 0, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.freeze(datetime(2024, 6, 1))  # noqa: DTZ001
    clock.unfreeze()
    before = clock.now()
    assert clock.advance(3600) - before >= timedelta(seconds=3600)
