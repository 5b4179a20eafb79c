"""``partnerkpi report`` and ``run --report``, through click's CliRunner (the demo's report: tests/test_demo.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli import cli
from tests.helpers.report import MavenStore


def test_report_cli_writes_the_file(maven_store: MavenStore, tmp_path: Path) -> None:
    output = tmp_path / "owner.html"
    result = CliRunner().invoke(cli, [
        "--config", str(maven_store.config), "report", "--grain", "month", "--period",
        "2017-05-17", "--dimension", "owner", "--output", str(output)])
    assert result.exit_code == 0, result.output
    size = output.stat().st_size
    assert result.stdout == f"wrote {output} ({size / 1e6:.1f} MB)\n"
    html = output.read_text(encoding="utf-8")
    assert "<title>Owner report, month 2017-05-01 to 2017-05-31</title>" in html


def test_report_cli_bad_period_is_one_line(maven_store: MavenStore, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(maven_store.config), "report",
                                      "--period", "May", "--output", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert result.stderr == "error: --period 'May' is not latest, current or a date YYYY-MM-DD\n"
    result = CliRunner().invoke(cli, ["--config", str(maven_store.config), "report",
                                      "--period", "2015-01-01", "--output",
                                      str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no quarter holding 2015-01-01 in the store (computed: 2016-10-01 to 2017-12-31); "
        "pick a date in that range or run partnerkpi compute\n")
    assert not (tmp_path / "r.html").exists()


def test_report_cli_run_writes_the_report_at_the_end(maven_config_file: Path,
                                                      tmp_path: Path) -> None:
    output = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(cli, ["--config", str(maven_config_file), "run", "--report",
                                      str(output)])
    assert result.exit_code == 0, result.output
    size = output.stat().st_size
    assert 4_700_000 < size < 5_100_000  # plotly.js (4.8 MB) and the page
    assert result.stdout.rstrip().endswith(f"wrote {output} ({size / 1e6:.1f} MB)")
    assert "<title>Partner report, quarter 2017-10-01 to 2017-12-31</title>" in output.read_text(
        encoding="utf-8")
