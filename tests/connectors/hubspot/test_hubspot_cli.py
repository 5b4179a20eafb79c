"""``partnerkpi sync --source hubspot`` against the sandbox: the shared progress and summary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from cli import cli
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from tests.helpers.hubspot import TOKEN_ENV
from tests.helpers.hubspot_world import small_world
from tests.helpers.maven import write_config

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow


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


@pytest.mark.parametrize(
    ("ca_bundle", "stderr"),
    [
        pytest.param(None, "error: HubSpot GET /oauth/v1/access-tokens/<token>: TLS failed "
                     "(certificate "
                     "verify failed: unable to get local issuer certificate); check host {host}, "
                     "and set ca_bundle if a proxy or a private CA signs its certificate",
                     id="no-ca_bundle"),
        pytest.param("missing.pem", "error: {config}: sources.hubspot.ca_bundle: file "
                     "{tmp}/missing.pem does not exist or is not a file", id="missing-file"),
        # the first call of a sync is the preflight's token info
        pytest.param("not-pem.pem", "error: HubSpot GET /oauth/v1/access-tokens/<token>: TLS "
                     "failed (the CA bundle holds no readable PEM certificate); check host {host} and "
                     "ca_bundle {tmp}/not-pem.pem", id="not-pem"),
    ],
)
def test_cli_sync_hubspot_tls_problem_is_one_line_naming_host_and_ca_bundle(
    tmp_path: Path, ca_bundle: str | None, stderr: str
) -> None:
    (tmp_path / "not-pem.pem").write_text("not a certificate\n", encoding="utf-8")
    with Sandbox(small_world()) as sb:
        source = {"token_env": TOKEN_ENV, "host": sb.url,
                  **({"ca_bundle": ca_bundle} if ca_bundle else {})}
        config = write_config(tmp_path / "partnerkpi.yaml", {
            "database": str(tmp_path / "hs.duckdb"), "sources": {"hubspot": source}})
        result = CliRunner().invoke(cli, ["--config", str(config), "sync", "--source",
                                          "hubspot"])
        calls = len(sb.calls)
    expected = stderr.format(host=sb.url, config=config, tmp=tmp_path)
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line] == [expected]
    assert calls == 0  # no request reached the sandbox: TLS failed first, and was not retried
    if ca_bundle != "missing.pem":
        with duckdb.connect(str(tmp_path / "hs.duckdb"), read_only=True) as con:
            runs = con.execute("SELECT status, error FROM sync_runs").fetchall()
        assert runs == [("failed", expected.removeprefix("error: "))]
