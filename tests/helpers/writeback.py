"""Write-back test fixtures: one Maven-World sandbox and one synced-and-computed store per session.

The template store holds the Maven World pulled through both connectors (Salesforce and HubSpot,
recording sleeps, no pacing waits) with every grain computed; each test works on its own copy.
Nothing sleeps for real: every retry policy here records its waits.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.http import RetryPolicy
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sync import run_sync
from crm_sandbox.datasets import load_maven
from crm_sandbox.hubspot import DEFAULT_TOKEN
from crm_sandbox.server import Sandbox
from jobs.config import AppConfig
from kpi_engine.kpis import compute
from kpi_engine.store import Store
from tests.helpers.kpi_rows import insert_long_rows
from tests.helpers.maven import write_config

ENV = {
    "WB_SF_PASSWORD": "sandbox-password",
    "WB_SF_TOKEN": "SANDBOXTOKEN",
    "WB_SF_CLIENT_ID": "partnerkpi-sandbox-client",
    "WB_SF_CLIENT_SECRET": "partnerkpi-sandbox-secret",
    "WB_HS_TOKEN": DEFAULT_TOKEN,
}
SF_FIELDS = {"win_rate": "Partner_Win_Rate__c", "average_deal_size": "Partner_Avg_Deal_Size__c",
             "quality_score": "Partner_Quality_Score__c"}
HS_FIELDS = {"win_rate": "partner_win_rate", "average_deal_size": "partner_avg_deal_size",
             "quality_score": "partner_quality_score"}
#: The period the Maven World's latest complete quarter is (its deals end in 2017).
PERIOD = "2017-10-01"


class Sleeps(list[float]):
    """A ``sleep`` that records the seconds asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(sleeps: Sleeps | None = None, attempts: int = 4) -> RetryPolicy:
    """A retry policy that never sleeps for real."""
    sleep = sleeps if sleeps is not None else Sleeps()
    return RetryPolicy(attempts=attempts, jitter=0.0, sleep=sleep)


@pytest.fixture(scope="session", autouse=True)
def wb_env() -> Iterator[None]:
    """The sandbox's credentials in the environment variables the test configs name."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV.items():
            mp.setenv(name, value)
        yield


def sf_source(sb: Sandbox) -> dict[str, Any]:
    """``sources.salesforce`` for a running sandbox (OAuth password grant)."""
    return {"auth": "password", "login_url": sb.url, "ca_bundle": sb.ca_bundle,
            "username": "sandbox@partnerkpi.example", "password_env": "WB_SF_PASSWORD",
            "security_token_env": "WB_SF_TOKEN", "client_id_env": "WB_SF_CLIENT_ID",
            "client_secret_env": "WB_SF_CLIENT_SECRET"}


def hs_source(sb: Sandbox) -> dict[str, Any]:
    """``sources.hubspot`` for a running sandbox."""
    return {"token_env": "WB_HS_TOKEN", "host": sb.url, "ca_bundle": sb.ca_bundle}


def config_dict(
    sb: Sandbox,
    database: Path,
    *,
    sources: tuple[str, ...] = ("salesforce", "hubspot"),
    writeback: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A config for the sandbox: the given sources, write-back to both CRMs by default."""
    src = {"salesforce": sf_source(sb), "hubspot": hs_source(sb)}
    wb = writeback if writeback is not None else {
        "salesforce": {"fields": dict(SF_FIELDS)}, "hubspot": {"fields": dict(HS_FIELDS)}}
    return {"database": str(database), "reporting_currency": "USD",
            "sources": {k: v for k, v in src.items() if k in sources}, "writeback": wb}


def app_config(data: dict[str, Any]) -> AppConfig:
    """A validated config from a dict."""
    return AppConfig.model_validate(data)


@pytest.fixture(scope="session")
def maven() -> Iterator[Sandbox]:
    """One sandbox over the Maven World (6 partner Accounts / Companies) for the session."""
    with Sandbox(load_maven()).start() as sb:
        yield sb


