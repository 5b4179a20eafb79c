"""``partnerkpi demo``: the real data set served by the CRM sandbox as a Salesforce org and a
HubSpot portal, the main job run against each (one run of the demo for the whole module)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from cli import cli
from kpi_engine.store import Store

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

PARTNERS = ["Melvin Marxen Partners", "Summer Sewald Partners", "Rocco Neubert Partners",
            "Celia Rouche Partners", "Dustin Brinkmann Partners", "Cara Losch Partners"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    workdir = tmp_path_factory.mktemp("demo")
    return workdir, CliRunner().invoke(cli, ["demo", "--workdir", str(workdir)])


def _leaderboards(stdout: str) -> list[list[str]]:
    """The partner names of each leaderboard, in printed order."""
    boards, current = [], None
    for line in stdout.splitlines():
        if line.startswith("partner leaderboard, quarter starting 2017-10-01"):
            current = []
            boards.append(current)
        elif current is not None and line.startswith("│") and "Partners" in line:
            current.append(line.split("│")[2].strip())
        elif current is not None and line.startswith("└"):
            current = None
    return boards


def test_demo_syncs_both_crms_and_prints_equal_leaderboards(demo: tuple[Path, Result]) -> None:
    workdir, result = demo
    assert result.exit_code == 0, result.output
    assert "sync salesforce: ok" in result.stdout
    assert "sync hubspot: ok" in result.stdout
    assert _leaderboards(result.stdout) == [PARTNERS, PARTNERS]


def test_demo_leaves_stores_configs_and_reports(demo: tuple[Path, Result]) -> None:
    workdir, result = demo
    for crm in ("salesforce", "hubspot"):
        database = workdir / f"{crm}.duckdb"
        assert f"DuckDB file: {database}" in result.stdout
        config = yaml.safe_load((workdir / f"{crm}.yaml").read_text(encoding="utf-8"))
        assert config["database"] == str(database)
        assert list(config["sources"]) == [crm]
        with Store(database, read_only=True) as store:
            deals = store.con.execute(
                "SELECT count(*) FROM deals WHERE source = ? AND NOT is_deleted", [crm]
            ).fetchall()
        assert deals == [(8800,)]
        report = workdir / f"{crm}-report.html"
        assert f"report: {report}" in result.stdout
        assert "<title>Partner report, quarter 2017-10-01 to 2017-12-31</title>" in \
            report.read_text(encoding="utf-8")
    assert result.stdout.rstrip().splitlines()[-1] == (
        f"try: partnerkpi --config {workdir / 'salesforce.yaml'} export --grain quarter "
        "--dimension partner")


def test_demo_push_plan_writes_nothing(demo: tuple[Path, Result]) -> None:
    _, result = demo
    assert result.stdout.count("dry run: 18 fields to write, 0 unchanged, 0 kept, 0 skipped by "
                               "policy; 1 read calls; nothing written") == 2
    assert "Partner_Win_Rate__c" in result.stdout
    assert "partner_win_rate" in result.stdout


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_demo_configs_serve_every_offline_command_after_the_demo(
        demo: tuple[Path, Result], crm: str) -> None:
    workdir, _ = demo
    config = workdir / f"{crm}.yaml"
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))["sources"][crm]
    ca_bundle = Path(settings["ca_bundle"])
    assert not ca_bundle.exists()  # the sandbox removed its CA when the demo ended
    with Store(workdir / f"{crm}.duckdb", read_only=True) as store:
        expected = store.con.execute(
            "SELECT member, value FROM kpi_values WHERE grain = 'quarter' "
            "AND dimension = 'partner' AND kpi = 'win_rate' AND period_start = DATE '2017-10-01' "
            "ORDER BY member").fetchall()
    runner = CliRunner()
    for args in (["compute"], ["status"], ["status", "--json"], ["health", "--max-age", "1d"],
                 ["report", "--output", str(workdir / f"{crm}-again.html")]):
        result = runner.invoke(cli, ["--config", str(config), *args])
        assert result.exit_code == 0, (args, result.output)
    result = runner.invoke(cli, ["--config", str(config), "export", "--grain", "quarter",
                                 "--dimension", "partner", "--kpi", "win_rate", "--period",
                                 "2017-10-01"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()[1:]]
    assert [(r[3], r[6]) for r in rows] == [(m, format(v.normalize(), "f")) for m, v in expected]
    assert len(rows) == 6


def test_demo_sync_counts_8800_deals_in_both_crms(demo: tuple[Path, Result]) -> None:
    workdir, result = demo
    deals = [[c.strip() for c in line.strip("│").split("│")] for line in result.stdout.splitlines()
             if line.startswith("│ deals ")]
    assert [row[2] for row in deals] == ["8800", "8800"]  # salesforce, hubspot: inserted
    with Store(workdir / "hubspot.duckdb", read_only=True) as store:
        (history,) = store.con.execute("SELECT count(*) FROM stage_history").fetchall()[0]
    (row,) = [line for line in result.stdout.splitlines()
              if line.startswith("│   stage_history (in deals) ")]
    assert [c.strip() for c in row.strip("│").split("│")][2] == str(history)


def test_demo_reports_show_the_pipeline_waterfall(demo: tuple[Path, Result]) -> None:
    workdir, _ = demo
    for crm in ("salesforce", "hubspot"):
        html = (workdir / f"{crm}-report.html").read_text(encoding="utf-8")
        assert 'id="chart-waterfall"' in html
        assert "Pipeline waterfall of the quarter (USD)" in html
        with Store(workdir / f"{crm}.duckdb", read_only=True) as store:
            [(won, n)] = store.con.execute(
                "SELECT value, n FROM kpi_values WHERE grain = 'quarter' AND period_start = "
                "DATE '2017-10-01' AND dimension = 'overall' AND kpi = 'waterfall_won'").fetchall()
        # the data set's won amount of 2017 Q4, in the chart's "won" bar label
        assert (won, n) == (2802496, 1196)
        assert r"2,802,496\u003cbr\u003e1196 deals" in html  # plotly escapes "<" in JSON


def _credit_tables(stdout: str) -> list[dict[str, tuple[str, str]]]:
    """Each CRM's "partner credit" table: partner name -> (sourced won, influenced won)."""
    tables, current = [], None
    for line in stdout.splitlines():
        if line.startswith("partner credit (full), quarter starting 2017-10-01"):
            current = {}
            tables.append(current)
        elif current is not None and line.startswith("│"):
            name, sourced, influenced = (c.strip() for c in line.split("│")[1:4])
            current[name] = (sourced, influenced)
        elif current is not None and line.startswith("└"):
            current = None
    return tables


