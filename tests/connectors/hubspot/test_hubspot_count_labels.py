"""Sync counts are labelled by table: HubSpot's deals stream counts deals, and the stage-history
rows (and partners) its pages carry are counted under their own table, in ``sync``'s table,
``run --json`` and ``status --history``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store
from tests.helpers.hubspot import TOKEN_ENV
from tests.helpers.hubspot_world import small_world
from tests.helpers.maven import write_config

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with Sandbox(small_world()) as sb:
        yield write_config(tmp_path / "partnerkpi.yaml", {
            "database": str(tmp_path / "hubspot.duckdb"),
            "sources": {"hubspot": {"host": sb.url, "ca_bundle": sb.ca_bundle,
                                    "token_env": TOKEN_ENV}}})


def _stored(config: Path) -> dict[str, int]:
    with Store(config.parent / "hubspot.duckdb", read_only=True) as store:
        return {t: store.con.execute(f"SELECT count(*) FROM {t} WHERE source = 'hubspot'")
                .fetchall()[0][0] for t in ("deals", "stage_history", "partners")}


def _row(out: str, label: str) -> list[str]:
    lines = [x for x in out.splitlines() if x.startswith("│") and
             x.strip("│").split("│")[0].strip() == label.strip()]
    assert len(lines) == 1, (label, out)
    return [c.strip() for c in lines[0].strip("│").split("│")]


def test_hubspot_sync_counts_deals_and_their_history_apart(config: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(config), "sync"])
    assert result.exit_code == 0, result.output
    stored = _stored(config)
    deals = _row(result.stdout, "deals")
    assert deals[2] == str(stored["deals"])  # inserted: deals only
    history = _row(result.stdout, "stage_history (in deals)")
    assert history[1:5] == ["", str(stored["stage_history"]), "0", "0"]
    assert stored["stage_history"] > stored["deals"]

    code = CliRunner().invoke(cli, ["--config", str(config), "status", "--history", "--json"])
    counts = json.loads(code.stdout)[0]["counts"]["deals"]
    assert counts["inserted"] == stored["deals"]
    assert counts["tables"]["stage_history"]["inserted"] == stored["stage_history"]
