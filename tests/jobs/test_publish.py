"""The published copy for readers (``publish:``): written after ``compute`` and ``run``, replaced
by rename, read by ``export`` / ``status`` / ``report`` while a job holds the store.

The store is a CSV import of the Maven data set; the won amount of 2017 it is checked by is
summed from the CSV file with the csv module.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.publish import PublishError, bi_view_names, publish
from kpi_engine.store import Store
from tests.helpers.maven import MAVEN, maven_config, write_config

ROOT = Path(__file__).resolve().parents[2]
WON_2017 = ("SELECT won_amount FROM {}kpi_wide WHERE grain = 'year' AND dimension = 'overall' "
            "AND period_start = DATE '2017-01-01'")

# holds one read-only connection on the copy for its whole life; on each line read from stdin
# prints [the held connection's value, a new connection's value] (a new connection is an ATTACH
# in a fresh in-memory database, so it opens whatever file the path names at that moment)
READER = f"""
import json, sys, duckdb
path = sys.argv[1]
held = duckdb.connect(path, read_only=True)
q = {WON_2017!r}
print("ready", flush=True)
for _ in sys.stdin:
    fresh = duckdb.connect()
    fresh.execute("ATTACH '" + path + "' AS p (READ_ONLY)")
    values = [str(held.execute(q.format("")).fetchone()[0]),
              str(fresh.execute(q.format("p.")).fetchone()[0])]
    fresh.close()
    print(json.dumps(values), flush=True)
"""

# opens the store for writing (as a sync does) until its stdin closes
HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
"""


def _won_2017(deals: Path) -> Decimal:
    with deals.open(newline="", encoding="utf-8") as f:
        return sum((Decimal(r["close_value"]) for r in csv.DictReader(f)
                    if r["deal_stage"] == "Won" and r["close_date"].startswith("2017")),
                   Decimal(0))


def _bump_first_won_2017(deals: Path, by: int) -> None:
    with deals.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows, header = list(reader), reader.fieldnames or []
    row = next(r for r in rows if r["deal_stage"] == "Won" and r["close_date"].startswith("2017"))
    row["close_value"] = str(int(row["close_value"]) + by)
    with deals.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)


def _setup(tmp_path: Path, **publish_settings: object) -> tuple[Path, Path]:
    deals = tmp_path / "deals.csv"
    shutil.copy(MAVEN / "sales_pipeline.csv", deals)
    data = maven_config(tmp_path / "maven.duckdb", deals)
    if publish_settings:
        data["publish"] = publish_settings
    return write_config(tmp_path / "partnerkpi.yaml", data), deals


