"""A truncated export never wipes the store: the snapshot guard of the CSV source.

30 deals synced, then the same file cut to 3 rows: 27 of 30 live deals (90%) would be flagged
deleted, more than the default 50%, so the sync stops with one line and writes nothing; the
override (``--allow-mass-delete`` or ``sources.csv.max_delete_share``) lets it through.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.store import Store
from tests.helpers.maven import write_config
from tests.helpers.sync_table import stream_cells

HEADER = "id,owner,stage,created,closed,amount\n"
ROWS = [f"D{i:02d},U1,{'Won' if i % 2 else 'Open'},2024-01-{i:02d},"
        f"{'2024-02-01' if i % 2 else ''},{100 * i}\n" for i in range(1, 31)]



def _errors(result) -> str:
    """The error lines of standard error (the progress bars are there too)."""
    return "".join(line + "\n" for line in result.stderr.splitlines() if line.startswith("error"))

def _config(tmp_path: Path, rows: list[str], **csv_settings: object) -> Path:
    (tmp_path / "deals.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    return write_config(tmp_path / "c.yaml", {
        "database": str(tmp_path / "s.duckdb"),
        "sources": {"csv": {
            "deals": {"path": "deals.csv", "won_stages": ["Won"],
                      "columns": {"deal_id": "id", "owner_id": "owner", "stage": "stage",
                                  "created_at": "created", "close_date": "closed",
                                  "amount": "amount"}},
            "stage_probability": {"Open": 0.3},
            **csv_settings,
        }},
    })


def _sync(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), "sync", *args])


def _deals(tmp_path: Path) -> tuple[int, int]:
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        return store.con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_deleted), count(*) FILTER (WHERE is_deleted) "
            "FROM deals").fetchone()


def _state(tmp_path: Path) -> list[tuple]:
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        return (store.con.execute("SELECT * FROM deals ORDER BY ALL").fetchall()
                + store.con.execute("SELECT * FROM sync_state ORDER BY ALL").fetchall())


def test_csv_guard_truncated_export_stops_and_writes_nothing(tmp_path: Path) -> None:
    assert _sync(_config(tmp_path, ROWS)).exit_code == 0
    assert _deals(tmp_path) == (30, 0)
    before = _state(tmp_path)
    result = _sync(_config(tmp_path, ROWS[:3]))
    assert result.exit_code == 1
    assert _errors(result) == (
        "error: deals.csv: this import would flag 27 of the 30 live deals deleted (90%, more "
        "than sources.csv.max_delete_share 50%); nothing was written. Check the export; if the "
        "deletions are real, run partnerkpi sync --allow-mass-delete (or raise "
        "sources.csv.max_delete_share)\n")
    assert _state(tmp_path) == before
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        run = store.con.execute(
            "SELECT status, error FROM sync_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    assert run[0] == "failed"
    assert run[1].startswith("deals.csv: this import would flag 27 of")


def test_csv_guard_override_flag_and_setting(tmp_path: Path) -> None:
    assert _sync(_config(tmp_path, ROWS)).exit_code == 0
    result = _sync(_config(tmp_path, ROWS[:3]), "--allow-mass-delete")
    assert result.exit_code == 0, result.output
    assert stream_cells(result.stdout, "deals")[1:6] == ['1', '0', '0', '3', '27']
    assert _deals(tmp_path) == (3, 27)
    # back to 30, then cut to 12 with a setting allowing 60%
    assert _sync(_config(tmp_path, ROWS)).exit_code == 0
    assert _deals(tmp_path) == (30, 0)
    assert _sync(_config(tmp_path, ROWS[:12])).exit_code == 1  # 18 of 30 = 60% > 50%
    assert _sync(_config(tmp_path, ROWS[:12], max_delete_share=0.6)).exit_code == 0
    assert _deals(tmp_path) == (12, 18)


@pytest.mark.parametrize(("kept", "code"), [(15, 0), (14, 1)], ids=["exactly-half", "over-half"])
def test_csv_guard_at_the_share(tmp_path: Path, kept: int, code: int) -> None:
    # 15 of 30 gone is 50%: allowed (not more than the share); 16 of 30 is refused
    assert _sync(_config(tmp_path, ROWS)).exit_code == 0
    assert _sync(_config(tmp_path, ROWS[:kept])).exit_code == code


def test_csv_guard_setting_is_a_share(tmp_path: Path) -> None:
    result = _sync(_config(tmp_path, ROWS, max_delete_share=1.5))
    assert result.exit_code == 1
    assert _errors(result).startswith(
        f"error: {tmp_path / 'c.yaml'}: sources.csv.max_delete_share: ")
    assert "less than or equal to 1" in _errors(result)
