"""``partnerkpi sync --source hubspot`` against the sandbox: the shared progress and summary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from cli import cli
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from tests.conftest import write_config
from tests.hubspot.hubspot_helpers import TOKEN_ENV
from tests.sandbox.hubspot_world import small_world


def test_cli_sync_hubspot_prints_streams_and_api_calls(tmp_path: Path) -> None:
    with Sandbox(small_world(), clock=Clock(datetime(2024, 6, 1, 10, 0, tzinfo=UTC))) as sb:
        config = write_config(tmp_path / "partnerkpi.yaml", {
            "database": str(tmp_path / "hs.duckdb"),
            "sources": {"hubspot": {"token_env": TOKEN_ENV, "host": sb.url,
                                    "ca_bundle": sb.ca_bundle}},
        })
        result = CliRunner().invoke(cli, ["--config", str(config), "sync", "--source", "hubspot"])
        calls = len(sb.calls)
    assert result.exit_code == 0, result.output
    assert "sync hubspot: ok" in result.output
    assert f"API calls: {calls} used by this run; " in result.output
    for stream in ("stages", "owners", "partners", "deals", "archived_deals"):
        assert stream in result.output
