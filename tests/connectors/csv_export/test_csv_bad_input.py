"""Bad CRM-export files: each is one line naming file, line, column and value (or the fix), exit
code 1, and the store exactly as before."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.store import Store
from tests.helpers.maven import write_config

HEADER = "id,owner,stage,created,closed,amount,currency\n"
GOOD = HEADER + "D1,U1,Won,2024-01-02,2024-02-01,100,USD\nD2,U2,Open,2024-01-05,,250.50,EUR\n"
OWNERS = "owner,name,team\nU1,Ann,North\nU2,Bo,South\n"


def _config(tmp_path: Path, deals: str, owners: str = OWNERS, **csv_settings: object) -> Path:
    (tmp_path / "deals.csv").write_bytes(deals.encode(csv_settings.pop("file_encoding", "utf-8")))
    (tmp_path / "owners.csv").write_text(owners, encoding="utf-8")
    return write_config(tmp_path / "c.yaml", {
        "database": str(tmp_path / "s.duckdb"),
        "sources": {"csv": {
            "deals": {"path": "deals.csv", "won_stages": ["Won"], "lost_stages": ["Lost"],
                      "columns": {"deal_id": "id", "owner_id": "owner", "stage": "stage",
                                  "created_at": "created", "close_date": "closed",
                                  "amount": "amount", "currency": "currency"}},
            "owners": {"path": "owners.csv",
                       "columns": {"owner_id": "owner", "name": "name", "team": "team"}},
            "stage_probability": {"Open": 0.3},
            **csv_settings,
        }},
    })


def _sync(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), "sync"])
    return result.exit_code, result.stderr


def _rows(tmp_path: Path) -> list[tuple]:
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        return store.con.execute(
            "SELECT source, deal_id, amount, currency, is_deleted FROM deals ORDER BY ALL"
        ).fetchall()


@pytest.mark.parametrize(
    ("deals", "owners", "settings", "message"),
    [
        (HEADER, OWNERS, {},
         "error: deals.csv: no data rows; an export is a full snapshot, so an empty one would "
         "mark every record deleted: check the export"),
        (HEADER + "D1,U1,Won,2024-01-02\n", OWNERS, {},
         "error: deals.csv:2: 4 fields, the header has 7; fix the row's quoting"),
        (HEADER + "D1,U1,Won,2024-01-02,2024-02-01,100,USD,extra\n", OWNERS, {},
         "error: deals.csv:2: 8 fields, the header has 7; fix the row's quoting"),
        (HEADER + "D1,U1,Won,2024-01-02,2024-02-01,0.0000001,USD\n", OWNERS, {"on_bad_record": "stop"},
         "error: deals.csv:2: column 'amount' value '0.0000001' is not valid for amount "
         "('0.0000001' has more than 6 decimal places); fix the cell or the column mapping"),
        (HEADER + "D1,U1,Won,2024-01-02,2024-02-01,100,Dollars\n", OWNERS, {"on_bad_record": "stop"},
         "error: deals.csv:2: column 'currency' value 'Dollars' is not valid for currency "
         "(not an ISO 4217 code such as USD); fix the cell or the column mapping"),
        (HEADER + ",U1,Won,2024-01-02,2024-02-01,100,USD\n", OWNERS, {},
         "error: deals.csv:2: column 'id' is empty; deal_id is required"),
        (GOOD, OWNERS + "U1,Ann again,West\n", {},
         "error: owners.csv:4: owner_id 'U1' appears again (first on line 2); remove the "
         "duplicate row"),
        (GOOD, OWNERS + ",Nobody,West\n", {},
         "error: owners.csv:4: column 'owner' is empty; owner_id is required"),
        (GOOD.replace("D2", "Dø"), OWNERS, {"file_encoding": "latin-1"},
         "error: deals.csv: not utf-8-sig text (byte 0xf8); set sources.csv.encoding"),
    ],
    ids=["header-only", "too-few-fields", "too-many-fields", "too-precise", "bad-currency",
         "empty-id", "duplicate-owner", "empty-owner-id", "wrong-encoding"],
)
def test_csv_bad_file_is_one_line_and_writes_nothing(
    tmp_path: Path, deals: str, owners: str, settings: dict, message: str
) -> None:
    good = _config(tmp_path, GOOD)
    assert _sync(good)[0] == 0
    before = _rows(tmp_path)
    bad = _config(tmp_path, deals, owners, **settings)
    code, stderr = _sync(bad)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 1
    assert len(errors) == 1
    assert errors[0].startswith(message)
    assert _rows(tmp_path) == before


def test_csv_wrong_encoding_names_the_fix(tmp_path: Path) -> None:
    config = _config(tmp_path, GOOD.replace("D2", "Dø"), file_encoding="latin-1")
    code, stderr = _sync(config)
    assert code == 1
    assert stderr.splitlines()[-1] == ("error: deals.csv: not utf-8-sig text (byte 0xf8); set "
                                       "sources.csv.encoding (e.g. latin-1, utf-16)")
    config = _config(tmp_path, GOOD.replace("D2", "Dø"), file_encoding="latin-1",
                     encoding="latin-1")
    assert _sync(config)[0] == 0
    assert [r[1] for r in _rows(tmp_path)] == ["D1", "Dø"]


def test_csv_semicolon_delimiter(tmp_path: Path) -> None:
    config = _config(tmp_path, GOOD.replace(",", ";").replace("250.50", "250.5"),
                     OWNERS.replace(",", ";"), delimiter=";")
    code, stderr = _sync(config)
    assert (code, [l for l in stderr.splitlines() if l.startswith("error")]) == (0, [])
    assert _rows(tmp_path) == [("csv", "D1", 100, "USD", False), ("csv", "D2", Decimal("250.5"), "EUR", False)]


def test_csv_config_channel_conflict_reported_at_load(tmp_path: Path) -> None:
    config = _config(tmp_path, GOOD)
    text = config.read_text(encoding="utf-8")
    config.write_text(text + "kpis:\n  channels: {paid: [PAID_SEARCH], owned: [paid_search]}\n",
                      encoding="utf-8")
    code, stderr = _sync(config)
    assert code == 1
    assert stderr == (f"error: {config}: kpis.channels: lead source 'paid_search' is mapped to "
                      "both 'paid' and 'owned'\n")
    assert not (tmp_path / "s.duckdb").exists()


def test_status_shows_the_last_run_only(tmp_path: Path) -> None:
    assert _sync(_config(tmp_path, HEADER))[0] == 1  # failed run first
    assert _sync(_config(tmp_path, GOOD))[0] == 0
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "c.yaml"), "status"])
    assert result.exit_code == 0
    assert "no data rows" not in result.stdout
    deals_line = next(line for line in result.stdout.splitlines()
                      if line.startswith("│ csv ") and "│ deals " in line)
    assert "│ ok " in deals_line


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_to_a_missing_folder_is_one_line(tmp_path: Path, fmt: str) -> None:
    config = _config(tmp_path, GOOD)
    _sync(config)
    CliRunner().invoke(cli, ["--config", str(config), "compute", "--grain", "year"])
    target = tmp_path / "missing" / f"k.{fmt}"
    result = CliRunner().invoke(cli, ["--config", str(config), "export", "--format", fmt,
                                      "--output", str(target)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot write {target}: ")
    assert result.stderr.count("\n") == 1


def test_sync_interrupted_marks_the_run_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.csv_export import CsvConnector

    def interrupt(self, *args: object) -> None:
        raise KeyboardInterrupt

    config = _config(tmp_path, GOOD)
    monkeypatch.setattr(CsvConnector, "_deals", interrupt)
    result = CliRunner().invoke(cli, ["--config", str(config), "sync"])
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1] == (
        "error: interrupted; every committed page is kept, nothing half-written")
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        runs = store.con.execute("SELECT status, error FROM sync_runs").fetchall()
        deals = store.con.execute("SELECT count(*) FROM deals").fetchall()
    assert runs == [("stopped", "interrupted (Ctrl-C, SIGINT or SIGTERM)")]
    assert deals == [(0,)]
