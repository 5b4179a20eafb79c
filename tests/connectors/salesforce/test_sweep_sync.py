"""The periodic hard-delete sweep: records purged from the recycle bin never come back, even
through queryAll; every ``sweep_interval_days`` the full id lists flag them deleted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from crm_sandbox.server import Sandbox
from kpi_engine.errors import StoreError
from kpi_engine.store import Store
from tests.helpers.salesforce import N_FILLER, NOW, Sleeps, sandbox_settings, start, sync

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]


@pytest.fixture
def own() -> Iterator[Sandbox]:
    with start() as sb:
        yield sb


def _live(store: Store, table: str) -> int:
    return store.con.execute(
        f"SELECT count(*) FROM {table} WHERE source = 'salesforce' AND NOT is_deleted"
    ).fetchall()[0][0]


def test_sweep_flags_purged_records_once_due(own: Sandbox, sleeps: Sleeps) -> None:
    store = Store(":memory:")
    settings = sandbox_settings(own, page_size=200, sweep_interval_days=7)
    first, _ = sync(store, settings, sleeps, now=NOW)
    assert store.watermarks("salesforce").get("deleted_sweep") == NOW.isoformat(
        timespec="microseconds")
    live_deals = _live(store, "deals")
    assert live_deals == 3 + N_FILLER
    gone = [own.salesforce.id_for("Opportunity", f"F{n:04d}") for n in (1, 2, 3)]
    for record in gone:
        own.salesforce.purge("Opportunity", record)
    own.salesforce.purge("Lead", own.salesforce.id_for("Lead", "L2"))

    not_yet, _ = sync(store, settings, sleeps, now=NOW + timedelta(days=6))
    assert not_yet.streams["deleted_sweep"].deleted == 0
    assert _live(store, "deals") == live_deals

    due, connector = sync(store, settings, sleeps, now=NOW + timedelta(days=7, hours=1))
    assert due.streams["deleted_sweep"].deleted == 4
    flagged = store.con.execute(
        "SELECT deal_id FROM deals WHERE is_deleted ORDER BY 1").fetchall()
    assert [r[0] for r in flagged if r[0] in gone] == sorted(gone)
    assert _live(store, "deals") == live_deals - 3
    assert _live(store, "leads") == 1
    assert store.watermarks("salesforce").get("deleted_sweep") == (
        NOW + timedelta(days=7, hours=1)).isoformat(timespec="microseconds")


def test_sweep_refuses_an_implausible_id_list(own: Sandbox, sleeps: Sleeps) -> None:
    store = Store(":memory:")
    settings = sandbox_settings(own, page_size=200, sweep_interval_days=1,
                                streams=["stages", "owners", "partners", "deals"])
    sync(store, settings, sleeps, now=NOW)
    for n in range(1, N_FILLER // 2 + 10):
        own.salesforce.purge("Opportunity", own.salesforce.id_for("Opportunity", f"F{n:04d}"))
    before = store.con.execute("SELECT * FROM deals ORDER BY deal_id").fetchall()
    with pytest.raises(StoreError, match=r"would flag \d+ of \d+ live salesforce rows"):
        sync(store, settings, sleeps, now=NOW + timedelta(days=2))
    assert store.con.execute("SELECT * FROM deals ORDER BY deal_id").fetchall() == before
