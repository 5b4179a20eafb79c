"""Kill tests for ``partnerkpi push``: SIGKILLed before and during each CRM's write call.

A store synced from the sandbox (3,000 synthetic deals; 6 partner Accounts and 6 partner
companies) and computed is the template. Before each test the KPI fields of every partner record
are cleared in the CRM; ``push`` is killed while a ``delay`` fault holds one of its requests.
A held write is answered a second later: the CRM applies it although the client is gone (the
``push_state`` never heard of it). Then a normal ``push`` must take over the dead job's lock,
exit 0 (reading the CRM, it sends only what did not land, and records what did in
``push_state``), and leave ``push_state`` and every CRM field equal to one clean push; one more
``push`` makes no write call, and the canonical tables are untouched.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.helpers.reliability import (
    HS_FIELDS,
    SANDBOX_SECRETS,
    SF_FIELDS,
    FastClock,
    SandboxProcess,
    config,
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
API = "/services/data/v60.0"


@dataclass(frozen=True)
class PushKill:
    """Hold the ``n``-th ``method path`` request for ``seconds`` and kill ``push`` meanwhile;
    ``resumed`` is what the next push prints per CRM (records written)."""

    id: str
    method: str
    path: str
    seconds: float
    resumed: dict[str, int]


PUSH_KILLS = [
    PushKill("sf-describe-before-any-write", "GET", f"{API}/sobjects/Account/describe", 30,
             {"salesforce": 6, "hubspot": 6}),
    # the held write landed: the next push reads the CRM, finds the values, sends nothing
    PushKill("sf-write-in-flight-applied-after-kill", "PATCH", f"{API}/composite/sobjects", 1.0,
             {"salesforce": 0, "hubspot": 6}),
    # the preflight checks every target before the first write: killed in HubSpot's check,
    # nothing was written anywhere
    PushKill("hs-preflight-describe", "GET", "/crm/v3/properties/companies", 30,
             {"salesforce": 6, "hubspot": 6}),
    PushKill("hs-write-in-flight-applied-after-kill", "POST",
             "/crm/v3/objects/companies/batch/update", 1.0, {"salesforce": 0, "hubspot": 0}),
]


@dataclass
class PushWorld:
    """The sandbox, the synced-and-computed template, and one clean push's results."""

    sb: SandboxProcess
    template: Path
    canonical: dict[str, list[tuple]]
    push_state: list[tuple]
    crm: dict[str, dict[str, Any]]


