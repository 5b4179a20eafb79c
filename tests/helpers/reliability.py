"""Reliability test harness: the CRM sandbox in its own process, ``partnerkpi`` as a subprocess,
store snapshots compared row for row.

- :class:`SandboxProcess` runs ``partnerkpi sandbox --data synthetic`` (both CRMs on one port)
  and drives it through its HTTP controls (``/_sandbox/...``: calls, faults, clock).
- :class:`FastClock` moves the sandbox clock 10 s forward every 0.2 s while a CLI runs: the
  sandbox enforces HubSpot's 100 calls per 10 s window, and the connector (rightly) waits out an
  exhausted window, which would make each HubSpot sync of a few thousand deals last ~20 s.
  Synthetic records carry fixed stamps (<= 2025-01-01), so nothing else depends on that clock.
- :func:`snapshot` reads every canonical table, sorted, for exact comparison.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import requests
import yaml

from kpi_engine.store import CANONICAL_TABLES

ROOT = Path(__file__).resolve().parents[2]
PARTNERKPI = [sys.executable, "-c", "from cli import cli; cli()"]

#: The sandbox's built-in credentials (crm_sandbox.salesforce_auth / crm_sandbox.hubspot).
SANDBOX_SECRETS = {
    "REL_SF_PASSWORD": "sandbox-password",
    "REL_SF_TOKEN": "SANDBOXTOKEN",
    "REL_SF_CLIENT_ID": "partnerkpi-sandbox-client",
    "REL_SF_CLIENT_SECRET": "partnerkpi-sandbox-secret",
    "REL_HS_TOKEN": "pat-na1-sandbox-0000-0000-000000000000",
}
SF_FIELDS = {"win_rate": "Partner_Win_Rate__c", "average_deal_size": "Partner_Avg_Deal_Size__c",
             "quality_score": "Partner_Quality_Score__c"}
HS_FIELDS = {"win_rate": "partner_win_rate", "average_deal_size": "partner_avg_deal_size",
             "quality_score": "partner_quality_score"}

#: Columns of canonical tables that record wall-clock time (none today: every instant in the
#: canonical tables is the CRM's own stamp). Kept explicit so a new one is a visible decision.
WALL_CLOCK_COLUMNS: dict[str, tuple[str, ...]] = {}

SF_QUERY = "/services/data/*/query*"
SF_COMPOSITE = "/services/data/*/composite/sobjects"


class SandboxProcess:
    """``partnerkpi sandbox`` serving a synthetic World in a child process.

    Args:
        n_deals: deals generated (both CRMs serve the same World).
        seed: generator seed.
    """

    def __init__(self, n_deals: int, seed: int) -> None:
        self.n_deals, self.seed = n_deals, seed
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.ca_bundle = ""
        self.http = requests.Session()
        self.http.trust_env = False

    def start(self, timeout: float = 90.0) -> SandboxProcess:
        """Start the server and wait for its URL and CA bundle lines."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*PARTNERKPI, "sandbox", "--port", "0", "--data", "synthetic",
             "--synthetic", str(self.n_deals), "--seed", str(self.seed)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while not (self.url and self.ca_bundle):
            line = self.proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                self.stop()
                msg = f"the sandbox did not start (last line {line!r})"
                raise RuntimeError(msg)
            if line.startswith("CRM sandbox at "):
                self.url = line.split()[3]
            elif line.startswith("CA bundle: "):
                self.ca_bundle = line.removeprefix("CA bundle: ").strip()
        self.http.verify = self.ca_bundle
        # drain the rest of its output so the pipe never fills
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def stop(self) -> None:
        """Ctrl-C the server (it removes its CA directory), then wait for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    # -- controls ---------------------------------------------------------------------------
    def control(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """POST (with ``body``) or GET a ``/_sandbox/`` control; returns its JSON."""
        url = f"{self.url}/_sandbox/{path}"
        resp = self.http.post(url, json=body, timeout=30) if body is not None else self.http.get(
            url, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def calls(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every CRM request served since the last :meth:`clear_calls`."""
        return [tuple(c) for c in self.control("calls")["calls"]]

    def call_count(self) -> int:
        """How many CRM requests were served since the last :meth:`clear_calls`."""
        return int(self.control("calls")["count"])

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        self.control("calls/clear", {})

    def fault(self, kind: str, method: str = "*", path: str = "*", **options: Any) -> None:
        """Add a fault rule (see ``crm_sandbox.core.FaultRule``)."""
        self.control("faults", {"kind": kind, "method": method, "path": path, **options})

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules with their counters."""
        return self.control("faults")["rules"]

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.control("faults/clear", {})


class FastClock:
    """Moves the sandbox clock 10 s forward every ``period`` seconds (see the module docstring)."""

    def __init__(self, sandbox: SandboxProcess, period: float = 0.2) -> None:
        self.sandbox, self.period = sandbox, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sandbox.control("clock/advance", {"seconds": 10})

    def __enter__(self) -> FastClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- configs and the CLI ------------------------------------------------------------------------
def sf_source(sb: SandboxProcess, **overrides: Any) -> dict[str, Any]:
    """``sources.salesforce`` for the sandbox (OAuth password grant, secrets from REL_SF_*)."""
    return {"auth": "password", "login_url": sb.url, "ca_bundle": sb.ca_bundle,
            "username": "sandbox@partnerkpi.example", "password_env": "REL_SF_PASSWORD",
            "security_token_env": "REL_SF_TOKEN", "client_id_env": "REL_SF_CLIENT_ID",
            "client_secret_env": "REL_SF_CLIENT_SECRET", "retry_attempts": 3, **overrides}


def hs_source(sb: SandboxProcess, **overrides: Any) -> dict[str, Any]:
    """``sources.hubspot`` for the sandbox."""
    return {"token_env": "REL_HS_TOKEN", "host": sb.url, "ca_bundle": sb.ca_bundle,
            "retry_attempts": 3, **overrides}


def config(
    sb: SandboxProcess,
    database: Path,
    *,
    sources: tuple[str, ...] = ("salesforce", "hubspot"),
    writeback: bool = True,
    **source_overrides: Mapping[str, Any],
) -> dict[str, Any]:
    """A config dict for the sandbox: both CRMs as sources and write-back targets."""
    builders = {"salesforce": sf_source, "hubspot": hs_source}
    data: dict[str, Any] = {
        "database": str(database), "reporting_currency": "USD",
        "sources": {n: builders[n](sb, **source_overrides.get(n, {})) for n in sources},
        "kpis": {"quality_score": {"min_closed_deals": 1}},
    }
    if writeback:
        data["writeback"] = {"salesforce": {"fields": dict(SF_FIELDS)},
                             "hubspot": {"fields": dict(HS_FIELDS)}}
    return data


def write_yaml(path: Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as YAML at ``path``."""
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return path


