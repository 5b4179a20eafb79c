"""``partnerkpi run`` (sync -> compute -> push) and the store lock; config checks; docs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from cli import cli
from connectors.errors import ConfigError
from crm_sandbox.server import Sandbox
from jobs.config import AppConfig
from jobs.run import make_pusher
from kpi_engine.lock import LockedError, StoreLock
from tests.helpers.maven import ROOT, write_config
from tests.helpers.writeback import SF_FIELDS, config_dict, writes


@pytest.fixture
def sf_config_file(maven: Sandbox, store_path: Path, tmp_path: Path) -> Path:
    """Salesforce only: sync it, compute, push to it."""
    data = config_dict(maven, store_path, sources=("salesforce",),
                       writeback={"salesforce": {"fields": dict(SF_FIELDS)}})
    return write_config(tmp_path / "partnerkpi.yaml", data)


@pytest.mark.slow
def test_run_twice_without_crm_change_writes_nothing_the_second_time(
    maven: Sandbox, sf_config_file: Path
) -> None:
    maven.calls.clear()
    first = CliRunner().invoke(cli, ["--config", str(sf_config_file), "run"])
    assert first.exit_code == 0, first.output
    assert "push salesforce: 6 written, 0 failed" in first.output
    assert len(writes(maven)) == 1
    maven.calls.clear()
    second = CliRunner().invoke(cli, ["--config", str(sf_config_file), "run", "--json"])
    assert second.exit_code == 0, second.output
    summary = json.loads(second.stdout)
    # our own writes bumped SystemModstamp: the partners come back, unchanged, and nothing echoes
    assert summary["sync"][0]["streams"]["partners"]["updated"] + summary["sync"][0]["streams"][
        "partners"]["unchanged"] == 6
    (push,) = summary["push"]
    assert (summary["status"], summary["exit_code"]) == ("ok", 0)
    assert (push["write_calls"], push["records_written"], push["fields_unchanged"]) == (0, 0, 18)
    assert writes(maven) == []


@pytest.mark.slow
def test_run_while_another_run_holds_the_store_exits_3(
    maven: Sandbox, sf_config_file: Path, store_path: Path
) -> None:
    maven.calls.clear()
    with StoreLock(store_path, command="partnerkpi run"):
        result = CliRunner().invoke(cli, ["--config", str(sf_config_file), "run", "--json"])
    assert result.exit_code == 3
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["step"]) == ("locked", "lock")
    assert summary["lock_holder"]["pid"] == os.getpid()
    assert f"locked by partnerkpi run (pid {os.getpid()}" in summary["error"]
    assert maven.calls == []  # nothing synced, nothing pushed


@pytest.mark.slow
def test_run_when_duckdb_file_is_held_by_another_process_exits_3(
    maven: Sandbox, sf_config_file: Path, store_path: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(store_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        result = CliRunner().invoke(cli, ["--config", str(sf_config_file), "run"])
    finally:
        holder.communicate("")
    assert result.exit_code == 3
    assert "error: lock: cannot open the store" in result.stderr
    assert not Path(str(store_path) + ".lock").exists()  # our lock file is released


@pytest.mark.slow
def test_push_while_locked_exits_3(sf_config_file: Path, store_path: Path) -> None:
    with StoreLock(store_path, command="partnerkpi run"):
        result = CliRunner().invoke(cli, ["--config", str(sf_config_file), "push"])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: the store is locked by partnerkpi run (pid ")


def test_lock_second_holder_refused_then_free_after_release(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    with StoreLock(db, command="partnerkpi run") as first:
        assert json.loads(first.path.read_text())["pid"] == os.getpid()
        with pytest.raises(LockedError) as locked:
            StoreLock(db).acquire()
        assert locked.value.holder["command"] == "partnerkpi run"
    assert not first.path.exists()
    with StoreLock(db) as again:
        assert again.took_over is None


def test_lock_stale_file_of_dead_process_is_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = {"pid": int(dead.stdout), "host": "h", "command": "partnerkpi run",
             "started_at": "2024-01-01T00:00:00+00:00"}
    Path(str(db) + ".lock").write_text(json.dumps(stale))
    with StoreLock(db) as lock:
        assert lock.took_over == stale
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


# -- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "extra", "problem"), [
    ({"win_rate": "IsPartner"}, {}, "IsPartner is a partner or identity field"),
    ({"win_rate": "IsPartner"}, {"allow_standard_fields": ["IsPartner"]},
     "IsPartner is a partner or identity field"),
    ({"win_rate": "AnnualRevenue"}, {}, "AnnualRevenue is a standard field"),
    ({"win_rat": "Partner_Win_Rate__c"}, {}, "unknown KPI 'win_rat'"),
    ({"win_rate": "X__c", "quality_score": "x__c"}, {}, "both write the field"),
], ids=["is-partner", "is-partner-allowed", "standard", "unknown-kpi", "duplicate"])
def test_writeback_config_refuses(fields: dict, extra: dict, problem: str) -> None:
    with pytest.raises(ValidationError) as bad:
        AppConfig.model_validate({"writeback": {"salesforce": {"fields": fields, **extra}}})
    assert problem in str(bad.value)


def test_writeback_config_allows_a_listed_standard_field() -> None:
    config = AppConfig.model_validate({"writeback": {"salesforce": {
        "fields": {"won_amount": "AnnualRevenue"}, "allow_standard_fields": ["AnnualRevenue"]}}})
    assert config.writeback.salesforce is not None
    assert (config.writeback.salesforce.grain, config.writeback.salesforce.period) == (
        "quarter", "latest_complete")


@pytest.mark.slow
def test_writeback_field_also_pulled_is_refused(maven: Sandbox, tmp_path: Path) -> None:
    data = config_dict(maven, tmp_path / "s.duckdb", sources=("salesforce",),
                       writeback={"salesforce": {"fields": dict(SF_FIELDS)}})
    data["sources"]["salesforce"]["partner_tier_field"] = "Partner_Quality_Score__c"
    with pytest.raises(ConfigError) as echo:
        make_pusher(AppConfig.model_validate(data), "salesforce")
    assert echo.value.problems == [
        "writeback.salesforce.fields.quality_score: Partner_Quality_Score__c is also pulled by "
        "sources.salesforce; a KPI field must not be read back as data"]


@pytest.mark.slow
def test_stream_field_lists_do_not_pull_kpi_fields(maven: Sandbox) -> None:
    """No echo: the partner streams read name/type/tier, never a KPI field."""
    from connectors.salesforce.settings import SalesforceSettings
    from connectors.salesforce.streams import declare_streams
    from tests.helpers.writeback import HS_FIELDS, hs_source, sf_source

    sf = declare_streams(SalesforceSettings.model_validate(sf_source(maven)))
    pulled = {f.lower() for spec in sf for f in spec.fields}
    assert not pulled & {f.lower() for f in SF_FIELDS.values()}
    config = AppConfig.model_validate(config_dict(maven, Path("x.duckdb")))
    from jobs.run import pulled_fields

    assert not pulled_fields(config, "hubspot") & set(HS_FIELDS.values())
    assert config.sources.hubspot is not None
    assert not set(config.sources.hubspot.properties()) & set(HS_FIELDS.values())
    assert hs_source(maven)["host"] == maven.url


def test_config_example_writeback_block_is_valid() -> None:
    import re

    import yaml

    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    block = re.search(r"# >>> writeback.*?\n(.*?)# <<< writeback", text, flags=re.DOTALL)
    assert block is not None
    body = block.group(1)
    body = body[body.index("# writeback:"):]
    data = yaml.safe_load("\n".join(line.removeprefix("# ") for line in body.splitlines()))
    config = AppConfig.model_validate({"writeback": data["writeback"]})
    assert config.writeback.targets() == ["salesforce", "hubspot"]


@pytest.mark.parametrize("command", ["push", "run"])
def test_cli_push_and_run_have_help_and_are_in_readme(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert f"partnerkpi {command}" in (ROOT / "README.md").read_text(encoding="utf-8")
