"""``partnerkpi check`` against the Salesforce sandbox, and ``sync`` / ``push`` running the same
checks before their first data request, naming every problem at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from crm_sandbox.server import Sandbox
from tests.helpers.maven import write_config
from tests.helpers.salesforce import start

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]

FIELDS = {"win_rate": "Partner_Win_Rate__c", "won_amount": "Partner_Won_Amount__c"}
FLS = ("field-level security on the integration user's profile or permission set (an admin "
       "sees the field, the API user does not)")


def config(sb: Sandbox, tmp_path: Path, source: dict[str, Any] | None = None,
           writeback: dict[str, Any] | None = None) -> Path:
    return write_config(tmp_path / "partnerkpi.yaml", {
        "database": str(tmp_path / "s.duckdb"),
        "reporting_currency": "USD",
        "sources": {"salesforce": {
            "auth": "password", "login_url": sb.url, "ca_bundle": sb.ca_bundle,
            "username": "sandbox@partnerkpi.example", "password_env": "SF_PASSWORD",
            "security_token_env": "SF_TOKEN", "client_id_env": "SF_CLIENT_ID",
            "client_secret_env": "SF_CLIENT_SECRET", **(source or {}),
        }},
        "writeback": {"salesforce": {"fields": FIELDS, **(writeback or {})}},
    })


def data_requests(sb: Sandbox) -> list[str]:
    """Requests that read or write records (queries, Bulk jobs, writes), not metadata."""
    return [p for m, p in sb.calls
            if "/query" in p or "/jobs/" in p or m == "PATCH"]


def test_check_passes_every_check_and_reads_no_data(tmp_path: Path) -> None:
    with start() as sb:
        path = config(sb, tmp_path)
        sb.calls.clear()
        result = CliRunner().invoke(cli, ["--config", str(path), "check", "--json"])
        assert data_requests(sb) == []
        used = sb.salesforce.usage.used
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [(f["check"], f["ok"]) for f in report["findings"]] == [
        ("credentials", True), ("api_version", True), ("fields", True), ("scopes", True),
        ("writeback", True), ("allowance", True),
    ]
    details = {f["check"]: f["detail"] for f in report["findings"]}
    assert details["api_version"] == ("60.0 (the org offers 40.0..66.0; needed: sync 47.0, "
                                      "push 42.0)")
    # /limits answers after the login, the describes and itself; the Account describe of the
    # write-back check comes after it
    assert details["allowance"] == (f"{15000 - (used - 1)} of 15000 daily API calls left (sync "
                                    "stops at 12000 used)")
    assert details["writeback"] == "2 target fields on Account checked"


def test_check_names_every_problem_at_once(tmp_path: Path) -> None:
    with start() as sb:
        path = config(sb, tmp_path,
                      {"partner_field": "Partner_Org__c", "owner_unit_field": "Region__c"},
                      {"fields": {**FIELDS, "deals_won": "Partner_Deals_Won_Q__c",
                                  "quality_score": "BillingLatitude"},
                       "allow_standard_fields": ["BillingLatitude"]})
        sb.calls.clear()
        result = CliRunner().invoke(cli, ["--config", str(path), "check"])
        assert data_requests(sb) == []
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: salesforce: User has no field Region__c (set by "
        f"sources.salesforce.owner_unit_field); check the API name in Setup, and {FLS}",
        "error: salesforce: Opportunity has no field Partner_Org__c (set by "
        f"sources.salesforce.partner_field); check the API name in Setup, and {FLS}",
        "error: salesforce: Account has no field Partner_Deals_Won_Q__c "
        "(writeback.salesforce.fields.deals_won); an admin creates it in Setup > Object Manager "
        "> Account > Fields & Relationships > New (Percent for rates, Currency for amounts, "
        "Number otherwise) and gives the integration user Edit access; if it exists, "
        "field-level security on the integration user's profile or permission set hides it (an "
        "admin sees it, the API user does not)",
        "error: salesforce: Account.BillingLatitude is not updateable "
        "(writeback.salesforce.fields.quality_score); give the integration user edit access to "
        "it",
    ]


def test_sync_and_push_stop_before_the_first_data_request(tmp_path: Path) -> None:
    """The same checks run first: a version too old for push (41.0 < 42.0, case C-18), and for
    sync (41.0 < 47.0), refused before any query or write."""
    with start() as sb:
        path = config(sb, tmp_path, {"api_version": "41.0"})
        sb.calls.clear()
        synced = CliRunner().invoke(cli, ["--config", str(path), "sync"])
        pushed = CliRunner().invoke(cli, ["--config", str(path), "push"])
        assert data_requests(sb) == []
    assert synced.exit_code == pushed.exit_code == 1
    newest = ("the newest the org offers is 66.0: set sources.salesforce.api_version to it")
    assert [line for line in synced.stderr.splitlines() if line.strip()] == [
        "error: salesforce: sources.salesforce.api_version 41.0 is older than sync needs: 47.0 "
        f"(Bulk API 2.0 query jobs); {newest}"]
    assert [line for line in pushed.stderr.splitlines() if line.strip()] == [
        "error: salesforce: sources.salesforce.api_version 41.0 is older than push needs: 42.0 "
        f"(sObject Collections (composite/sobjects)); {newest}"]
