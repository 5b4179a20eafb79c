"""The command line: help for every command, one-line errors, config problems all at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from tests.helpers.maven import ROOT, maven_config, write_config
from tests.helpers.salesforce import start

COMMANDS = ("sync", "compute", "export", "status", "demo", "sandbox")


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_every_command_has_help_and_is_in_readme(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    assert f"partnerkpi {command}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_cli_missing_config_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARTNERKPI_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["sync"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no config file at partnerkpi.yaml")
    assert result.stderr.count("\n") == 1


def test_cli_config_env_var_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "elsewhere.yaml", maven_config(tmp_path / "s.duckdb"))
    monkeypatch.setenv("PARTNERKPI_CONFIG", str(config))
    before = CliRunner().invoke(cli, ["status"])
    assert before.exit_code == 1
    assert before.stderr == f"error: no store at {tmp_path / 's.duckdb'} yet: run partnerkpi sync first\n"
    assert CliRunner().invoke(cli, ["sync"]).exit_code == 0
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 0
    assert f"store: {tmp_path / 's.duckdb'}" in result.stdout


def test_cli_config_problems_reported_all_at_once(tmp_path: Path) -> None:
    data = maven_config(tmp_path / "s.duckdb")
    data["colour"] = "red"
    data["sources"]["csv"]["deals"]["path"] = "missing.csv"
    data["kpis"]["fiscal_year_start_month"] = 13
    data["kpis"]["quality_score"]["weights"] = {"won_amount": 0.7, "deals_won": 0.7}
    config = write_config(tmp_path / "bad.yaml", data)
    result = CliRunner().invoke(cli, ["--config", str(config), "sync"])
    lines = result.stderr.splitlines()
    assert result.exit_code == 1
    assert len(lines) == 4
    assert all(line.startswith(f"error: {config}: ") for line in lines)
    joined = "\n".join(lines)
    assert "colour: unknown setting" in joined
    assert "sources.csv.deals.path: file " in joined and "missing.csv does not exist" in joined
    assert "kpis.fiscal_year_start_month: Input should be less than or equal to 12" in joined
    assert "kpis.quality_score.weights: weights must sum to 1 (they sum to 1.4)" in joined


def test_cli_compute_one_grain_and_export_filters(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", maven_config(tmp_path / "s.duckdb"))
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "sync"]).exit_code == 0
    result = runner.invoke(cli, ["--config", str(config), "compute", "--grain", "year"])
    assert result.exit_code == 0
    assert "rows" in result.stdout and "year" in result.stdout and "month" not in result.stdout
    out = runner.invoke(cli, ["--config", str(config), "export", "--grain", "year",
                              "--dimension", "team", "--kpi", "deals_won"]).stdout
    body = out.splitlines()[1:]
    assert out.splitlines()[0] == (
        "grain,period_start,dimension,member,member_name,kpi,value,n,period_status")
    # 6 teams closed deals in 2017; in 2016 nothing closed but deals were created (open at its end)
    assert sum(1 for line in body if line.startswith("year,2017-01-01,team,")) == 6
    assert sum(int(line.split(",")[6]) for line in body if line.startswith("year,2017")) == 4238


def test_cli_compute_rejects_reversed_dates(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", maven_config(tmp_path / "s.duckdb"))
    before = CliRunner().invoke(cli, ["--config", str(config), "compute"])
    assert before.exit_code == 1
    assert before.stderr == f"error: no store at {tmp_path / 's.duckdb'} yet: run partnerkpi sync first\n"
    assert not (tmp_path / "s.duckdb").exists()
    assert CliRunner().invoke(cli, ["--config", str(config), "sync"]).exit_code == 0
    result = CliRunner().invoke(cli, ["--config", str(config), "compute", "--from", "2017-06-01",
                                      "--to", "2017-01-01"])
    assert result.exit_code == 1
    assert result.stderr == "error: --from 2017-06-01 is after --to 2017-01-01\n"


@pytest.mark.slow
def test_cli_sync_schema_and_secret_problems_all_at_once_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schema error in the file and in a CRM's section, an unset secret variable and an
    unreadable secrets file: one line each, exit 1, and the CRM sandbox served no request."""
    monkeypatch.delenv("PARTNERKPI_TEST_NO_PASSWORD", raising=False)
    monkeypatch.delenv("PARTNERKPI_TEST_NO_TOKEN", raising=False)
    secrets_dir = tmp_path / "secrets.d"  # a folder where the secrets file should be
    secrets_dir.mkdir()
    with start() as sb:
        config = write_config(tmp_path / "bad.yaml", {
            "database": str(tmp_path / "s.duckdb"),
            "colour": "red",
            "sources": {
                "salesforce": {"login_url": sb.url, "ca_bundle": sb.ca_bundle,
                               "username": "sandbox@partnerkpi.example",
                               "password_env": "PARTNERKPI_TEST_NO_PASSWORD",
                               "page_size": "many"},
                "hubspot": {"host": sb.url, "ca_bundle": sb.ca_bundle,
                            "token_env": "PARTNERKPI_TEST_NO_TOKEN",
                            "secrets_file": str(secrets_dir)},
            },
        })
        result = CliRunner().invoke(cli, ["--config", str(config), "sync"])
        calls = list(sb.calls)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {config}: sources.salesforce.page_size: Input should be a valid integer, "
        "unable to parse string as an integer",
        f"error: {config}: sources.hubspot.secrets_file: file {secrets_dir} does not exist or "
        "is not a file",
        f"error: {config}: colour: unknown setting (check the spelling against "
        "config.example.yaml)",
        f"error: {config}: sources.salesforce.password_env: environment variable "
        "PARTNERKPI_TEST_NO_PASSWORD is not set (export it or add it to the secrets file)",
        f"error: {config}: sources.hubspot.token_env: environment variable "
        "PARTNERKPI_TEST_NO_TOKEN is not set (export it or add it to the secrets file)",
    ]
    assert calls == []
    assert not (tmp_path / "s.duckdb").exists()