def cli_env(secrets: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``partnerkpi`` subprocess: ours plus the secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REL_", "PARTNERKPI"))}
    env.update(secrets if secrets is not None else SANDBOX_SECRETS)
    env["COLUMNS"] = "200"
    return env


def run_cli(cfg: Path, *args: str, secrets: Mapping[str, str] | None = None,
            timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    """Run ``partnerkpi --config cfg ARGS`` to the end."""
    return subprocess.run([*PARTNERKPI, "--config", str(cfg), *args], cwd=ROOT,
                          env=cli_env(secrets), capture_output=True, text=True, timeout=timeout,
                          check=False)


def start_cli(cfg: Path, *args: str,
              secrets: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``partnerkpi --config cfg ARGS`` (output to pipes drained in the background)."""
    proc = subprocess.Popen([*PARTNERKPI, "--config", str(cfg), *args], cwd=ROOT,
                            env=cli_env(secrets), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)
    return proc


def wait_until(predicate: Callable[[], bool], *, timeout: float = 60.0,
               interval: float = 0.005, proc: subprocess.Popen[str] | None = None) -> None:
    """Poll ``predicate`` until true; fail if ``timeout`` passes or ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            msg = f"the process ended (exit {proc.returncode}) before the kill point"
            raise AssertionError(msg)
        if time.monotonic() > deadline:
            msg = "the kill point was not reached in time"
            raise AssertionError(msg)
        time.sleep(interval)


def sigkill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process (by its pid) and reap it."""
    assert proc.poll() is None, f"the process already ended with {proc.returncode}"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


# -- the store -----------------------------------------------------------------------------------
def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    skip = set(WALL_CLOCK_COLUMNS.get(table, ()))
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "AND table_schema = 'main' ORDER BY ordinal_position", [table]).fetchall()
    return [name for (name,) in rows if name not in skip]


def snapshot(database: Path, tables: tuple[str, ...] = CANONICAL_TABLES) -> dict[str, list[tuple]]:
    """Every row of each table (minus wall-clock columns), sorted: equal means row-for-row equal."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        out = {}
        for table in tables:
            cols = ", ".join(f'"{c}"' for c in _columns(con, table))
            out[table] = con.execute(f'SELECT {cols} FROM "{table}" ORDER BY ALL').fetchall()
        return out
    finally:
        con.close()


def duplicate_keys(database: Path) -> dict[str, int]:
    """Table -> rows sharing a primary key with another row (expected: all 0)."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        found = {}
        for table in CANONICAL_TABLES:
            (key,) = con.execute(
                "SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = ? "
                "AND constraint_type = 'PRIMARY KEY'", [table]).fetchone()
            cols = ", ".join(f'"{c}"' for c in key)
            (n,) = con.execute(
                f'SELECT count(*) FROM (SELECT {cols} FROM "{table}" GROUP BY ALL '
                "HAVING count(*) > 1)").fetchone()
            found[table] = n
        return found
    finally:
        con.close()


def diff(expected: Mapping[str, list[tuple]], actual: Mapping[str, list[tuple]]) -> dict[str, Any]:
    """A short account of how two snapshots differ (for assertion messages)."""
    out = {}
    for table in expected:
        want, got = set(expected[table]), set(actual.get(table, []))
        if want != got or len(expected[table]) != len(actual.get(table, [])):
            out[table] = {"rows": (len(expected[table]), len(actual.get(table, []))),
                          "missing": sorted(want - got, key=repr)[:3],
                          "extra": sorted(got - want, key=repr)[:3]}
    return out


@contextmanager
def fresh_faults(sb: SandboxProcess) -> Iterator[SandboxProcess]:
    """Clear faults and calls before and after a block."""
    sb.clear_faults()
    sb.clear_calls()
    try:
        yield sb
    finally:
        sb.clear_faults()
