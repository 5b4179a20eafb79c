"""HubSpot: ``partnerkpi check`` (token info and scopes, properties, write-back targets, the
daily allowance from the rate-limit headers) and the completeness count of deals (a search
with ``limit: 1`` reads ``total``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from connectors.sync import run_sync
from connectors.values import parse_instant
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store
from tests.helpers.hubspot import TOKEN_ENV, connector
from tests.helpers.hubspot_world import small_world
from tests.helpers.maven import write_config

pytestmark = [pytest.mark.usefixtures("token_env"), pytest.mark.slow]

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
FIELDS = {"win_rate": "partner_win_rate", "won_amount": "partner_won_amount"}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(small_world(), clock=Clock(NOW)) as sandbox:
        yield sandbox


def config(sb: Sandbox, tmp_path: Path, **source: Any) -> Path:
    return write_config(tmp_path / "partnerkpi.yaml", {
        "database": str(tmp_path / "hs.duckdb"),
        "sources": {"hubspot": {"token_env": TOKEN_ENV, "host": sb.url, "ca_bundle": sb.ca_bundle,
                                **source}},
        "writeback": {"hubspot": {"fields": FIELDS}},
    })


def test_hubspot_check_reads_token_scopes_properties_and_allowance(
    sb: Sandbox, tmp_path: Path
) -> None:
    sb.calls.clear()
    result = CliRunner().invoke(cli, ["--config", str(config(sb, tmp_path)), "check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(f["check"], f["ok"]) for f in report["findings"]] == [
        ("credentials", True), ("scopes", True), ("fields", True), ("writeback", True),
        ("allowance", True),
    ]
    details = {f["check"]: f["detail"] for f in report["findings"]}
    assert details["scopes"] == ("crm.objects.deals.read, crm.objects.companies.read, "
                                 "crm.objects.owners.read, crm.objects.companies.write granted")
    # the 12 deal properties always read, the partner rule's type and name
    assert details["fields"] == "14 deal and company properties found"
    assert [p for _, p in sb.calls] == [
        "/oauth/v1/access-tokens/pat-na1-sandbox-0000-0000-000000000000",
        "/crm/v3/properties/deals", "/crm/v3/properties/companies",
        "/crm/v3/properties/companies",
    ]
    assert "pat-na1" not in result.stdout  # the token is never shown


def test_hubspot_check_names_a_missing_property_with_its_setting(
    sb: Sandbox, tmp_path: Path
) -> None:
    path = config(sb, tmp_path, deal_properties=["partner_region"],
                  partners={"tier_property": "partner_tier_level"})
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: hubspot: deals have no property partner_region (set by "
        "sources.hubspot.deal_properties); check the internal name in HubSpot settings > "
        "Properties, and that the private app can read it",
        "error: hubspot: companies have no property partner_tier_level (set by "
        "sources.hubspot.partners.tier_property); check the internal name in HubSpot settings "
        "> Properties, and that the private app can read it",
    ]


def test_hubspot_deals_count_matches_the_store_after_each_run(sb: Sandbox) -> None:
    store = Store(":memory:")
    first = run_sync(store, connector(sb))
    sb.clock.advance(3600)
    sb.calls.clear()
    second = run_sync(store, connector(sb))
    live = store.con.execute(
        "SELECT count(*) FROM deals WHERE NOT is_deleted").fetchall()[0][0]
    counts = store.con.execute(
        "SELECT stream, window_start IS NULL, crm_count, store_count, repair_from FROM "
        "stream_counts").fetchall()
    assert first.streams["archived_deals"].complete is True
    assert second.streams["archived_deals"].complete is True
    # run 2's window (watermark - 10 minutes .. the run's start) holds the deal modified last
    # (at the watermark): 1 in the portal, 1 in the store
    assert counts == [("deals", False, 1, 1, None)]
    assert live == 6
    searches = [p for _, p in sb.calls if p.endswith("/deals/search")]
    assert len(searches) == 2  # the incremental search and the count


def test_hubspot_deals_count_mismatch_is_repaired_next_run(sb: Sandbox) -> None:
    """A deal that becomes visible after run 2's search read its window, stamped inside it:
    the portal counts one more than the store; run 3 reads the window again and stores it."""
    store = Store(":memory:")
    run_sync(store, connector(sb))
    watermark = parse_instant(store.watermarks("hubspot")["deals"])
    assert watermark is not None
    run2 = NOW + timedelta(hours=1)
    sb.clock.freeze(run2)
    late: list[str] = []

    def appear(stream: str, counts: Any) -> None:
        if stream == "deals" and not late:
            sb.clock.freeze(watermark + timedelta(seconds=1))
            late.append(sb.hubspot.create("deals", {"dealname": "Late deal", "amount": "5",
                                                    "dealstage": "Prospecting"}))
            sb.clock.freeze(run2)

    second = run_sync(store, connector(sb), progress=appear)
    assert late
    assert second.streams["archived_deals"].complete is False
    window = watermark - timedelta(minutes=10)
    assert store.con.execute(
        "SELECT crm_count, store_count, repair_from FROM stream_counts").fetchall() == [
        (2, 1, window)]  # the deal at the watermark, and the late one
    sb.clock.freeze(run2 + timedelta(hours=1))
    third = run_sync(store, connector(sb))
    assert third.streams["archived_deals"].complete is True
    assert store.con.execute(
        "SELECT count(*) FROM deals WHERE deal_id = ?", [late[0]]).fetchall() == [(1,)]
    assert store.con.execute(
        "SELECT repair_from, repairs FROM stream_counts").fetchall() == [(None, 0)]
