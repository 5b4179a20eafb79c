"""Kill tests: ``partnerkpi sync`` SIGKILLed at many points, then a normal ``sync``.

The CRM sandbox serves a synthetic World of 3,000 deals (11,178 stage-history rows, 1,481 leads;
sized so the folder runs in about four minutes on two cores) as a Salesforce org and a HubSpot
portal, in its own process. ``sync`` runs as a subprocess with both CRMs configured and is
killed:

- while it waits for a request that a ``delay`` fault holds (the pages before it are committed),
- right after a given request was served (the client is parsing or committing that page),
- as the DuckDB write-ahead log grows (in the page's commit).

After the kill the DuckDB file must open, a normal ``sync`` must end with exit code 0, and every
canonical table must equal, row for row, the store of one clean uninterrupted ``sync``, with no
duplicate primary key. Kill points are request positions taken from the clean run's request log.
"""

from __future__ import annotations

import fnmatch
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from kpi_engine.store import CANONICAL_TABLES
from tests.helpers.reliability import (
    FastClock,
    SandboxProcess,
    config,
    diff,
    duplicate_keys,
    fresh_faults,
    run_cli,
    sigkill,
    snapshot,
    start_cli,
    wait_until,
    write_yaml,
)

pytestmark = pytest.mark.slow

N_DEALS, SEED = 3000, 11
QUERY = "/services/data/*/queryAll/*"
HS_DEALS = "/crm/v3/objects/deals"


@dataclass(frozen=True)
class KillPoint:
    """Where to kill ``sync``.

    Attributes:
        id: the test id.
        start: ``empty`` (a new store) or ``sf-synced`` (Salesforce synced, HubSpot never).
        trigger: (method, path glob, n): kill once the n-th such request (1-based; negative:
            counted from the end of the clean run's log) reached the sandbox.
        hold: (method, path glob, n) of a request a ``delay`` fault holds for 30 s, so the
            client cannot run past it (None: nothing held).
        then: ``now``, ``wal`` (wait for the write-ahead log to change: a commit), or seconds
            to wait after the trigger.
        committed: rows per table and source the killed run must have left (None: any subset
            of the clean run's rows, for kill points that race the client).
    """

    id: str
    start: str
    trigger: tuple[str, str, int]
    hold: tuple[str, str, int] | None = None
    then: str | float = "now"
    committed: dict[str, dict[str, int]] | None = None


def _held(method: str, path: str, n: int) -> tuple[tuple[str, str, int], tuple[str, str, int]]:
    return (method, path, n), (method, path, n)


def _rows(source: str, **tables: int) -> dict[str, dict[str, int]]:
    return {table: {source: n} for table, n in tables.items()}


