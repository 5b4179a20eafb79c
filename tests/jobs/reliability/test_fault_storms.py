"""Fault storms and faults that must stop a sync, against the CRM sandbox (3,000 synthetic deals)
in this process.

Storms: every route of both CRMs answers, in turn, 429 with ``Retry-After``, 429 without it, 503,
a dropped connection, a slow answer and a body cut short, and Salesforce sessions expire
mid-run; the sync completes with a store equal, row for row, to a clean run's. Nothing sleeps:
the connectors get a ``RetryPolicy`` whose ``sleep`` records the waits (and HubSpot's pacing a
clock that never asks to wait).

Stops: the daily API limit (Salesforce ``api_usage``, HubSpot ``DAILY`` 429), refused
credentials, a body that stays broken through every retry, and a configured field the org does
not show end ``partnerkpi sync`` (run in this process by click's CliRunner, with the recording
sleep) with the documented exit code, one ``error:`` line, and canonical tables and watermarks
exactly as they were before the failing page: the store is copied while a ``delay`` fault holds
the request before it.
"""

from __future__ import annotations

import fnmatch
import itertools
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import jobs.sync
from cli import EXIT_LIMIT, cli
from connectors.http import RetryPolicy
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sync import run_sync
from crm_sandbox.datasets import synthetic
from crm_sandbox.server import Sandbox
from jobs.config import AppConfig
from kpi_engine.store import CANONICAL_TABLES, Store
from tests.helpers.reliability import SANDBOX_SECRETS, diff, snapshot, write_yaml

N_DEALS, SEED = 3000, 11
SF_ROUTES = ("/services/oauth2/token", "/services/data/*/describe",
             "/services/data/*/queryAll/*")
HS_ROUTES = ("/crm/v3/pipelines/*", "/crm/v3/owners/*", "/crm/v3/objects/companies/search",
             "/account-info/*", "/crm/v3/objects/deals", "/crm/v4/associations/*",
             "/crm/v3/objects/deals/batch/read", "/crm/v3/objects/deals/search")
#: One storm per route: each rule fires once, spread out (a rule sees only the requests the
#: rules before it let through), so no request fails twice in a row.
STORM = (
    {"kind": "status", "status": 429, "retry_after": 7},
    {"kind": "status", "status": 429, "after": 1},
    {"kind": "status", "status": 503, "after": 2},
    {"kind": "drop", "after": 3},
    {"kind": "delay", "seconds": 0.03, "after": 4},
    {"kind": "malformed_json", "after": 5},
)

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow


