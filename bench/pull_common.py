"""What the pull benchmarks share: a CRM sandbox in its own process, a recorder of the HTTP
requests a sync sends, and the bare loop that replays them.

The baseline of a pull benchmark is a *bare fetch-and-parse loop over the same pages*: every
request the connector sent in its sync (method, URL, body, headers, recorded at urllib3, under both
hubspot-api-client and simple-salesforce) is sent again with ``requests`` and its body parsed
(``json.loads``; Bulk API result pages, which are CSV, with ``csv.reader``), nothing stored. The
ratio sync / replay is then our own work per record: converting, checking, storing, committing.

The sandbox runs in a child process (``partnerkpi sandbox``), so the benchmark process's peak
RSS is the connector's alone; the sandbox's is read from ``/proc/<pid>/status`` (``VmHWM``).
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3.connectionpool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.http import make_session
from connectors.sync import SyncResult, run_sync
from kpi_engine.store import Store

#: Request headers not replayed (requests sets them itself).
_SKIP_HEADERS = {"content-length", "host", "connection"}


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, MB (Linux ``ru_maxrss`` is in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SandboxProcess:
    """``partnerkpi sandbox --data synthetic`` in a child process.

    Args:
        deals: synthetic deals to generate.
        seed: the generator's seed.

    Attributes:
        url: the HTTPS base URL. ca_bundle: the PEM file of its CA. ready_s: seconds to start.
    """

    def __init__(self, deals: int, seed: int) -> None:
        exe = shutil.which("partnerkpi", path=str(Path(sys.executable).parent)) or "partnerkpi"
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [exe, "sandbox", "--data", "synthetic", "--synthetic", str(deals), "--seed", str(seed),
             "--port", "0"], stdout=subprocess.PIPE, text=True)
        self.url = self.ca_bundle = ""
        while not (self.url and self.ca_bundle):
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line:
                msg = "the sandbox process ended before it served"
                raise RuntimeError(msg)
            if m := re.search(r" at (https://\S+)", line):
                self.url = m.group(1)
            if m := re.search(r"CA bundle: (\S+)", line):
                self.ca_bundle = m.group(1)
        self.ready_s = time.perf_counter() - started
        self.session = make_session(self.ca_bundle)

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """``POST /_sandbox/{path}`` (or GET without a body); the JSON answer."""
        url = f"{self.url}/_sandbox/{path}"
        response = (self.session.post(url, json=body) if body is not None
                    else self.session.get(url))
        response.raise_for_status()
        return response.json()

    def peak_rss_mb(self) -> float:
        """The sandbox process's peak RSS so far, MB (``VmHWM``)."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Recorded:
    """The requests a block sent, ``(method, absolute URL, body bytes or None, headers)`` each,
    pickled to a temporary file as they go (kept out of memory: the benchmark process's peak
    RSS is the connector's)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the recording
        self.count = 0

    def add(self, call: tuple[str, str, bytes | None, dict[str, str]]) -> None:
        pickle.dump(call, self.file)
        self.count += 1

    def __iter__(self) -> Iterator[tuple[str, str, bytes | None, dict[str, str]]]:
        self.file.seek(0)
        for _ in range(self.count):
            yield pickle.load(self.file)


@contextmanager
def record_requests() -> Iterator[Recorded]:
    """Record every request sent through urllib3 (hubspot-api-client, requests) in the block."""
    recorded = Recorded()
    original = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def urlopen(pool: Any, method: str, url: str, body: Any = None, headers: Any = None,
                *args: Any, **kwargs: Any) -> Any:
        data = body.encode() if isinstance(body, str) else body
        absolute = url if url.startswith("http") else f"{pool.scheme}://{pool.host}:{pool.port}{url}"
        recorded.add((method, absolute, data if isinstance(data, bytes) else None,
                      {k: v for k, v in (headers or {}).items()
                       if k.lower() not in _SKIP_HEADERS}))
        return original(pool, method, url, body, headers, *args, **kwargs)

    urllib3.connectionpool.HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign]
    try:
        yield recorded
    finally:
        urllib3.connectionpool.HTTPConnectionPool.urlopen = original  # type: ignore[method-assign]


def replay(recorded: Recorded, ca_bundle: str) -> int:
    """Send the recorded requests again with requests and parse each body; nothing stored.

    Returns:
        Records parsed (``results`` / ``records`` of JSON bodies, data rows of CSV bodies).
    """
    session = make_session(ca_bundle)
    records = 0
    for method, url, body, headers in recorded:
        content = session.request(method, url, data=body, headers=headers).content
        if content[:1] in (b"{", b"["):
            parsed = json.loads(content)
            if isinstance(parsed, dict):
                records += len(parsed.get("results") or parsed.get("records") or ())
        elif content:
            records += max(sum(1 for _ in csv.reader(io.StringIO(content.decode()))) - 1, 0)
    return records


@dataclass
class PullRun:
    """One benchmark run: a full sync into a fresh store, then the replay of its requests.

    Attributes:
        sync_s / loop_s: seconds of the sync and of the replay.
        result: the sync's result. requests: requests it sent. replayed: records the replay parsed.
        rss_mb: this process's peak RSS after the sync. duckdb_mb: what DuckDB held at its end.
    """

    sync_s: float
    loop_s: float
    result: SyncResult
    requests: int
    replayed: int
    rss_mb: float
    duckdb_mb: float

    @property
    def ratio(self) -> float:
        """Sync seconds per replay second."""
        return self.sync_s / self.loop_s

    def tail(self) -> str:
        """The part of a run's line every pull benchmark prints the same way."""
        return (f"bare loop over the same {self.requests:,} requests {self.loop_s:.2f} s "
                f"({self.replayed:,} records parsed); ratio {self.ratio:.2f}x; peak RSS so far "
                f"{self.rss_mb:,.0f} MB (DuckDB holding {self.duckdb_mb:,.0f} MB at the end of "
                "the sync)")


def pull_run(connector: Any, ca_bundle: str) -> PullRun:
    """Sync every stream of ``connector`` into a fresh store, recording its requests, then
    replay them (:func:`replay`)."""
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        with record_requests() as recorded:
            started = time.perf_counter()
            result = run_sync(store, connector)
            sync_s = time.perf_counter() - started
        rss = peak_rss_mb()
        duck_mb = store.con.execute(
            "SELECT sum(memory_usage_bytes) / 2 ** 20 FROM duckdb_memory()").fetchall()[0][0]
    started = time.perf_counter()
    replayed = replay(recorded, ca_bundle)
    loop_s = time.perf_counter() - started
    return PullRun(sync_s, loop_s, result, recorded.count, replayed, rss, duck_mb)


def median_line(runs: list[PullRun]) -> str:
    """``median of N: sync .. s, bare loop .. s, ratio ..x (goal <= 1.5x)`` (run_all reads it)."""
    return (f"median of {len(runs)}: sync {statistics.median(r.sync_s for r in runs):.2f} s, "
            f"bare loop {statistics.median(r.loop_s for r in runs):.2f} s, ratio "
            f"{statistics.median(r.ratio for r in runs):.2f}x (goal <= 1.5x)")