def test_cli_secrets_file_supplies_a_variable_and_a_broken_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.errors import ConfigError
    from jobs.config import load_config

    monkeypatch.delenv("PARTNERKPI_TEST_NO_TOKEN", raising=False)
    monkeypatch.delenv("PARTNERKPI_TEST_NO_PASSWORD", raising=False)
    good, broken = tmp_path / "hs.env", tmp_path / "sf.env"
    good.write_text("PARTNERKPI_TEST_NO_TOKEN=pat-na1-0000\n", encoding="utf-8")
    broken.write_bytes(b"PARTNERKPI_TEST_NO_PASSWORD=caf\xe9\n")
    config = write_config(tmp_path / "c.yaml", {"sources": {
        "salesforce": {"username": "u@example.com", "password_env": "PARTNERKPI_TEST_NO_PASSWORD",
                       "secrets_file": str(broken)},
        "hubspot": {"token_env": "PARTNERKPI_TEST_NO_TOKEN", "secrets_file": str(good)},
    }})
    assert load_config(config).source_names() == ["salesforce", "hubspot"]  # status, export
    assert load_config(config, check_secrets=True, sources=["hubspot"]).sources.hubspot
    with pytest.raises(ConfigError) as info:
        load_config(config, check_secrets=True)
    assert info.value.problems == [
        f"{config}: sources.salesforce.secrets_file: secrets file {broken}: byte at offset 31 "
        "is not UTF-8; save it as UTF-8",
        f"{config}: sources.salesforce.password_env: environment variable "
        "PARTNERKPI_TEST_NO_PASSWORD is not set (export it or add it to the secrets file)",
    ]


