"""SIGTERM (a scheduler, systemd or a CI runner cancelling the job) during ``partnerkpi sync``.

The sync is held inside a HubSpot deal page (a ``delay`` fault on the 3rd list request) and
sent SIGTERM: it must end with exit code 143 and one line, roll back the page in flight, mark
its run ``stopped`` (not leave it ``running`` for ever), and the next ``sync`` must complete and
leave the same canonical tables as a clean run.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.helpers.reliability import (
    PARTNERKPI,
    ROOT,
    FastClock,
    SandboxProcess,
    cli_env,
    config,
    diff,
    fresh_faults,
    run_cli,
    snapshot,
    wait_until,
    write_yaml,
)

pytestmark = pytest.mark.slow

N_DEALS, SEED = 1500, 5
DEALS = "/crm/v3/objects/deals"


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxProcess]:
    """The sandbox in its own process."""
    sandbox = SandboxProcess(N_DEALS, SEED).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _runs(db: Path) -> list[tuple[str, str, str | None]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT source, status, error FROM sync_runs ORDER BY run_id").fetchall()
    finally:
        con.close()


def test_sigterm_marks_the_run_stopped_and_the_next_sync_completes(
    sb: SandboxProcess, tmp_path: Path
) -> None:
    clean_db = tmp_path / "clean.duckdb"
    clean_cfg = write_yaml(tmp_path / "clean.yaml",
                           config(sb, clean_db, sources=("hubspot",), writeback=False))
    db = tmp_path / "store.duckdb"
    cfg = write_yaml(tmp_path / "cfg.yaml", config(sb, db, sources=("hubspot",), writeback=False))
    with FastClock(sb):
        assert run_cli(clean_cfg, "sync").returncode == 0
        with fresh_faults(sb):
            sb.fault("delay", "GET", DEALS, after=2, times=1, seconds=30)
            proc = subprocess.Popen([*PARTNERKPI, "--config", str(cfg), "sync"], cwd=ROOT,
                                    env=cli_env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            wait_until(lambda: sum(1 for m, p in sb.calls() if (m, p) == ("GET", DEALS)) >= 3,
                       proc=proc)
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 143
        assert stderr.strip().splitlines()[-1] == (
            "error: terminated (SIGTERM); every committed page is kept, nothing half-written")
        assert _runs(db) == [("hubspot", "stopped", "interrupted (Ctrl-C, SIGINT or SIGTERM)")]
        # the page in flight was rolled back: no deal yet (a first sync commits 1,000 at a time)
        con = duckdb.connect(str(db), read_only=True)
        try:
            assert con.execute("SELECT count(*) FROM deals").fetchall() == [(0,)]
        finally:
            con.close()
        assert run_cli(cfg, "sync").returncode == 0
    assert _runs(db)[-1] == ("hubspot", "ok", None)
    expected, got = snapshot(clean_db), snapshot(db)
    assert got == expected, diff(expected, got)
