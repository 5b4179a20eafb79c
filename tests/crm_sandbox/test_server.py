"""The Sandbox server: lifecycle, TLS, routing of both CRMs on one port, controls, speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from crm_sandbox.server import Sandbox
from tests.helpers.salesforce_world import API, NOW, auth, build_world, http, start_sandbox

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sb():
    with start_sandbox() as sandbox:
        yield sandbox


def test_https_url_and_ca_bundle(sb):
    assert sb.url.startswith("https://127.0.0.1:")
    assert Path(sb.ca_bundle).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert http(sb).get(f"{sb.url}/services/data/").status_code == 200


def test_tls_is_not_trusted_without_the_sandbox_ca(sb):
    s = requests.Session()
    s.trust_env = False  # default certifi bundle, which doesn't know the throwaway CA
    with pytest.raises(requests.exceptions.SSLError):
        s.get(f"{sb.url}/services/data/")


def test_lifecycle_and_context_manager():
    sandbox = Sandbox(build_world())
    with sandbox as running:
        assert running is sandbox
        url, ca = sandbox.url, sandbox.ca_bundle
        assert http(sandbox).get(f"{url}/services/data/").status_code == 200
    assert not Path(ca).exists()
    s = requests.Session()
    s.trust_env = False
    with pytest.raises(requests.exceptions.ConnectionError):
        s.get(f"{url}/services/data/", verify=False, timeout=2)


def test_keep_alive_reuses_one_connection(sb):
    s = http(sb)
    for _ in range(5):
        assert s.get(f"{sb.url}/services/data/").status_code == 200
    r = s.get(f"{sb.url}/services/data/")
    assert "close" not in r.headers.get("Connection", "")
    pools = list(s.get_adapter(sb.url).poolmanager.pools._container.values())
    assert sum(p.num_connections for p in pools) == 1


def test_calls_are_recorded_without_controls(sb):
    s = http(sb)
    s.post(f"{sb.url}/_sandbox/calls/clear")
    token = auth(sb.salesforce.issue_token())
    s.get(f"{sb.url}/services/data/v{API}/limits", headers=token)
    s.get(f"{sb.url}/services/data/v{API}/limits", headers=token)
    s.get(f"{sb.url}/nowhere")
    body = s.get(f"{sb.url}/_sandbox/calls").json()
    assert body["calls"] == [
        ["GET", f"/services/data/v{API}/limits"],
        ["GET", f"/services/data/v{API}/limits"],
        ["GET", "/nowhere"],
    ]
    assert sb.call_counts()[("GET", f"/services/data/v{API}/limits")] == 2


def test_unknown_paths_are_404(sb):
    assert http(sb).get(f"{sb.url}/nowhere").status_code == 404
    r = http(sb).get(f"{sb.url}/services/nowhere")
    assert (r.status_code, r.json()[0]["errorCode"]) == (404, "NOT_FOUND")
    assert http(sb).post(f"{sb.url}/_sandbox/nothing").status_code == 404


def test_clock_controls(sb):
    s = http(sb)
    try:
        r = s.post(f"{sb.url}/_sandbox/clock/freeze", json={"at": "2025-01-02T03:04:05+00:00"})
        assert r.json()["now"] == "2025-01-02T03:04:05+00:00"
        r = s.post(f"{sb.url}/_sandbox/clock/advance", json={"seconds": 10})
        assert r.json()["now"] == "2025-01-02T03:04:15+00:00"
        assert s.get(f"{sb.url}/_sandbox/clock").json()["frozen"] is True
    finally:
        sb.clock.freeze(NOW)


def test_salesforce_controls_over_http(sb):
    s = http(sb)
    token = s.post(f"{sb.url}/_sandbox/salesforce/token").json()["access_token"]
    url = f"{sb.url}/services/data/v{API}/limits"
    assert s.get(url, headers=auth(token)).status_code == 200
    s.post(f"{sb.url}/_sandbox/salesforce/expire_sessions_after", json={"n_calls": 1})
    assert s.get(url, headers=auth(token)).status_code == 200
    assert s.get(url, headers=auth(token)).status_code == 401
    fresh = auth(sb.salesforce.issue_token())
    used = sb.salesforce.usage.used
    s.post(f"{sb.url}/_sandbox/salesforce/api_usage", json={"used": 15000})
    r = s.get(url, headers=fresh)
    assert (r.status_code, r.json()[0]["errorCode"]) == (403, "REQUEST_LIMIT_EXCEEDED")
    assert r.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"
    s.post(f"{sb.url}/_sandbox/salesforce/api_usage", json={"used": used})
    ident = s.get(
        f"{sb.url}/_sandbox/salesforce/id_for", params={"object_type": "Account", "key": "P01"}
    )
    assert ident.json() == {"id": sb.salesforce.id_for("Account", "P01")}


def test_hubspot_shares_the_port(sb):
    hubspot = pytest.importorskip("crm_sandbox.hubspot")
    s = http(sb)
    r = s.get(
        f"{sb.url}/crm/v3/objects/deals", params={"limit": 2}, headers=auth(hubspot.DEFAULT_TOKEN)
    )
    assert r.status_code == 200
    assert len(r.json()["results"]) == 2
    assert s.post(f"{sb.url}/oauth/v1/token", data={"grant_type": "x"}).status_code != 404


def test_hubspot_controls_over_http(sb):
    hubspot = pytest.importorskip("crm_sandbox.hubspot")
    s = http(sb)
    created = s.post(
        f"{sb.url}/_sandbox/hubspot/create",
        json={"object_type": "deals", "values": {"dealname": "Control deal", "amount": "10"}},
    ).json()
    url = f"{sb.url}/crm/v3/objects/deals/{created['id']}"
    token = auth(hubspot.DEFAULT_TOKEN)
    assert s.get(url, headers=token).json()["properties"]["dealname"] == "Control deal"
    archived = s.post(
        f"{sb.url}/_sandbox/hubspot/archive", json={"object_type": "deals", "id": created["id"]}
    )
    assert archived.json() == {"ok": True}
    assert s.get(url, headers=token).status_code == 404


@pytest.mark.slow
def test_serving_speed():
    """Pages per second through TLS + keep-alive (report in the test output with -s)."""
    from crm_sandbox.datasets import synthetic

    world = synthetic(20_000, 3)
    with Sandbox(world) as sandbox:
        sandbox.salesforce  # render outside the timed part  # noqa: B018
        s, token = http(sandbox), auth(sandbox.salesforce.issue_token())
        start = time.perf_counter()
        page = s.get(
            f"{sandbox.url}/services/data/v{API}/query",
            params={"q": "SELECT Id, Name, Amount, StageName, CloseDate FROM Opportunity"},
            headers=token,
        ).json()
        rows = len(page["records"])
        while not page["done"]:
            page = s.get(sandbox.url + page["nextRecordsUrl"], headers=token).json()
            rows += len(page["records"])
        elapsed = time.perf_counter() - start
    print(f"salesforce: {rows} rows in {elapsed:.2f} s")
    assert rows == page["totalSize"]
    assert elapsed < 30
