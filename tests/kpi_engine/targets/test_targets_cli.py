"""The commands with a target file: ``compute`` prints the rejected target, ``status`` lists it,
the owner's quarter target rolled up from months is measured; settings are checked when the
config is read. Actuals are summed here from the Maven CSV itself (an independent computation).
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.store import Store
from tests.helpers.maven import MAVEN, maven_config, write_config

AGENT = "Darcel Schlecht"


def _won(agent: str, first: date, end: date) -> Decimal:
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as f:
        return sum((Decimal(r["close_value"]) for r in csv.DictReader(f)
                    if r["sales_agent"] == agent and r["deal_stage"] == "Won"
                    and first <= date.fromisoformat(r["close_date"]) < end), Decimal(0))


@pytest.mark.slow
def test_targets_cli_compute_reports_rejects_and_measures(tmp_path: Path) -> None:
    (tmp_path / "goals").mkdir()
    (tmp_path / "goals" / "targets.csv").write_text(
        "dimension,member,kpi,grain,period_start,target\n"
        f"owner,{AGENT},won_amount,month,2017-04-01,100000\n"
        f"owner,{AGENT},won_amount,month,2017-05-01,100000\n"
        f"owner,{AGENT},won_amount,month,2017-06-01,100000\n"
        "partner,ACME-404,won_amount,quarter,2017-04-01,5000\n", encoding="utf-8")
    data = maven_config(tmp_path / "s.duckdb")
    data["targets"] = {"file": "goals/targets.csv"}  # relative to the config file
    config = write_config(tmp_path / "partnerkpi.yaml", data)
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "sync"]).exit_code == 0
    result = runner.invoke(cli, ["--config", str(config), "compute"])
    assert result.exit_code == 0, result.output
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        (run_id,) = store.con.execute(
            "SELECT run_id FROM sync_runs WHERE source = 'targets'").fetchall()[0]
        row = store.con.execute(
            "SELECT target, target_from, actual, gap FROM target_results "
            "WHERE grain = 'quarter' AND member = ?", [AGENT]).fetchall()
    assert (f"warning: 1 target rejected: member not in the store (SELECT * FROM rejects "
            f"WHERE run_id = {run_id})") in result.stdout.splitlines()
    actual = _won(AGENT, date(2017, 4, 1), date(2017, 7, 1))
    assert row == [(Decimal(300000), "months", actual, Decimal(300000) - actual)]
    # status lists the reject (source targets, stream file, the value)
    status = runner.invoke(cli, ["--config", str(config), "status"]).stdout
    rejects = status.split("rejects (latest first)", 1)[1]
    assert f"│ {run_id}   │ targets │ file   │" in rejects
    assert "│ member │ 'ACME-404' │" in rejects


def test_targets_cli_bad_target_and_tier_settings_are_config_errors(tmp_path: Path) -> None:
    data = maven_config(tmp_path / "s.duckdb")
    data["targets"] = {"writeback_kpi": "deals_closed"}
    data["tiers"] = {"levels": [{"name": "Gold"}, {"name": "gold", "min": {"quality": 1}}]}
    config = write_config(tmp_path / "bad.yaml", data)
    result = CliRunner().invoke(cli, ["--config", str(config), "compute"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {config}: targets.writeback_kpi: unknown KPI 'deals_closed' (a KPI with a "
        "direction: deals_won, deals_created, won_amount, average_deal_size, median_deal_size, "
        "pipeline_open_count, pipeline_open_amount, pipeline_weighted_amount, "
        "pipeline_created_amount, won_amount_share, win_rate, lead_conversion_rate, "
        "sales_velocity, quality_score, deal_success_rate, deals_lost, sales_cycle_days)",
        f"error: {config}: tiers.levels.1.min: unknown tier KPI(s) quality; use won_amount, "
        "deals_won, deals_created, pipeline_created_amount, win_rate, average_deal_size",
    ]