class Sleeps(list[float]):
    """A ``sleep`` that records the seconds asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _policy(sleeps: Sleeps, attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, jitter=0.0, sleep=sleeps)


def _never_waits() -> Callable[[], float]:
    counter = itertools.count(step=100.0)
    return lambda: float(next(counter))


def sf_settings(sb: Sandbox, **overrides: Any) -> dict[str, Any]:
    """``sources.salesforce`` for the in-process sandbox."""
    return {"auth": "password", "login_url": sb.url, "ca_bundle": sb.ca_bundle,
            "username": "sandbox@partnerkpi.example", "password_env": "REL_SF_PASSWORD",
            "security_token_env": "REL_SF_TOKEN", "client_id_env": "REL_SF_CLIENT_ID",
            "client_secret_env": "REL_SF_CLIENT_SECRET", **overrides}


def hs_settings(sb: Sandbox, **overrides: Any) -> dict[str, Any]:
    """``sources.hubspot`` for the in-process sandbox."""
    return {"token_env": "REL_HS_TOKEN", "host": sb.url, "ca_bundle": sb.ca_bundle, **overrides}


def sync_both(store: Store, sb: Sandbox, sf_sleeps: Sleeps, hs_sleeps: Sleeps) -> None:
    """Sync Salesforce, then HubSpot, as ``partnerkpi sync`` does (recording sleeps); HubSpot
    twice: a first sync (list pages with histories), then a full refresh by the search."""
    sf = SalesforceConnector(SalesforceSettings.model_validate(sf_settings(sb)), "USD",
                             policy=_policy(sf_sleeps))
    run_sync(store, sf)
    hs = HubSpotConnector(HubSpotSettings.model_validate(hs_settings(sb)), "USD",
                          policy=_policy(hs_sleeps), monotonic=_never_waits())
    run_sync(store, hs)
    # and again by the keyset search + history batch reads (what incremental runs use)
    hs = HubSpotConnector(HubSpotSettings.model_validate(hs_settings(sb, first_sync="search")),
                          "USD", policy=_policy(hs_sleeps), monotonic=_never_waits())
    run_sync(store, hs, full_refresh=True)


@pytest.fixture(scope="module", autouse=True)
def secrets_env() -> Iterator[None]:
    """The sandbox's credentials in the variables the settings name."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SANDBOX_SECRETS.items():
            mp.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """One in-process sandbox for the module."""
    with Sandbox(synthetic(N_DEALS, SEED)).warm().start() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def clean(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of one clean sync of both CRMs."""
    path = tmp_path_factory.mktemp("clean") / "clean.duckdb"
    with Store(path) as store:
        sync_both(store, sb, Sleeps(), Sleeps())
    return path


@pytest.fixture(autouse=True)
def no_faults(sb: Sandbox) -> Iterator[None]:
    """Each test starts and ends without faults, expiries or a used-up allowance."""
    sb.faults.clear()
    sb.calls.clear()
    yield
    sb.faults.clear()
    sb.salesforce.set_api_usage(0, 15000)
    sb.salesforce.sessions.expire_sessions_after(10**9)


def _expire_sessions_at(sb: Sandbox, n: int) -> threading.Thread:
    """Once the n-th Salesforce query reached the sandbox, the live sessions die two calls
    later (INVALID_SESSION_ID in the middle of paging)."""

    def run() -> None:
        while sum(1 for _, p in list(sb.calls) if "/queryAll/" in p) < n:
            threading.Event().wait(0.002)
        sb.salesforce.sessions.expire_sessions_after(2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_storm_on_every_route_then_store_equals_clean_run(
    sb: Sandbox, clean: Path, tmp_path: Path
) -> None:
    for route in (*SF_ROUTES, *HS_ROUTES):
        for rule in STORM:
            sb.faults.add(path=route, **rule)
    expiries = [_expire_sessions_at(sb, n) for n in (4, 12)]  # queryAll calls
    sf_sleeps, hs_sleeps = Sleeps(), Sleeps()
    with Store(tmp_path / "storm.duckdb") as store:
        sync_both(store, sb, sf_sleeps, hs_sleeps)
    for thread in expiries:
        thread.join(timeout=1)
        assert not thread.is_alive()
    fired: Counter[tuple[str, str, int | None]] = Counter()
    for r in sb.faults.rules:
        fired[(r.path, r.kind, r.status if r.kind == "status" else None)] += r.hits
    for route in (*SF_ROUTES, *HS_ROUTES):  # every route had faults
        assert sum(n for (path, *_), n in fired.items() if path == route) >= 1, route
    for kind in (("status", 429), ("status", 503), ("drop", None), ("delay", None),
                 ("malformed_json", None)):  # every kind fired
        assert sum(n for (_, k, s), n in fired.items() if (k, s) == kind) >= 2, kind
    assert sb.calls.count(("POST", "/services/oauth2/token")) >= 3  # logged in again
    assert sf_sleeps.count(7.0) == 3  # Retry-After honoured: token, describe, query
    assert hs_sleeps.count(7.0) == 8  # one per HubSpot route
    assert 10.0 in hs_sleeps  # HubSpot TEN_SECONDLY 429 without Retry-After: the window
    storm = snapshot(tmp_path / "storm.duckdb")
    expected = snapshot(clean)
    assert storm == expected, diff(expected, storm)


# -- faults that stop the run -------------------------------------------------------------------
@pytest.fixture
def cli_sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Make the CLI's connectors use a recording sleep (and never-waiting HubSpot pacing)."""
    sleeps = Sleeps()

    def make_connector(config: AppConfig, name: str) -> Any:
        settings = getattr(config.sources, name)
        if name == "salesforce":
            return SalesforceConnector(settings, config.reporting_currency,
                                       policy=_policy(sleeps, settings.retry_attempts))
        return HubSpotConnector(settings, config.reporting_currency,
                                policy=_policy(sleeps, settings.retry_attempts),
                                monotonic=_never_waits())

    monkeypatch.setattr(jobs.sync, "make_connector", make_connector)
    return sleeps


def _state(path: Path) -> dict[str, list[tuple]]:
    """Canonical tables plus the watermarks (without their wall-clock column)."""
    out = snapshot(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        out["sync_state"] = con.execute(
            "SELECT source, stream, watermark FROM sync_state ORDER BY ALL").fetchall()
    finally:
        con.close()
    return out


class HoldAndCopy:
    """Hold the ``n``-th ``path`` request with a ``delay`` fault; while it is held, copy the
    store (what is committed before the failing page) and call ``then`` (install the fault)."""

    def __init__(self, sb: Sandbox, store: Path, path: str, n: int,
                 then: Callable[[], None]) -> None:
        self.sb, self.store, self.path, self.n, self.then = sb, store, path, n, then
        self.copy = store.parent / "before" / store.name
        sb.faults.add("delay", path=path, after=n - 1, times=1, seconds=0.6)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while sum(1 for _, p in list(self.sb.calls) if fnmatch.fnmatchcase(p, self.path)) < self.n:
            threading.Event().wait(0.002)
        self.copy.parent.mkdir()
        for file in self.store.parent.glob(self.store.name + "*"):
            shutil.copy(file, self.copy.parent / file.name)
        self.then()

    def before(self) -> dict[str, list[tuple]]:
        """The store as it was while the request was held."""
        self._thread.join(timeout=30)
        duckdb.connect(str(self.copy)).close()
        return _state(self.copy)


def _run_sync(cfg: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(cfg), "sync", *args])


def _config(tmp: Path, sb: Sandbox, db: Path, sf: dict[str, Any] | None = None,
            hs: dict[str, Any] | None = None) -> Path:
    data = {"database": str(db), "reporting_currency": "USD",
            "sources": {"salesforce": sf_settings(sb, retry_attempts=3, **(sf or {})),
                        "hubspot": hs_settings(sb, retry_attempts=3, **(hs or {}))}}
    return write_yaml(tmp / "partnerkpi.yaml", data)


def _error_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1, result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1] == lines[0]
    return lines[0]