def test_demo_shows_sourced_and_influenced_equal_in_both_crms(
        demo: tuple[Path, Result]) -> None:
    from datetime import date
    from decimal import Decimal

    from crm_sandbox.datasets import load_maven
    from crm_sandbox.synthetic import add_partner_links

    _, result = demo
    # worked out from the served World: Q4 2017 won deals; the deal's own partner sourced it,
    # its labelled links (Influenced by, Reseller, Co-sell) influenced it, each in full
    world = add_partner_links(load_maven())
    names = {p.key: p.name for p in world.partners}
    won = {s.key for s in world.stages if s.is_won}
    sourced: dict[str, Decimal] = {}
    influenced: dict[str, Decimal] = {}
    for d in world.deals:
        if (d.stage_key in won and d.close_date and d.amount is not None and not d.is_deleted
                and date(2017, 10, 1) <= d.close_date < date(2018, 1, 1)):
            sourced[d.partner_key] = sourced.get(d.partner_key, Decimal(0)) + d.amount
            for key, _label, _primary in d.partner_links:
                influenced[key] = influenced.get(key, Decimal(0)) + d.amount
    expected = {names[k]: (f"{sourced.get(k, 0):,.0f}", f"{influenced[k]:,.0f}"
                           if k in influenced else "") for k in names}
    tables = _credit_tables(result.stdout)
    assert tables == [expected, expected]
    assert len(influenced) == 6
