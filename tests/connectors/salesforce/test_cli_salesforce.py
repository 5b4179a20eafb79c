"""``partnerkpi sync --source salesforce`` against the sandbox: progress, summary, exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import LIMIT_EXIT_CODE, cli
from crm_sandbox.server import Sandbox
from tests.helpers.maven import write_config
from tests.helpers.salesforce import start
from tests.helpers.sync_table import stream_cells

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with start() as sandbox:
        yield sandbox


def config(sb: Sandbox, tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "partnerkpi.yaml",
        {
            "database": str(tmp_path / "s.duckdb"),
            "reporting_currency": "USD",
            "sources": {
                "salesforce": {
                    "auth": "password",
                    "login_url": sb.url,
                    "ca_bundle": sb.ca_bundle,
                    "username": "sandbox@partnerkpi.example",
                    "password_env": "SF_PASSWORD",
                    "security_token_env": "SF_TOKEN",
                    "client_id_env": "SF_CLIENT_ID",
                    "client_secret_env": "SF_CLIENT_SECRET",
                    "page_size": 200,
                }
            },
        },
    )


def test_cli_sync_salesforce_prints_progress_and_summary(sb: Sandbox, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(config(sb, tmp_path)), "sync", "--source", "salesforce"]
    )
    assert result.exit_code == 0, result.stderr
    assert "sync salesforce: ok" in result.stdout
    assert stream_cells(result.stdout, "deals")[1:6] == ['3', '453', '0', '0', '0']
    usage = sb.salesforce.usage
    assert (
        f"API calls: {usage.used} used by this run; {usage.max - usage.used} left" in result.stdout
    )
    for word in ("deals", "records", "pages", "records/s"):
        assert word in result.stderr


def test_cli_sync_salesforce_limit_exits_with_its_own_code(sb: Sandbox, tmp_path: Path) -> None:
    sb.salesforce.exhaust_api_limit()
    result = CliRunner().invoke(cli, ["--config", str(config(sb, tmp_path)), "sync"])
    assert result.exit_code == LIMIT_EXIT_CODE
    assert result.stderr.splitlines()[-1].startswith("error: salesforce: API limit reached")


def test_cli_sync_prints_rejects_per_stream_and_status_lists_them(
    sb: Sandbox, tmp_path: Path
) -> None:
    sf = sb.salesforce
    d1, acme = sf.id_for("Opportunity", "D1"), sf.id_for("Account", "customer:Acme Corp")
    sf.update("Opportunity", d1, {"PartnerAccountId": acme})
    path = str(config(sb, tmp_path))
    result = CliRunner().invoke(cli, ["--config", path, "sync"])
    assert result.exit_code == 0, result.stderr
    assert stream_cells(result.stdout, "deals")[1:7] == ['3', '453', '0', '0', '0', '1']
    assert stream_cells(result.stdout, "partners")[1:7] == ['1', '2', '0', '0', '0', '0']
    assert (
        "rejected: 1 bad value (deals 1), handled per on_bad_record; partnerkpi status lists "
        "them, and the store's rejects table has them all (SELECT * FROM rejects WHERE run_id "
        "= 1)\n"
    ) in result.stdout
    status = CliRunner().invoke(cli, ["--config", path, "status"])
    assert status.exit_code == 0, status.stderr
    lines = status.stdout.splitlines()
    deals = next(line for line in lines if line.startswith("│ salesforce │ deals "))
    cells = [cell.strip() for cell in deals.split("│")]
    assert (cells[3], cells[5], cells[6]) == ("ok", "453", "1")  # last run, records, rejected
    assert "rejects (latest first)" in status.stdout
    at = next(i for i, line in enumerate(lines) if f"│ {d1} " in line)
    cells = [line.split("│")[1:-1] for line in lines[at:at + 2]]  # the reason wraps
    assert [c.strip() for c in cells[0][:6]] == [
        "1", "salesforce", "deals", d1, "PartnerAccountId", repr(acme)
    ]
    assert " ".join(c[6].strip() for c in cells) == (
        "is not a partner Account synced from this org (not matched by partner_filter, or "
        "deleted)"
    )


def test_cli_sync_salesforce_non_pem_ca_bundle_is_fatal_at_once(
    sb: Sandbox, tmp_path: Path
) -> None:
    bundle = tmp_path / "not-pem.pem"
    bundle.write_text("not a certificate\n", encoding="utf-8")
    path = config(sb, tmp_path)
    text = path.read_text(encoding="utf-8").replace(str(sb.ca_bundle), str(bundle))
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "sync", "--source", "salesforce"])
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line] == [
        f"error: salesforce login at {sb.url}/services/oauth2/token: TLS failed (the CA bundle "
        f"holds no readable PEM certificate); check login_url and ca_bundle {bundle}"
    ]  # one line, and no "try 2 again" warning: not retried
    assert sb.calls == []
