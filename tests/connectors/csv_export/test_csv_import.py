"""The CRM-export (CSV) source end to end through the CLI, on the real Maven data set.

Expected figures are computed here from the CSV with the csv module, independently of the engine.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.store import Store
from tests.helpers.maven import MAVEN, maven_config, write_config
from tests.helpers.sync_table import stream_cells


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def _expected_quarter(quarter_months: range, year: int = 2017) -> dict[str, Decimal | int]:
    won = lost = 0
    won_amount = Decimal(0)
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            close = row["close_date"]
            if not close or int(close[:4]) != year or int(close[5:7]) not in quarter_months:
                continue
            if row["deal_stage"] == "Won":
                won += 1
                won_amount += Decimal(row["close_value"])
            elif row["deal_stage"] == "Lost":
                lost += 1
    return {"deals_won": won, "deals_lost": lost, "won_amount": won_amount}


def _export_rows(config: Path, *args: str) -> list[dict[str, str]]:
    code, out, _ = _run(config, "export", "--format", "csv", *args)
    assert code == 0
    return list(csv.DictReader(io.StringIO(out)))


def _snapshot(database: Path) -> dict[str, list[tuple]]:
    with Store(database, read_only=True) as store:
        return {
            table: store.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in ("deals", "owners", "stages", "sync_state", "kpi_values")
        }


def test_csv_sync_compute_export_maven_figures(maven_config_file: Path) -> None:
    assert _run(maven_config_file, "sync")[0] == 0
    assert _run(maven_config_file, "compute")[0] == 0
    rows = _export_rows(maven_config_file, "--grain", "quarter", "--dimension", "overall")
    q2 = {r["kpi"]: r for r in rows if r["period_start"] == "2017-04-01"}
    expected = _expected_quarter(range(4, 7))
    assert expected == {"deals_won": 1254, "deals_lost": 778, "won_amount": Decimal(3086111)}
    assert q2["deals_won"]["value"] == "1254"
    assert q2["deals_lost"]["value"] == "778"
    assert q2["won_amount"]["value"] == "3086111"
    assert q2["win_rate"]["value"].startswith("0.617125984")
    assert q2["win_rate"]["n"] == "2032"
    years = _export_rows(maven_config_file, "--grain", "year", "--dimension", "overall",
                         "--kpi", "won_amount")
    assert [(r["period_start"], r["value"]) for r in years] == [
        ("2016-01-01", "0"), ("2017-01-01", "10005534")]


def test_csv_sync_prints_deals_without_created_date(maven_config_file: Path) -> None:
    code, out, _ = _run(maven_config_file, "sync")
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as handle:
        missing = sum(1 for r in csv.DictReader(handle) if not r["engage_date"])
    assert code == 0
    assert missing == 500
    assert f"warning: {missing} deal(s) in sales_pipeline.csv have no created date" in out


def test_csv_sync_twice_changes_nothing(maven_config_file: Path, tmp_path: Path) -> None:
    _run(maven_config_file, "sync")
    before = _snapshot(tmp_path / "maven.duckdb")
    code, out, _ = _run(maven_config_file, "sync")
    after = _snapshot(tmp_path / "maven.duckdb")
    assert code == 0
    assert before == after
    assert stream_cells(out, "deals")[1:6] == ['1', '0', '0', '8800', '0']


@pytest.mark.parametrize(
    ("column", "bad_value", "message"),
    [
        ("close_value", "n/a", "column 'close_value' value 'n/a' is not valid for amount"),
        ("close_date", "2024-13-45", "column 'close_date' value '2024-13-45' is not valid for close_date"),
        ("deal_stage", "Sleeping", "column 'deal_stage' value 'Sleeping' is not a known stage"),
    ],
    ids=["amount-text", "impossible-date", "unknown-stage"],
)
def test_csv_bad_row_names_it_and_writes_nothing(
    tmp_path: Path, column: str, bad_value: str, message: str
) -> None:
    good = write_config(tmp_path / "good.yaml", maven_config(tmp_path / "s.duckdb"))
    assert _run(good, "sync")[0] == 0
    before = _snapshot(tmp_path / "s.duckdb")

    lines = (MAVEN / "sales_pipeline.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].strip().split(",")
    cells = lines[100].rstrip("\r\n").split(",")
    cells[header.index(column)] = bad_value
    lines[100] = ",".join(cells) + "\r\n"
    bad_file = tmp_path / "sales_pipeline.csv"
    bad_file.write_text("".join(lines), encoding="utf-8")
    data = maven_config(tmp_path / "s.duckdb", deals=bad_file)
    data["sources"]["csv"]["on_bad_record"] = "stop"  # keep (the default) keeps going
    bad = write_config(tmp_path / "bad.yaml", data)

    code, out, err = _run(bad, "sync")
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: sales_pipeline.csv:101: ")
    assert message in errors[0]
    assert _snapshot(tmp_path / "s.duckdb") == before


def test_csv_row_gone_from_file_is_flagged_deleted(tmp_path: Path) -> None:
    deals = tmp_path / "sales_pipeline.csv"
    shutil.copy(MAVEN / "sales_pipeline.csv", deals)
    config = write_config(tmp_path / "c.yaml", maven_config(tmp_path / "s.duckdb", deals=deals))
    _run(config, "sync")
    lines = deals.read_text(encoding="utf-8").splitlines(keepends=True)
    gone = lines[1].split(",")[0]
    deals.write_text("".join([lines[0], *lines[2:]]), encoding="utf-8")
    code, out, _ = _run(config, "sync")
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        flagged = store.con.execute("SELECT deal_id FROM deals WHERE is_deleted").fetchall()
    assert code == 0
    assert flagged == [(gone,)]
    (row,) = [line for line in out.splitlines() if line.startswith("│ deals ")]
    # runs, inserted, updated, unchanged, deleted
    assert [c.strip() for c in row.strip("│").split("│")][1:6] == ["1", "0", "0", "8799", "1"]


def test_csv_empty_amount_is_null_not_zero(maven_config_file: Path, tmp_path: Path) -> None:
    _run(maven_config_file, "sync")
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as handle:
        stages = Counter(r["deal_stage"] for r in csv.DictReader(handle) if not r["close_value"])
    with Store(tmp_path / "maven.duckdb", read_only=True) as store:
        nulls = store.con.execute(
            "SELECT stage, count(*) FROM deals WHERE amount IS NULL GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert dict(nulls) == dict(stages)
    assert stages == {"Engaging": 1589, "Prospecting": 500}
