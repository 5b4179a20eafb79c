"""Ctrl-C (SIGINT) and SIGTERM during ``partnerkpi compute`` and the compute inside ``run``.

A generated store (the compute benchmark's deals, enough that a compute lasts a few seconds) is
computed once as at an earlier day; the same command is then started again and signalled half
way through an uninterrupted run's time. It must end with one line on standard error, exit 130
(SIGINT) or 143 (SIGTERM), and leave ``kpi_wide`` and ``kpi_runs`` exactly as they were: the
compute's transaction rolled back, nothing of it committed.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bench.compute_kpis import GENERATE
from kpi_engine.store import Store
from tests.helpers.reliability import PARTNERKPI, ROOT, cli_env, write_yaml

pytestmark = pytest.mark.slow

N_DEALS = 150_000
LINE = {
    signal.SIGINT: "error: interrupted; every committed page is kept, nothing half-written\n",
    signal.SIGTERM: "error: terminated (SIGTERM); every committed page is kept, nothing "
                    "half-written\n",
}


def _fingerprint(db: Path) -> tuple[Any, ...]:
    """Row count and a per-column hash sum of ``kpi_wide``, plus every ``kpi_runs`` row."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        wide = con.execute("SELECT count(*), sum(hash(COLUMNS(*))) FROM kpi_wide").fetchall()[0]
        runs = con.execute("SELECT * FROM kpi_runs ORDER BY computed_at, grain").fetchall()
    finally:
        con.close()
    return wide, tuple(runs)


@pytest.mark.parametrize(
    ("command", "sig", "code"),
    [
        pytest.param("compute", signal.SIGINT, 130, id="compute-sigint"),
        pytest.param("compute", signal.SIGTERM, 143, id="compute-sigterm"),
        pytest.param("run", signal.SIGINT, 130, id="run-sigint"),
        pytest.param("run", signal.SIGTERM, 143, id="run-sigterm"),
    ],
)
def test_interrupt_compute_rolls_back_with_one_line(
    tmp_path: Path, command: str, sig: signal.Signals, code: int
) -> None:
    db = tmp_path / "kpi.duckdb"
    with Store(db) as store:
        store.con.execute(GENERATE.format(n=N_DEALS))
    cfg = write_yaml(tmp_path / "partnerkpi.yaml", {"database": str(db)})
    # run --json: without it, run prints each step's name on standard error as it starts
    argv = [*PARTNERKPI, "--config", str(cfg), command, *(["--json"] if command == "run" else []),
            "--as-of", "2024-06-30"]
    started = time.monotonic()
    first = subprocess.run(argv, cwd=ROOT, env=cli_env(), capture_output=True, text=True,
                           timeout=300, check=False)
    took = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    before = _fingerprint(db)
    assert before[0][0] > 0

    proc = subprocess.Popen(argv[:-2], cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(took * 0.6)  # past the imports and the store's opening, inside the compute
    assert proc.poll() is None, "the compute ended before the signal"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)

    assert (proc.returncode, stderr) == (code, LINE[sig])
    assert _fingerprint(db) == before