def test_cli_currency_rates_must_be_above_zero_reported_with_other_problems(
    tmp_path: Path,
) -> None:
    data = maven_config(tmp_path / "s.duckdb")
    data["colour"] = "red"
    data["sources"]["csv"]["currency_rates"] = {"EUR": 0.92, "GBP": 0}
    data["sources"]["hubspot"] = {"token_env": "PARTNERKPI_TEST_NO_TOKEN",
                                  "currency_rates": {"EUR": -1, "JPY": 0, "GBP": 0.79}}
    config = write_config(tmp_path / "bad.yaml", data)
    result = CliRunner().invoke(cli, ["--config", str(config), "status"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {config}: sources.csv.currency_rates: every rate must be a number > 0: GBP 0",
        f"error: {config}: sources.hubspot.currency_rates: every rate must be a number > 0: "
        "EUR -1, JPY 0",
        f"error: {config}: colour: unknown setting (check the spelling against "
        "config.example.yaml)",
    ]


def test_cli_shared_secrets_file_export_lines_every_bad_line_once_and_empty_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PARTNERKPI_TEST_NO_TOKEN", "PARTNERKPI_TEST_NO_PASSWORD", "PARTNERKPI_TEST_ID"):
        monkeypatch.delenv(name, raising=False)
    shared = tmp_path / "partnerkpi.env"
    shared.write_text(
        "# both CRMs\n"
        "export PARTNERKPI_TEST_NO_TOKEN=pat-na1-0000\n"
        "pat-na1-pasted-alone\n"
        "PARTNERKPI_TEST_NO_PASSWORD=\n"
        "export  PARTNERKPI_TEST_ID='client-id'\n"
        "SF SECRET=hunter2\n",
        encoding="utf-8")
    config = write_config(tmp_path / "c.yaml", {"sources": {
        "salesforce": {"username": "u@example.com", "password_env": "PARTNERKPI_TEST_NO_PASSWORD",
                       "client_id_env": "PARTNERKPI_TEST_ID", "client_secret_env": "sfSecret",
                       "secrets_file": str(shared)},
        "hubspot": {"token_env": "PARTNERKPI_TEST_NO_TOKEN", "secrets_file": str(shared)},
    }})
    result = CliRunner().invoke(cli, ["--config", str(config), "sync"])
    assert result.exit_code == 1
    bad_line = (f"error: {config}: sources.salesforce.secrets_file and "
                f"sources.hubspot.secrets_file: secrets file {shared}:{{}}: expected KEY=value "
                "or export KEY=value (the line is not shown)")
    assert result.stderr.splitlines() == [
        bad_line.format(3),
        bad_line.format(6),
        f"error: {config}: sources.salesforce.password_env: environment variable "
        "PARTNERKPI_TEST_NO_PASSWORD is empty (give it the secret's value)",
        f"error: {config}: sources.salesforce.client_secret_env: the environment variable it "
        "names is not set; the name is not shown because it does not look like a variable name "
        "(UPPER_CASE letters, digits, _): if it is a pasted secret, put the secret in the "
        "environment and name the variable here",
    ]  # the token and the client id (export lines) were read; no line's text is shown
    assert "pasted-alone" not in result.output
    assert "hunter2" not in result.output


def test_cli_missing_secrets_file_same_message_for_both_crms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNERKPI_TEST_NO_TOKEN", "pat-na1-0000")
    monkeypatch.setenv("PARTNERKPI_TEST_NO_PASSWORD", "pw")
    config = write_config(tmp_path / "c.yaml", {"sources": {
        "salesforce": {"username": "u@example.com", "password_env": "PARTNERKPI_TEST_NO_PASSWORD",
                       "secrets_file": "missing.env"},
        "hubspot": {"token_env": "PARTNERKPI_TEST_NO_TOKEN", "secrets_file": "missing.env"},
    }})
    result = CliRunner().invoke(cli, ["--config", str(config), "sync"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {config}: sources.{source}.secrets_file: file {tmp_path / 'missing.env'} does "
        "not exist or is not a file" for source in ("salesforce", "hubspot")
    ]
