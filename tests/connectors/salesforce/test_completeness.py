"""Completeness (Salesforce): after deals and partners, the org's ``SELECT COUNT()`` over the
window the run read against the store's count; a mismatch is reported and the next run re-reads
that window once.

The mismatch is made the way it happens in a real org: a record becomes visible after the pages
that should have held it were read, with a ``SystemModstamp`` inside the window (Salesforce
stamps a record when its transaction starts, not when it commits). Here: after run 2's deals
page, a deal appears stamped one second after the stored watermark.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from connectors.sync import StreamResult
from connectors.values import parse_instant
from kpi_engine.completeness import notes_and_counts
from kpi_engine.store import Store
from tests.helpers.salesforce import N_FILLER, NOW, Sleeps, sandbox_settings, start, sync

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]


def test_count_mismatch_is_reported_and_repaired_next_run(sleeps: Sleeps) -> None:
    with start() as sb:
        sf = sb.salesforce
        settings = sandbox_settings(sb, streams=["stages", "partners", "deals"])
        store = Store(":memory:")
        first, _ = sync(store, settings, sleeps, now=NOW)
        assert first.streams["deals"].complete is True
        watermark = parse_instant(store.watermarks("salesforce")["deals"])
        assert watermark is not None
        run2 = NOW + timedelta(hours=1)
        sb.clock.freeze(run2)
        late: list[str] = []

        def appear(stream: str, counts: StreamResult) -> None:
            if stream == "deals" and not late:  # after the deals page was committed
                late.append(sf.create("Opportunity", {
                    "Name": "Late deal", "StageName": "Prospecting", "Amount": Decimal(5),
                    "CloseDate": date(2024, 9, 1), "OwnerId": sf.id_for("User", "U1")}))
                rec = sf.record("Opportunity", late[0])
                assert rec is not None
                rec["SystemModstamp"] = watermark + timedelta(seconds=1)

        sf.update("Opportunity", sf.id_for("Opportunity", "D1"), {"Name": "USD deal v2"})
        second, _ = sync(store, settings, sleeps, now=run2, progress=appear)
        start_of_window = watermark - timedelta(seconds=settings.lookback_seconds)
        # in the window: D2 (at the watermark) and the late deal; D1, edited at run 2's start,
        # belongs to the next window
        line = (f"salesforce deals: {start_of_window.isoformat()} .. {run2.isoformat()}: the CRM "
                "counts 2 live records, the store 1; the next sync re-reads this window")
        assert second.streams["deals"].complete is False
        assert line in second.streams["deals"].warnings
        assert store.con.execute(
            "SELECT crm_count, store_count, repair_from, repairs FROM stream_counts "
            "WHERE stream = 'deals'").fetchall() == [(2, 1, start_of_window, 0)]
        assert store.con.execute(
            "SELECT count(*) FROM deals WHERE deal_id = ?", [late[0]]).fetchall() == [(0,)]

        run3 = run2 + timedelta(hours=1)
        sb.clock.freeze(run3)
        third, _ = sync(store, settings, sleeps, now=run3)
        assert third.streams["deals"].complete is True
        assert store.con.execute(
            "SELECT count(*) FROM deals WHERE deal_id = ?", [late[0]]).fetchall() == [(1,)]
        assert store.con.execute(
            "SELECT crm_count, store_count, repair_from, repairs FROM stream_counts "
            "WHERE stream = 'deals'").fetchall() == [(3, 3, None, 0)]  # + D1, edited at run 2
        assert store.con.execute(
            "SELECT count(*) FROM deals WHERE NOT is_deleted").fetchall() == [(3 + N_FILLER + 1,)]
        _, counts = notes_and_counts(store)
        assert [(c["stream"], c["crm_count"], c["store_count"]) for c in counts] == [
            ("deals", 3, 3), ("partners", 2, 2)]  # both partners stamped at the watermark