@pytest.fixture(scope="session")
def template_store(maven: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Maven World synced through both connectors and computed (every grain)."""
    path = tmp_path_factory.mktemp("wb-template") / "template.duckdb"
    counter = itertools.count(step=100.0)
    with Store(path) as store:
        sf = SalesforceConnector(SalesforceSettings.model_validate(sf_source(maven)), "USD",
                                 policy=policy())
        run_sync(store, sf)
        hs = HubSpotConnector(HubSpotSettings.model_validate(hs_source(maven)), "USD",
                              policy=policy(), now=maven.clock.now,
                              monotonic=lambda: float(next(counter)))
        run_sync(store, hs)
        compute(store, app_config({"database": str(path)}).kpi_settings())
    return path


@pytest.fixture
def store_path(template_store: Path, tmp_path: Path) -> Path:
    """This test's copy of the template store."""
    path = tmp_path / "partnerkpi.duckdb"
    shutil.copy(template_store, path)
    return path


@pytest.fixture
def config_file(maven: Sandbox, store_path: Path, tmp_path: Path) -> Path:
    """A partnerkpi.yaml for the Maven sandbox and this test's store (both CRMs)."""
    return write_config(tmp_path / "partnerkpi.yaml", config_dict(maven, store_path))


def writes(sb: Sandbox) -> list[tuple[str, str]]:
    """The write calls the sandbox served (composite PATCH, batch/update)."""
    return [c for c in sb.calls if c[0] == "PATCH" or c[1].endswith("/batch/update")]


# -- a Salesforce org mocked at the HTTP edge (responses): the write-back request bodies -------
INSTANCE = "https://partnerkpi-test.my.salesforce.com"
COLLECTIONS = f"{INSTANCE}/services/data/v60.0/composite/sobjects"
DESCRIBE = f"{INSTANCE}/services/data/v60.0/sobjects/Account/describe"


def _describe_field(name: str, ftype: str, *, custom: bool = True) -> dict[str, Any]:
    return {"name": name, "type": ftype, "updateable": True, "custom": custom,
            "precision": 18, "scale": 2}


DESCRIBE_BODY = {"name": "Account", "fields": [
    {"name": "Id", "type": "id", "updateable": False, "custom": False},
    {"name": "IsPartner", "type": "boolean", "updateable": False, "custom": False},
    _describe_field("Partner_Win_Rate__c", "percent"),
    _describe_field("Partner_Avg_Deal_Size__c", "currency"),
    _describe_field("Partner_Quality_Score__c", "double"),
]}


def sf_config(path: Path, **writeback: Any) -> AppConfig:
    """A config with ``writeback.salesforce`` (``writeback``: more of its settings) on an org
    reached with an access token (``WB_SF_ACCESS_TOKEN``)."""
    return AppConfig.model_validate({
        "database": str(path),
        "sources": {"salesforce": {"auth": "access_token", "instance_url": INSTANCE,
                                   "access_token_env": "WB_SF_ACCESS_TOKEN"}},
        "writeback": {"salesforce": {"fields": dict(SF_FIELDS), **writeback}},
    })

RETRIEVE = f"{INSTANCE}/services/data/v60.0/composite/sobjects/Account"


class MockOrg:
    """A Salesforce org at the HTTP edge (``responses``) that keeps what it is sent: sObject
    Collections updates change ``values``, retrieves answer from them (``null`` for an id it
    does not hold when ``known`` is given and lacks it)."""

    def __init__(self, known: set[str] | None = None) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.known = known
        self.updates: list[dict[str, Any]] = []
        self.retrieves: list[dict[str, Any]] = []

    def register(self, rsps: Any) -> None:
        """Serve ``PATCH /composite/sobjects`` and ``POST /composite/sobjects/Account``."""
        rsps.add_callback(rsps.PATCH, COLLECTIONS, callback=self._update)
        rsps.add_callback(rsps.POST, RETRIEVE, callback=self._retrieve)

    def _update(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.updates.append(body)
        for r in body["records"]:
            self.values.setdefault(r["id"], {}).update(
                {k: v for k, v in r.items() if k not in ("attributes", "id")})
        results = [{"id": r["id"], "success": True, "errors": []} for r in body["records"]]
        return 200, {"Sforce-Limit-Info": "api-usage=10/15000"}, json.dumps(results)

    def _retrieve(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.retrieves.append(body)
        out: list[dict[str, Any] | None] = []
        for rid in body["ids"]:
            if self.known is not None and rid not in self.known:
                out.append(None)
                continue
            held = self.values.get(rid, {})
            out.append({"attributes": {"type": "Account"},
                        **{f: (rid if f == "Id" else held.get(f)) for f in body["fields"]}})
        return 200, {}, json.dumps(out)


#: the Account fields / company properties the write-back tests may write
SF_WRITTEN = (*SF_FIELDS.values(), "Partner_Deals_Won__c", "Partner_Won_Amount__c",
              "Partner_KPI_Period__c", "Partner_KPI_As_Of__c")
HS_WRITTEN = (*HS_FIELDS.values(), "partner_deals_won", "partner_won_amount", "kpi_period",
              "kpi_as_of")


def clear_written_fields(sb: Sandbox) -> None:
    """Empty every write-back field on every partner in the sandbox (a CRM no push touched
    yet): the session's sandbox is shared, and a push now plans against what the CRM holds."""
    sf = sb.salesforce.store
    with sf.lock:
        for rec in sf.records.get("Account", {}).values():
            for name in SF_WRITTEN:
                if name in rec:
                    rec[name] = None
    for record in sb.hubspot.stores["companies"].by_id.values():
        for name in HS_WRITTEN:
            record.props.pop(name, None)


@pytest.fixture(autouse=True)
def fresh_crm_fields(request: pytest.FixtureRequest) -> None:
    """Before each test that uses the Maven sandbox: its write-back fields emptied."""
    if "maven" in request.fixturenames:
        clear_written_fields(request.getfixturevalue("maven"))


def seed_store(path: Path, source: str, partners: list[tuple[str, str]],
               values: dict[str, dict[str, str]]) -> None:
    """Partners of ``source`` and their 2017-Q4 KPIs (``values``: kpi -> id -> value)."""
    with Store(path) as store:
        store.upsert("partners", [{"source": source, "partner_id": pid, "name": name}
                                  for pid, name in partners])
        rows = [(pid, dict(partners).get(pid), kpi, v)
                for kpi, by_id in values.items() for pid, v in by_id.items()]
        insert_kpis(store, rows)


def insert_kpis(store: Store, rows: list[tuple[str, str | None, str, str]]) -> None:
    """(member, member name, kpi, value) rows of partner KPIs for 2017-Q4, in one statement."""
    if not rows:
        return
    insert_long_rows(store, [("quarter", date(2017, 10, 1), date(2018, 1, 1), "partner", m, n, k,
                               v, 10) for m, n, k, v in rows])

def add_salesforce_preflight(rsps: Any) -> None:
    """The metadata the push's preflight reads before its first write: the org's versions
    (``GET /services/data/``) and its allowance (``GET /limits``), from ``fixtures/salesforce``."""
    import json
    import re

    bodies = Path(__file__).resolve().parents[2] / "fixtures" / "salesforce"
    rsps.get(f"{INSTANCE}/services/data/",
             json=json.loads((bodies / "versions.json").read_text(encoding="utf-8")))
    rsps.get(re.compile(re.escape(f"{INSTANCE}/services/data/v60.0/limits") + "/?"),
             json=json.loads((bodies / "limits.json").read_text(encoding="utf-8")))