def _partner_ids(db: Path) -> dict[str, list[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT source, partner_id FROM partners ORDER BY ALL").fetchall()
    finally:
        con.close()
    out: dict[str, list[str]] = {}
    for source, pid in rows:
        out.setdefault(source, []).append(pid)
    return out


def crm_values(sb: SandboxProcess, ids: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The KPI fields of every partner record, as the CRM holds them (read through its API)."""
    token = sb.control("salesforce/token", {})["access_token"]
    fields = ", ".join(SF_FIELDS.values())
    soql = f"SELECT Id, {fields} FROM Account WHERE IsPartner = true"
    sf = sb.http.get(f"{sb.url}{API}/query", params={"q": soql},
                     headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    hs = sb.http.post(f"{sb.url}/crm/v3/objects/companies/batch/read",
                      json={"inputs": [{"id": i} for i in ids["hubspot"]],
                            "properties": list(HS_FIELDS.values())},
                      headers={"Authorization": f"Bearer {SANDBOX_SECRETS['REL_HS_TOKEN']}"},
                      timeout=30).json()
    out = {f"salesforce:{r['Id']}": {f: r[f] for f in SF_FIELDS.values()} for r in sf["records"]}
    out.update({f"hubspot:{r['id']}": {f: r["properties"].get(f) for f in HS_FIELDS.values()}
                for r in hs["results"]})
    return out


def clear_crm(sb: SandboxProcess, ids: dict[str, list[str]]) -> None:
    """Empty the KPI fields of every partner record (as an admin would)."""
    for pid in ids["salesforce"]:
        sb.control("salesforce/update", {"object_type": "Account", "id": pid,
                                         "values": dict.fromkeys(SF_FIELDS.values())})
    for pid in ids["hubspot"]:
        sb.control("hubspot/update", {"object_type": "companies", "id": pid,
                                      "values": dict.fromkeys(HS_FIELDS.values(), "")})


def push_state(db: Path) -> list[tuple]:
    """``push_state`` without its wall-clock and run-counter columns."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT source, object, record_id, field, value FROM push_state "
                           "ORDER BY ALL").fetchall()
    finally:
        con.close()


def _push_lines(stdout: str) -> dict[str, int]:
    lines = [line for line in stdout.splitlines() if line.startswith("push ")]
    out = {}
    for line in lines:
        source, rest = line.removeprefix("push ").split(": ", 1)
        out[source] = int(rest.split(" written")[0])
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushWorld]:
    """Sandbox, template store (sync + compute) and the outcome of one clean push."""
    tmp = tmp_path_factory.mktemp("kill-push")
    sb = SandboxProcess(N_DEALS, SEED).start()
    try:
        template = tmp / "template.duckdb"
        with FastClock(sb):
            cfg = write_yaml(tmp / "template.yaml", config(sb, template))
            for args in (("sync",), ("compute",)):
                done = run_cli(cfg, *args)
                assert done.returncode == 0, done.stderr
            clean = tmp / "clean.duckdb"
            shutil.copy(template, clean)
            ids = _partner_ids(clean)
            clear_crm(sb, ids)
            done = run_cli(write_yaml(tmp / "clean.yaml", config(sb, clean)), "push")
            assert done.returncode == 0, done.stderr
            assert _push_lines(done.stdout) == {"salesforce": 6, "hubspot": 6}
            crm = crm_values(sb, ids)
        assert all(v is not None and v != "" for rec in crm.values() for v in rec.values())
        yield PushWorld(sb, template, snapshot(template), push_state(clean), crm)
    finally:
        sb.stop()


@pytest.mark.parametrize("point", PUSH_KILLS, ids=[p.id for p in PUSH_KILLS])
def test_push_killed_then_resumed_equals_clean_push(
    world: PushWorld, point: PushKill, tmp_path: Path
) -> None:
    sb = world.sb
    db = tmp_path / "store.duckdb"
    shutil.copy(world.template, db)
    ids = _partner_ids(db)
    cfg = write_yaml(tmp_path / "partnerkpi.yaml", config(sb, db))
    with fresh_faults(sb), FastClock(sb):
        clear_crm(sb, ids)
        sb.fault("delay", point.method, point.path, times=1, seconds=point.seconds)
        proc = start_cli(cfg, "push")
        try:
            wait_until(lambda: (point.method, point.path) in sb.calls(), proc=proc,
                       interval=0.01)
            sigkill(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert Path(f"{db}.lock").exists()  # the dead job's lock file stays behind
        if point.seconds < 30:
            time.sleep(point.seconds + 0.3)  # the held write reaches the CRM after the kill
        sb.clear_faults()
        resumed = run_cli(cfg, "push")
        assert resumed.returncode == 0, resumed.stderr
        assert _push_lines(resumed.stdout) == point.resumed
        again = run_cli(cfg, "push")
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines() == [
            "push salesforce: 0 written, 0 failed, 18 fields unchanged, 0 skipped by policy, 0 "
            "write calls, 1 read calls",
            "push hubspot: 0 written, 0 failed, 18 fields unchanged, 0 skipped by policy, 0 write "
            "calls, 1 read calls",
        ]
        assert crm_values(sb, ids) == world.crm
    assert push_state(db) == world.push_state
    assert snapshot(db) == world.canonical
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM (SELECT source, object, record_id, field "
                           "FROM push_state GROUP BY ALL HAVING count(*) > 1)").fetchone() == (0,)
    finally:
        con.close()