def test_salesforce_daily_limit_mid_run_stops_with_the_limit_exit_code(
    sb: Sandbox, tmp_path: Path, cli_sleeps: Sleeps
) -> None:
    db = tmp_path / "store.duckdb"
    # the 7th queryAll: after CurrencyType, DatedConversionRate, stages, owners, partners and
    # the first page of deals
    hold = HoldAndCopy(sb, db, "/services/data/*/queryAll/*", 7,
                       lambda: sb.salesforce.set_api_usage(15000, 15000))
    result = _run_sync(_config(tmp_path, sb, db))
    assert result.exit_code == EXIT_LIMIT
    assert _error_line(result).startswith(
        "error: salesforce: API limit reached: query Opportunity refused with "
        "REQUEST_LIMIT_EXCEEDED")
    before = hold.before()
    assert len(before["deals"]) == 1976  # the first page of deals, and not the second
    assert _state(db) == before


def test_hubspot_daily_limit_mid_run_stops_with_the_limit_exit_code(
    sb: Sandbox, tmp_path: Path, cli_sleeps: Sleeps
) -> None:
    db = tmp_path / "store.duckdb"
    daily = {"status": "error", "message": "You have reached your daily limit.",
             "errorType": "RATE_LIMIT", "policyName": "DAILY"}
    hold = HoldAndCopy(sb, db, "/crm/v3/objects/deals", 22,
                       lambda: sb.faults.add("status", path="/crm/*", status=429, body=daily,
                                             times=None))
    result = _run_sync(_config(tmp_path, sb, db), "--source", "hubspot")
    assert result.exit_code == EXIT_LIMIT
    assert _error_line(result) == (
        "error: HubSpot API limit reached: the portal's daily allowance is used up (GET "
        "/crm/v3/objects/deals); the sync stopped, what was committed is kept; run it again "
        "tomorrow")
    before = hold.before()
    assert len(before["deals"]) == 1000
    assert _state(db) == before