def _cli(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def _view_rows(con: duckdb.DuckDBPyConnection, view: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM bi.{view} ORDER BY ALL").fetchall()


def test_publish_compute_writes_a_read_only_copy_equal_to_the_store(tmp_path: Path) -> None:
    config, deals = _setup(tmp_path)
    assert _cli(config, "sync")[0] == 0
    code, out, _ = _cli(config, "compute")
    copy = tmp_path / "maven.published.duckdb"
    assert code == 0
    assert f"published {copy}" in out.splitlines()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "deals.csv", "maven.duckdb", "maven.published.duckdb", "partnerkpi.yaml"]
    with Store(tmp_path / "maven.duckdb", read_only=True) as main:
        expected = {v: _view_rows(main.con, v) for v in bi_view_names()}
    with Store(copy, read_only=True) as published:
        assert {v: _view_rows(published.con, v) for v in bi_view_names()} == expected
        assert published.con.execute(WON_2017.format("")).fetchone()[0] == _won_2017(deals)


def test_publish_parquet_folder_holds_every_bi_view(tmp_path: Path) -> None:
    config, _ = _setup(tmp_path, parquet="bi-parquet")
    assert _cli(config, "sync")[0] == 0
    assert _cli(config, "compute")[0] == 0
    folder = tmp_path / "bi-parquet"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{v}.parquet" for v in bi_view_names())
    with Store(tmp_path / "maven.duckdb", read_only=True) as main:
        for view in bi_view_names():
            parquet = main.con.execute(
                f"SELECT * FROM read_parquet('{folder / view}.parquet') ORDER BY ALL").fetchall()
            assert parquet == _view_rows(main.con, view), view


def test_publish_disabled_writes_no_copy(tmp_path: Path) -> None:
    config, _ = _setup(tmp_path, enabled=False)
    assert _cli(config, "sync")[0] == 0
    code, out, _ = _cli(config, "compute")
    assert code == 0
    assert not (tmp_path / "maven.published.duckdb").exists()
    assert not any(line.startswith("published") for line in out.splitlines())


def test_publish_failure_keeps_the_previous_copy(tmp_path: Path) -> None:
    config, _ = _setup(tmp_path)
    assert _cli(config, "sync")[0] == 0
    assert _cli(config, "compute")[0] == 0
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    with Store(tmp_path / "maven.duckdb") as store:
        with pytest.raises(PublishError, match=r"^cannot publish the store's copy to "):
            publish(store, blocker / "copy.duckdb")
        with pytest.raises(PublishError, match=r"is the store itself"):
            publish(store, tmp_path / "maven.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "deals.csv", "maven.duckdb", "maven.published.duckdb", "not-a-folder", "partnerkpi.yaml"]


def _start(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


@pytest.mark.slow
def test_publish_readers_read_the_copy_while_a_job_holds_the_store(tmp_path: Path) -> None:
    config, deals = _setup(tmp_path)
    assert _cli(config, "run")[0] == 0
    copy = tmp_path / "maven.published.duckdb"
    holder = _start(HOLDER, str(tmp_path / "maven.duckdb"))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        note = f"note: the store is held by another process; reading its published copy {copy} of "
        code, out, errs = _cli(config, "export", "--grain", "year", "--dimension", "overall",
                               "--kpi", "won_amount", "--period", "2017-01-01")
        assert code == 0
        assert errs.startswith(note)
        assert out.splitlines()[1].split(",")[6] == format(_won_2017(deals), "f")
        code, out, errs = _cli(config, "status", "--json")
        assert (code, json.loads(out)["store"]) == (0, str(copy))
        assert errs.startswith(note)
        code, out, errs = _cli(config, "report", "--output", str(tmp_path / "r.html"))
        assert (code, out.split()[:2]) == (0, ["wrote", str(tmp_path / "r.html")])
        assert errs.startswith(note)
        copy.chmod(0o644)
        copy.unlink()
        code, _, errs = _cli(config, "status")
        assert code == 3
        assert f"(no published copy at {copy} yet: a run or compute publishes one" in errs
    finally:
        holder.communicate(timeout=30)


@pytest.mark.slow
def test_publish_reader_holds_the_copy_through_a_whole_run(tmp_path: Path) -> None:
    config, deals = _setup(tmp_path)
    assert _cli(config, "run")[0] == 0
    copy = tmp_path / "maven.published.duckdb"
    old = _won_2017(deals)
    _bump_first_won_2017(deals, 1000)
    new = _won_2017(deals)
    assert new == old + 1000
    first_inode = copy.stat().st_ino
    reader = _start(READER, str(copy))
    assert reader.stdin is not None
    assert reader.stdout is not None

    def read() -> tuple[Decimal, Decimal]:
        assert reader.stdin is not None
        assert reader.stdout is not None
        reader.stdin.write("\n")
        reader.stdin.flush()
        held, fresh = json.loads(reader.stdout.readline())
        return Decimal(held), Decimal(fresh)

    try:
        assert reader.stdout.readline() == "ready\n"
        job = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "--config", str(config),
                                "run", "--json"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        during = []
        while job.poll() is None:
            during.append(read())
            time.sleep(0.02)
        out, errs = job.communicate(timeout=120)
        after = read()
    finally:
        reader.communicate(timeout=30)
    assert job.returncode == 0, errs
    assert json.loads(out)["published"]["database"] == str(copy)
    # the held connection read the old copy through the whole run, and after it
    assert {held for held, _ in during} | {after[0]} == {old}
    # new connections: the old copy until the rename, the new one from then on
    fresh = [f for _, f in during] + [after[1]]
    assert fresh[0] == old
    switch = fresh.index(new)
    assert set(fresh[:switch]) == {old}
    assert set(fresh[switch:]) == {new}
    assert copy.stat().st_ino != first_inode


def test_publish_removes_copies_left_by_dead_jobs(tmp_path: Path) -> None:
    config, _ = _setup(tmp_path)
    assert _cli(config, "sync")[0] == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    left = tmp_path / f".maven.published.duckdb.{dead.stdout.strip()}.tmp"
    alive = tmp_path / f".maven.published.duckdb.{os.getppid()}.tmp"  # another job, publishing
    for path in (left, Path(f"{left}.wal"), alive):
        path.write_text("half", encoding="utf-8")
    assert _cli(config, "compute")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["deals.csv", "maven.duckdb", "maven.published.duckdb", "partnerkpi.yaml", alive.name])


@pytest.mark.slow
def test_publish_run_publishes_the_compute_when_the_push_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_sandbox.hubspot import DEFAULT_TOKEN
    from crm_sandbox.server import Sandbox
    from tests.helpers.hubspot import TOKEN_ENV
    from tests.helpers.hubspot_world import small_world

    monkeypatch.setenv(TOKEN_ENV, DEFAULT_TOKEN)
    with Sandbox(small_world()) as sb:
        config = write_config(tmp_path / "partnerkpi.yaml", {
            "database": str(tmp_path / "hubspot.duckdb"),
            "sources": {"hubspot": {"host": sb.url, "ca_bundle": sb.ca_bundle,
                                    "token_env": TOKEN_ENV}},
            "writeback": {"hubspot": {"object": "companies", "grain": "quarter",
                                      "fields": {"win_rate": "no_such_property"}}}})
        code, out, _ = _cli(config, "run", "--json")
    summary = json.loads(out)
    copy = tmp_path / "hubspot.published.duckdb"
    assert (code, summary["status"], summary["step"]) == (1, "failed", "push")
    assert summary["published"]["database"] == str(copy)
    query = "SELECT * FROM kpi_wide ORDER BY ALL"
    with Store(tmp_path / "hubspot.duckdb", read_only=True) as main:
        expected = main.con.execute(query).fetchall()
    with Store(copy, read_only=True) as published:
        assert published.con.execute(query).fetchall() == expected
        (long_rows,) = published.con.execute("SELECT count(*) FROM kpi_values").fetchall()[0]
    assert long_rows == sum(summary["compute"]["rows"].values())  # the compute of this run


def test_publish_config_refuses_the_store_itself(tmp_path: Path) -> None:
    config, _ = _setup(tmp_path, database="maven.duckdb")
    code, _, errs = _cli(config, "status")
    assert (code, errs) == (1, f"error: {config}: config: publish.database is the store itself "
                               "(database): name another file\n")
