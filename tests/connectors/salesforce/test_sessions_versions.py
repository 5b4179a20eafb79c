"""Sessions and API versions (Salesforce): a session that dies on any call path, a revoked
grant, and case C-18 (retired or too-old API versions).

C-18's expected values: a version below what the enabled features need is refused before any
data request (47.0 for Bulk API 2.0 in ``sync``, 42.0 for ``push``), as is a version the org
no longer lists in ``GET /services/data/``; the message names ``sources.salesforce.api_version``,
the minimum and the newest version the org offers (the sandbox: 66.0); a 410 is never retried.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import EXIT_AUTH, cli
from connectors.errors import ConfigError
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.http import VersionRetired
from connectors.sync import run_sync
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store
from tests.helpers.maven import write_config
from tests.helpers.salesforce import NOW, Sleeps, policy, sandbox_settings, snapshot, start, sync

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]


def config(sb: Sandbox, tmp_path: Path) -> Path:
    """A config syncing the sandbox's Salesforce into ``tmp_path/s.duckdb``."""
    return write_config(tmp_path / "partnerkpi.yaml", {
        "database": str(tmp_path / "s.duckdb"), "reporting_currency": "USD",
        "sources": {"salesforce": {
            "auth": "password", "login_url": sb.url, "ca_bundle": sb.ca_bundle,
            "username": "sandbox@partnerkpi.example", "password_env": "SF_PASSWORD",
            "security_token_env": "SF_TOKEN", "client_id_env": "SF_CLIENT_ID",
            "client_secret_env": "SF_CLIENT_SECRET"}},
    })


def test_session_dying_at_any_call_logs_in_again_once_with_the_same_rows(
    tmp_path: Path, sleeps: Sleeps
) -> None:
    """Run 2 (a week later: the hard-delete sweep and the field refresh are due, the refresh
    of 453 deals goes through Bulk API 2.0) with the session killed before its k-th API call,
    for every k: each run ends ok after one new login, with the rows of an undisturbed run."""
    with start() as sb:
        settings = sandbox_settings(sb, page_size=200, bulk_threshold=100)
        base = tmp_path / "base.duckdb"
        with Store(base) as store:
            sync(store, settings, sleeps, now=NOW)
        later = NOW + timedelta(days=8)
        sb.clock.freeze(later)
        shutil.copy(base, tmp_path / "clean.duckdb")
        with Store(tmp_path / "clean.duckdb") as store:
            clean, connector = sync(store, settings, sleeps, now=later)
            expected = snapshot(store)
        calls = connector.api_calls
        # deals, owners, and the OpportunityPartner links (they read Opportunity.AccountId
        # through a relationship, so their stream is refreshed too)
        assert clean.streams["field_refresh"].unchanged == 453 + 2 + 452
        assert clean.streams["deleted_sweep"].pages == 1
        for k in range(calls):
            path = tmp_path / f"run{k}.duckdb"
            shutil.copy(base, path)
            connector = SalesforceConnector(settings, "USD", policy=policy(sleeps), now=later)
            connector.client.connect()
            sb.salesforce.expire_sessions_after(k)
            with Store(path) as store:
                result = run_sync(store, connector)
                assert (k, result.status, connector.client.logins) == (k, "ok", 2)
                assert snapshot(store) == expected


def test_revoked_grant_exits_6_with_one_line_and_keeps_the_data(tmp_path: Path) -> None:
    with start() as sb:
        path = config(sb, tmp_path)
        first = CliRunner().invoke(cli, ["--config", str(path), "sync"])
        assert first.exit_code == 0, first.stderr
        with Store(tmp_path / "s.duckdb") as store:
            before = snapshot(store)
        sb.salesforce.revoke_grant()
        second = CliRunner().invoke(cli, ["--config", str(path), "sync"])
        with Store(tmp_path / "s.duckdb", read_only=True) as store:
            assert snapshot(store) == before
            # the preflight stopped it before its first data request, recorded as failed
            assert store.con.execute(
                "SELECT status FROM sync_runs ORDER BY run_id"
            ).fetchall() == [("ok",), ("failed",)]
    assert second.exit_code == EXIT_AUTH == 6
    assert [line for line in second.stderr.splitlines() if line.strip()] == [
        f"error: salesforce login failed at {sb.url}/services/oauth2/token: invalid_grant "
        "(expired access/refresh token)"
    ]


@pytest.mark.parametrize(
    ("version", "purpose", "line"),
    [
        ("30.0", "sync", "salesforce: sources.salesforce.api_version 30.0 is not offered by the "
         "org (retired, or not yet released); sync needs 47.0 or later (Bulk API 2.0 query "
         "jobs); the newest the org offers is 66.0: set sources.salesforce.api_version to it"),
        ("45.0", "sync", "salesforce: sources.salesforce.api_version 45.0 is older than sync "
         "needs: 47.0 (Bulk API 2.0 query jobs); the newest the org offers is 66.0: set "
         "sources.salesforce.api_version to it"),
    ],
    ids=["retired-30.0", "bulk-needs-47.0"],
)
def test_api_version_refused_before_any_data_request_c18(
    version: str, purpose: str, line: str, sleeps: Sleeps
) -> None:
    with start() as sb:
        sb.calls.clear()
        with pytest.raises(ConfigError) as caught:
            sync(Store(":memory:"), sandbox_settings(sb, api_version=version), sleeps)
        assert caught.value.problems == [line]
        # metadata only (describes, for the other problems): no query, no Bulk job
        assert [p for _, p in sb.calls if "/query" in p or "/jobs/" in p] == []


def test_retired_version_answers_410_never_retried_c18(sleeps: Sleeps) -> None:
    with start() as sb:
        settings = sandbox_settings(sb, api_version="30.0")
        connector = SalesforceConnector(settings, "USD", policy=policy(sleeps))
        with pytest.raises(VersionRetired) as caught:
            connector.client.describe("Opportunity")
        assert sleeps == []
        assert str(caught.value) == (
            "salesforce describe Opportunity: HTTP 410 GONE: API version 30.0 has been retired "
            "and is no longer supported (the API version is retired: set "
            "sources.salesforce.api_version to a version the org lists at GET /services/data/; "
            "partnerkpi check names the newest)"
        )
        assert sb.calls.count(("GET", "/services/data/v30.0/sobjects/Opportunity/describe")) == 1
