"""Run health: ``status --json``, ``status --history [--json]``, a crashed run marked by the next
sync, ``run --json``'s times, and ``health --max-age``.

The runs are CSV imports of the Maven data set (8,800 deals, counted here with the csv module);
instants are read back from ``sync_runs`` / ``kpi_runs`` with plain SQL.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.health import parse_age
from kpi_engine.store import Store
from tests.helpers.maven import MAVEN

ROOT = Path(__file__).resolve().parents[2]
with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as _f:
    MAVEN_DEALS = sum(1 for _ in csv.DictReader(_f))


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def _db(config: Path) -> Path:
    return config.parent / "maven.duckdb"


def _runs(config: Path) -> list[tuple]:
    with Store(_db(config), read_only=True) as store:
        return store.con.execute(
            "SELECT run_id, source, started_at, finished_at, status, error, pid, host "
            "FROM sync_runs ORDER BY run_id").fetchall()


def test_status_history_json_lists_every_run(maven_config_file: Path) -> None:
    assert _run(maven_config_file, "sync")[0] == 0
    assert _run(maven_config_file, "sync")[0] == 0
    code, out, _ = _run(maven_config_file, "status", "--history", "--json")
    assert code == 0
    history = json.loads(out)
    rows = _runs(maven_config_file)
    assert [(h["run_id"], h["source"], h["status"], h["error"]) for h in history] == [
        (r[0], "csv", "ok", None) for r in rows]
    assert len(history) == 2
    for h, (_, _, started, finished, _, _, pid, host) in zip(history, rows, strict=True):
        assert (h["started_at"], h["finished_at"]) == (started.isoformat(), finished.isoformat())
        assert h["duration_s"] == round((finished - started).total_seconds(), 3)
        assert (h["pid"], h["host"]) == (os.getpid(), socket.gethostname()) == (pid, host)
    first, second = (h["counts"]["deals"] for h in history)
    assert (first["inserted"], first["updated"], first["unchanged"]) == (MAVEN_DEALS, 0, 0)
    assert first["inserted"] + first["updated"] + first["unchanged"] == MAVEN_DEALS
    assert second["inserted"] + second["updated"] + second["unchanged"] == MAVEN_DEALS
    assert second["inserted"] == 0


def test_status_history_table(maven_config_file: Path) -> None:
    assert _run(maven_config_file, "sync")[0] == 0
    code, out, _ = _run(maven_config_file, "status", "--history")
    (run_id, _, started, finished, *_rest) = _runs(maven_config_file)[0]
    line = next(x for x in out.splitlines() if x.startswith("│") and " csv " in x)
    cells = [c.strip() for c in line.strip("│").split("│")]
    # duration_s is kept to the millisecond, then printed to a tenth
    seconds = f"{round((finished - started).total_seconds(), 3):.1f}"
    assert code == 0
    assert cells[:6] == [str(run_id), "csv", f"{started:%Y-%m-%d %H:%M:%S}",
                         f"{finished:%Y-%m-%d %H:%M:%S}", seconds, "ok"]


def test_status_json_has_what_status_prints(maven_config_file: Path) -> None:
    assert _run(maven_config_file, "sync")[0] == 0
    assert _run(maven_config_file, "compute")[0] == 0
    code, out, _ = _run(maven_config_file, "status", "--json")
    _, text, _ = _run(maven_config_file, "status")
    body = json.loads(out)
    assert code == 0
    assert body["store"] == str(_db(maven_config_file))
    assert {"table": "deals", "source": "csv", "rows": MAVEN_DEALS, "deleted": 0} in body["rows"]
    deals = next(s for s in body["streams"] if s["stream"] == "deals")
    (_, _, _, finished, *_rest) = _runs(maven_config_file)[0]
    assert (deals["source"], deals["last_run_status"], deals["last_run_finished"]) == (
        "csv", "ok", finished.isoformat())
    assert deals["counts"]["inserted"] == MAVEN_DEALS
    assert [c["grain"] for c in body["last_compute"]] == ["month", "quarter", "year"]
    assert body["rejects"] == []
    assert body["rejects_total"] == {}
    for p in body["periods"]:
        latest = p["latest"]
        said = f"latest complete {latest['label']}" if latest else f"no complete {p['grain']} yet"
        assert f"{p['grain']}: {said};" in text
    assert [p["grain"] for p in body["periods"]] == ["month", "quarter", "year"]


@pytest.mark.slow
def test_run_killed_with_sigkill_is_marked_crashed_by_the_next_sync(
    maven_config_file: Path,
) -> None:
    db = _db(maven_config_file)
    with Store(db):
        pass  # created and migrated
    crash = (
        "import os, signal, sys\n"
        "from kpi_engine.store import Store\n"
        "store = Store(sys.argv[1])\n"
        "print(store.start_run('csv'), os.getpid(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", crash, str(db)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL
    run_id, pid = (int(v) for v in proc.stdout.split())
    assert [(r[0], r[4], r[6]) for r in _runs(maven_config_file)] == [(run_id, "running", pid)]

    assert _run(maven_config_file, "sync")[0] == 0
    rows = _runs(maven_config_file)
    host = socket.gethostname()
    assert [(r[0], r[4], r[5]) for r in rows] == [
        (run_id, "crashed", f"crashed: pid {pid} on {host} ended without finishing the run"),
        (run_id + 1, "ok", None),
    ]
    assert rows[0][3] <= rows[1][2]  # marked when the next run started


def test_running_row_of_an_older_version_is_crashed_and_own_runs_are_not(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.con.execute("INSERT INTO sync_runs (source, started_at, status) "
                          "VALUES ('csv', now(), 'running')")
        mine = store.start_run("csv")
        assert store.mark_crashed_runs() == []
        assert store.con.execute(
            "SELECT run_id, status, error FROM sync_runs ORDER BY run_id").fetchall() == [
            (mine - 1, "crashed", "crashed: a job of an older version ended without finishing "
             "the run"),
            (mine, "running", None),
        ]


def test_run_json_has_start_end_and_duration(maven_config_file: Path) -> None:
    code, out, _ = _run(maven_config_file, "run", "--json")
    body = json.loads(out)
    started, finished = (datetime.fromisoformat(body[k]) for k in ("started_at", "finished_at"))
    (_, _, sync_started, sync_finished, *_rest) = _runs(maven_config_file)[0]
    with Store(_db(maven_config_file), read_only=True) as store:
        (computed_at,) = store.con.execute("SELECT max(computed_at) FROM kpi_runs").fetchall()[0]
    assert (code, body["status"]) == (0, "ok")
    assert started <= sync_started <= sync_finished <= computed_at <= finished
    assert body["duration_s"] == round((finished - started).total_seconds(), 3)


@pytest.mark.parametrize(
    ("text", "age"),
    [("26h", timedelta(hours=26)), ("2d", timedelta(days=2)), ("90m", timedelta(minutes=90)),
     ("1d12h", timedelta(hours=36)), ("1D 2H 3M", timedelta(hours=26, minutes=3))],
)
def test_health_parse_age(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


def test_health_ok_prints_the_last_good_run(maven_config_file: Path) -> None:
    assert _run(maven_config_file, "sync")[0] == 0
    (_, _, _, finished, *_rest) = _runs(maven_config_file)[0]
    code, out, err = _run(maven_config_file, "health", "--max-age", "26h")
    assert (code, err) == (0, "")
    assert out == f"ok: last good run {finished:%Y-%m-%d %H:%M:%S} UTC (0m ago)\n"


def test_health_stale_exits_5(maven_config_file: Path) -> None:
    assert _run(maven_config_file, "sync")[0] == 0
    with Store(_db(maven_config_file)) as store:
        store.con.execute("UPDATE sync_runs SET started_at = started_at - INTERVAL 27 HOUR, "
                          "finished_at = now() - INTERVAL 27 HOUR - INTERVAL 30 SECOND")
    (_, _, _, finished, *_rest) = _runs(maven_config_file)[0]
    code, out, err = _run(maven_config_file, "health", "--max-age", "26h")
    assert (code, out) == (5, "")
    assert err == (f"stale: last good run {finished:%Y-%m-%d %H:%M:%S} UTC (1d 3h ago), older "
                   "than 1d2h\n")


def test_health_without_a_good_run_exits_5(maven_config_file: Path) -> None:
    assert _run(maven_config_file, "health")[:3] == (
        5, "", f"stale: no store at {_db(maven_config_file)} yet\n")
    assert _run(maven_config_file, "sync")[0] == 0
    with Store(_db(maven_config_file)) as store:
        store.con.execute("UPDATE sync_runs SET status = 'failed', error = 'x'")
    assert _run(maven_config_file, "health") == (5, "", "stale: csv has no good run yet\n")


def test_health_bad_age_is_one_line(maven_config_file: Path) -> None:
    assert _run(maven_config_file, "sync")[0] == 0
    assert _run(maven_config_file, "health", "--max-age", "soon") == (
        1, "", "error: --max-age 'soon' is not an age such as 26h, 2d, 90m or 1d12h\n")


def test_history_of_a_store_not_yet_migrated_to_006_reads_read_only(tmp_path: Path) -> None:
    from kpi_engine.health import run_history

    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        store.con.execute("DELETE FROM _migrations WHERE name = '006_sync_run_holder.sql'")
        store.con.execute("ALTER TABLE sync_runs DROP COLUMN pid")
        store.con.execute("ALTER TABLE sync_runs DROP COLUMN host")
        store.con.execute("INSERT INTO sync_runs (source, started_at, status) "
                          "VALUES ('csv', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'running')")
    with Store(db, read_only=True) as store:
        ((run,),) = [run_history(store)]
    assert (run["status"], run["finished_at"], run["duration_s"], run["pid"], run["host"]) == (
        "running", None, None, None, None)