def _merge(*parts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for part in parts:
        for table, by_source in part.items():
            out.setdefault(table, {}).update(by_source)
    return out


def _partner_links() -> dict[str, int]:
    """Partner links (``deal_partners`` rows) of the synthetic World, worked out from it: a live
    deal's partner field (its partner live) and each of its labelled links; Salesforce has an
    OpportunityPartner row for the partner field's partner too (its reverse row left out)."""
    from crm_sandbox.synthetic import synthetic

    w = synthetic(N_DEALS, SEED)
    live_partners = {p.key for p in w.partners if not p.is_deleted}
    live = [(i, d) for i, d in enumerate(w.deals) if not d.is_deleted]

    def field(deals: list) -> int:
        return sum(1 for d in deals if d.partner_key in live_partners)

    def links(deals: list) -> int:
        return sum(len(d.partner_links) for d in deals)

    every = [d for _, d in live]
    sf_first = [d for _, d in sorted(live, key=lambda t: (t[1].modified_at, t[0]))[:1976]]
    return {"sf": 2 * field(every) + links(every), "sf_field": field(every),
            "sf_page_1": field(sf_first), "hs": field(every) + links(every),
            "hs_first_1000": field(every[:1000]) + links(every[:1000])}


_LINKS = _partner_links()
# what the synthetic World (3,000 deals, seed 11) holds, per stream
_SF_REF = _rows("salesforce", currency_rates=3, stages=7, owners=20, partners=6)
_SF_ALL = _merge(_SF_REF, _rows("salesforce", deals=2966, stage_history=11178, leads=1481,
                                deal_partners=_LINKS["sf"]))
_HS_REF = _rows("hubspot", stages=7, owners=20, partners=6)

KILL_POINTS = [
    KillPoint("sf-oauth-login", "empty", *_held("POST", "/services/oauth2/token", 1),
              committed={}),
    # queryAll calls: CurrencyType, DatedConversionRate, stages, owners, partners, deals ...
    KillPoint("sf-deals-between-page-1-and-2", "empty", *_held("GET", QUERY, 7),
              committed=_merge(_SF_REF, _rows("salesforce", deals=1976,
                                              deal_partners=_LINKS["sf_page_1"]))),
    KillPoint("sf-deals-page-1-in-flight", "empty", ("GET", QUERY, 6), ("GET", QUERY, 7), 0.0),
    KillPoint("sf-history-page-3-commit", "empty", ("GET", QUERY, 10), ("GET", QUERY, 11), "wal"),
    # the last 3 queries read OpportunityPartner (5,550 rows with the reverse ones, 2,000 a page)
    KillPoint("sf-leads-last-page", "empty", *_held("GET", QUERY, -4),
              committed=_merge(_SF_REF, _rows("salesforce", deals=2966, stage_history=11178,
                                              deal_partners=_LINKS["sf_field"]))),
    KillPoint("sf-done-hubspot-not-started", "empty", *_held("GET", "/crm/v3/pipelines/deals", 1),
              committed=_SF_ALL),
    KillPoint("hs-archived-owners", "sf-synced", *_held("GET", "/crm/v3/owners/", 2),
              committed=_merge(_SF_ALL, _rows("hubspot", stages=7))),
    # a first sync lists 50 deals a request (with their stage history), 1,000 per commit
    KillPoint("hs-deals-list-page-2", "sf-synced", *_held("GET", HS_DEALS, 22),
              committed=_merge(_SF_ALL, _HS_REF, _rows("hubspot", deals=1000,
                                                       stage_history=4366,
                                                       deal_partners=_LINKS["hs_first_1000"]))),
    KillPoint("hs-deals-page-2-commit", "sf-synced", ("GET", HS_DEALS, 40),
              ("GET", HS_DEALS, 41), "wal"),
    KillPoint("hs-deals-list-page-3-in-flight", "sf-synced", ("GET", HS_DEALS, 50),
              ("GET", HS_DEALS, 51), 0.02),
    KillPoint("hs-archived-deals", "sf-synced", *_held("GET", HS_DEALS, -1),
              committed=_merge(_SF_ALL, _HS_REF, _rows("hubspot", deals=2966,
                                                       stage_history=11178,
                                                       deal_partners=_LINKS["hs"]))),
]


@dataclass
class World:
    """The module's sandbox, the clean run's store and request log, and the templates."""

    sb: SandboxProcess
    baseline: dict[str, list[tuple]]
    log: list[tuple[str, str]]
    sf_synced: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Start the sandbox; one clean ``sync`` (the reference) and one Salesforce-only template."""
    tmp = tmp_path_factory.mktemp("kill-sync")
    sb = SandboxProcess(N_DEALS, SEED).start()
    try:
        with FastClock(sb):
            sb.clear_calls()
            clean = write_yaml(tmp / "clean.yaml", config(sb, tmp / "clean.duckdb"))
            done = run_cli(clean, "sync")
            assert done.returncode == 0, done.stderr
            log = sb.calls()
            sf = write_yaml(tmp / "sf.yaml", config(sb, tmp / "sf.duckdb"))
            done = run_cli(sf, "sync", "--source", "salesforce")
            assert done.returncode == 0, done.stderr
        yield World(sb, snapshot(tmp / "clean.duckdb"), log, tmp / "sf.duckdb")
    finally:
        sb.stop()


def _matching(log: list[tuple[str, str]], method: str, path: str) -> int:
    return sum(1 for m, p in log if method in ("*", m) and fnmatch.fnmatchcase(p, path))


def _position(world: World, method: str, path: str, n: int) -> int:
    if n > 0:
        return n
    total = _matching(world.log, method, path)
    return total + 1 + n


def _wal_changes(wal: Path) -> Callable[[], bool]:
    def size() -> int:
        return wal.stat().st_size if wal.exists() else -1

    start = size()
    return lambda: size() != start


def _opened_copy(db: Path, where: Path) -> dict[str, list[tuple]]:
    """Open a copy of the killed run's store (file and WAL) read-write, as the next run will,
    and snapshot it; the store itself is left as the kill left it."""
    where.mkdir()
    for file in db.parent.glob(db.name + "*"):
        shutil.copy(file, where / file.name)
    duckdb.connect(str(where / db.name)).close()  # opens: the WAL is replayed
    return snapshot(where / db.name)


def _counts(snap: dict[str, list[tuple]]) -> dict[str, dict[str, int]]:
    """Rows per table and source (the first column of every canonical table is ``source``)."""
    out: dict[str, dict[str, int]] = {}
    for table, rows in snap.items():
        for row in rows:
            out.setdefault(table, {}).setdefault(row[0], 0)
            out[table][row[0]] += 1
    return out


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.id for p in KILL_POINTS])
def test_sync_killed_then_resumed_equals_clean_run(
    world: World, point: KillPoint, tmp_path: Path
) -> None:
    sb = world.sb
    db = tmp_path / "store.duckdb"
    if point.start == "sf-synced":
        shutil.copy(world.sf_synced, db)
    cfg = write_yaml(tmp_path / "partnerkpi.yaml", config(sb, db))
    with fresh_faults(sb), FastClock(sb):
        if point.hold is not None:
            method, path, n = point.hold
            sb.fault("delay", method, path, after=_position(world, method, path, n) - 1,
                     times=1, seconds=30)
        proc = start_cli(cfg, "sync")
        try:
            method, path, n = point.trigger
            at = _position(world, method, path, n)
            wait_until(lambda: _matching(sb.calls(), method, path) >= at, proc=proc,
                       interval=0.01)
            if point.then == "wal":
                wait_until(_wal_changes(Path(f"{db}.wal")), proc=proc, interval=0.0005,
                           timeout=30)
            elif isinstance(point.then, float) and point.then > 0:
                time.sleep(point.then)
            sigkill(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        sb.clear_faults()

        left = _opened_copy(db, tmp_path / "left")
        resumed = run_cli(cfg, "sync")
    for table, rows in left.items():  # whatever was committed is final: nothing half-written
        assert set(rows) <= set(world.baseline[table]), table
    if point.committed is not None:
        assert _counts(left) == point.committed
    assert resumed.returncode == 0, resumed.stderr
    assert "error" not in resumed.stderr
    after = snapshot(db)
    assert after == world.baseline, diff(world.baseline, after)
    assert duplicate_keys(db) == dict.fromkeys(world.baseline, 0)


def test_sync_killed_while_creating_the_store_then_resumed(world: World, tmp_path: Path) -> None:
    """Kill ``sync`` as soon as a file of the new store appears, three times over (the window
    in which DuckDB has created the file but not written its header is short)."""
    sb = world.sb
    for attempt in range(3):
        folder = tmp_path / f"attempt-{attempt}"
        folder.mkdir()
        db = folder / "store.duckdb"
        cfg = write_yaml(folder / "partnerkpi.yaml", config(sb, db))
        proc = start_cli(cfg, "sync")
        try:
            wait_until(lambda folder=folder: any(folder.glob("store.duckdb*")), proc=proc,
                       interval=0)
            sigkill(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if db.exists():
            assert _opened_copy(db, folder / "left") == {t: [] for t in CANONICAL_TABLES}
    with FastClock(sb):
        resumed = run_cli(cfg, "sync")
    assert resumed.returncode == 0, resumed.stderr
    after = snapshot(db)
    assert after == world.baseline, diff(world.baseline, after)