def test_hubspot_broken_json_through_every_retry_stops_with_exit_1(
    sb: Sandbox, tmp_path: Path, cli_sleeps: Sleeps
) -> None:
    db = tmp_path / "store.duckdb"
    hold = HoldAndCopy(sb, db, "/crm/v3/objects/deals", 22,
                       lambda: sb.faults.add("malformed_json", path="/crm/*", times=None))
    result = _run_sync(_config(tmp_path, sb, db), "--source", "hubspot")
    assert result.exit_code == 1
    assert _error_line(result) == (
        "error: HubSpot GET /crm/v3/objects/deals: response body is not JSON (cut off?)")
    # three tries, then stop (10 s waits are the rate-limit window's pacing, also recorded)
    assert [s for s in cli_sleeps if s != 10.0] == [1.0, 2.0]
    before = hold.before()
    assert len(before["deals"]) == 1000
    assert _state(db) == before


def test_salesforce_broken_json_through_every_retry_stops_with_exit_1(
    sb: Sandbox, clean: Path, tmp_path: Path, cli_sleeps: Sleeps
) -> None:
    db = tmp_path / "store.duckdb"
    shutil.copy(clean, db)
    hold = HoldAndCopy(sb, db, "/services/data/*/describe", 8,
                       lambda: sb.faults.add("malformed_json", path="/services/data/*/query*",
                                             times=None))
    result = _run_sync(_config(tmp_path, sb, db))
    assert result.exit_code == 1
    assert _error_line(result) == (
        "error: salesforce query CurrencyType: the response body is not valid JSON")
    assert _state(db) == hold.before() == _state(clean)


@pytest.mark.parametrize(
    ("crm", "settings", "env", "message", "code"),
    [
        pytest.param("salesforce", {}, {"REL_SF_PASSWORD": "wrong-password"},
                     "error: salesforce login failed at {url}/services/oauth2/token: "
                     "invalid_grant (authentication failure)", 6, id="salesforce-bad-password"),
        pytest.param("hubspot", {}, {"REL_HS_TOKEN": "pat-na1-not-a-token"},
                     "error: HubSpot GET /crm/v3/properties/deals: 401 the access token was "
                     "refused; check the private-app token in the environment variable named "
                     "by sources.hubspot.token_env", 6, id="hubspot-bad-token"),
        pytest.param("salesforce", {"partner_field": "Partner_Org__c"}, {},
                     "error: salesforce: Opportunity has no field Partner_Org__c (set by "
                     "sources.salesforce.partner_field); check the API name in Setup, and "
                     "field-level security on the integration user's profile or permission set "
                     "(an admin sees the field, the API user does not)", 1,
                     id="salesforce-field-the-org-does-not-show"),
    ],
)
def test_refused_credentials_or_schema_stop_with_their_exit_code_and_store_unchanged(
    sb: Sandbox, clean: Path, tmp_path: Path, cli_sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch,
    crm: str, settings: dict[str, Any], env: dict[str, str], message: str, code: int,
) -> None:
    db = tmp_path / "store.duckdb"
    shutil.copy(clean, db)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = _config(tmp_path, sb, db, **{{"salesforce": "sf", "hubspot": "hs"}[crm]: settings})
    result = _run_sync(cfg, "--source", crm)
    assert result.exit_code == code  # 6: credentials refused, 1: a field to fix
    assert _error_line(result) == message.format(url=sb.url)
    assert _state(db) == _state(clean)
    assert sb.faults.rules == []
    assert set(CANONICAL_TABLES) <= set(_state(db))
