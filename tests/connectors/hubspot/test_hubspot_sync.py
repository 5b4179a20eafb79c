"""First sync, incremental, archive (C-06), records edited mid-run (C-02), a crash between
pages, full refresh: the HubSpot connector through the real client against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from connectors.errors import FatalAPIError
from connectors.sync import StreamResult
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store
from tests.helpers.hubspot import rows, sync
from tests.helpers.hubspot_world import small_world

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
SEARCH = ("POST", "/crm/v3/objects/deals/search")
LIST = ("GET", "/crm/v3/objects/deals")
LIVE = 6  # small_world: 7 deals, D5 archived


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """A fresh sandbox per test: these tests change records."""
    with Sandbox(small_world(), clock=Clock(NOW)) as sandbox:
        yield sandbox


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:") as st:
        yield st


def deals_table(store: Store) -> list[tuple]:
    return rows(store, "SELECT * FROM deals ORDER BY deal_id")


def test_first_sync_reads_every_live_deal_and_flags_the_archived_one(sb, store) -> None:
    result = sync(store, sb)
    assert result.status == "ok"
    assert result.streams["deals"].tables["deals"].inserted == LIVE
    assert rows(store, "SELECT count(*) FROM deals WHERE NOT is_deleted") == [(LIVE,)]
    assert rows(store, "SELECT count(*) FROM owners") == [(3,)]
    assert rows(store, "SELECT count(*) FROM partners") == [(3,)]
    assert rows(store, "SELECT count(*) FROM stages") == [(5,)]
    d1 = sb.hubspot.deal_id("D1")
    assert rows(store, "SELECT stage FROM stage_history WHERE deal_id = ? ORDER BY entered_at",
                d1) == [("appointmentscheduled",), ("qualifiedtobuy",), ("closedwon",)]
    assert rows(store, "SELECT watermark FROM sync_state WHERE stream = 'deals'") == [
        ("2024-05-31T09:00:00.000000+00:00",)]
    # a first sync lists deals (one page, then the archived pass); it never searches
    # the list pages; one search: the completeness count
    assert (sb.call_counts()[LIST], sb.call_counts()[SEARCH]) == (2, 1)
    assert result.api_calls == sb.call_counts().total()


def test_first_sync_by_search_gives_the_same_store(sb, store) -> None:
    sync(store, sb)
    with Store(":memory:") as searched:
        sync(searched, sb, first_sync="search", page_size=2)
        assert deals_table(searched) == deals_table(store)
        # histories from the list pages equal those from the search's batch reads
        history = "SELECT * FROM stage_history ORDER BY deal_id, entered_at"
        assert len(rows(store, history)) == 12  # live deals D1 3, D2-D4 and D6 2 each, D7 1
        assert rows(searched, history) == rows(store, history)
        assert rows(searched, "SELECT watermark FROM sync_state WHERE stream = 'deals'") == rows(
            store, "SELECT watermark FROM sync_state WHERE stream = 'deals'")


def test_incremental_reads_only_changed_deals(sb, store) -> None:
    sync(store, sb)
    sb.clock.advance(3600)
    d1 = sb.hubspot.deal_id("D1")
    sb.hubspot.update("deals", d1, {"amount": "12000"})
    new = sb.hubspot.create("deals", {"dealname": "new", "dealstage": "Engaging", "amount": "99"})
    sb.calls.clear()
    result = sync(store, sb)
    deals = result.streams["deals"].tables["deals"]
    # unchanged 1: D3, modified at the watermark itself, is read again (>= watermark - lookback)
    assert (deals.inserted, deals.updated, deals.unchanged) == (1, 1, 1)
    assert rows(store, "SELECT amount FROM deals WHERE deal_id = ?", d1)[0][0] == 12000
    assert rows(store, "SELECT stage, is_closed FROM deals WHERE deal_id = ?", new) == [
        ("qualifiedtobuy", False)]
    assert sb.call_counts()[SEARCH] == 1 + 1  # the incremental search, the completeness count


def test_archived_deal_is_flagged_deleted_next_run_c06(sb, store) -> None:
    sync(store, sb)
    d4 = sb.hubspot.deal_id("D4")  # open pipeline deal
    sb.clock.advance(60)
    sb.hubspot.delete("deals", d4)  # archive: hs_lastmodifieddate unchanged
    result = sync(store, sb)
    assert result.streams["archived_deals"].deleted == 1
    assert rows(store, "SELECT is_deleted FROM deals WHERE deal_id = ?", d4) == [(True,)]
    assert rows(store, "SELECT count(*) FROM deals WHERE NOT is_deleted AND NOT is_closed "
                "AND partner_id = ?", sb.hubspot.company_id("P02")) == [(0,)]


def test_deal_edited_during_the_sync_is_read_next_run_c02(sb, store) -> None:
    sb.clock.freeze(datetime(2024, 5, 1, 0, 0, tzinfo=UTC))
    sync(store, sb)  # first sync a month earlier: watermark 2024-05-01 (its start)
    sb.clock.freeze(NOW)
    edited = sb.hubspot.deal_id("D2")  # on the first search page (modified 2024-05-10)

    def edit_mid_run(stream: str, counts: StreamResult) -> None:
        if stream == "deals" and counts.pages == 1:
            sb.clock.advance(5)  # 10:00:05, after the run started at 10:00:00
            sb.hubspot.update("deals", edited, {"amount": "5000"})

    sync(store, sb, page_size=2, deals_per_commit=2, progress=edit_mid_run)
    # min(run start, max seen): the edit at 10:00:05 was seen, the watermark stays at the start.
    assert rows(store, "SELECT watermark FROM sync_state WHERE stream = 'deals'") == [
        ("2024-06-01T10:00:00.000000+00:00",)]
    sb.clock.freeze(datetime(2024, 6, 1, 11, 0, tzinfo=UTC))
    sync(store, sb, page_size=2, lookback_minutes=0)
    assert rows(store, "SELECT amount FROM deals WHERE deal_id = ?", edited)[0][0] == 5000
    assert rows(store, "SELECT count(*) FROM deals WHERE NOT is_deleted") == [(LIVE,)]


@pytest.mark.parametrize(("first_sync", "call"), [("list", LIST), ("search", SEARCH)])
def test_crash_between_pages_then_next_run_equals_a_clean_run(sb, store, first_sync, call) -> None:
    sb.faults.add("status", call[0], call[1], status=400, after=1, times=1,
                  body={"status": "error", "message": "boom", "category": "VALIDATION_ERROR"})
    settings = {"page_size": 2, "deals_per_commit": 2, "first_sync": first_sync}
    with pytest.raises(FatalAPIError, match="400"):
        sync(store, sb, **settings)
    assert rows(store, "SELECT count(*) FROM deals") == [(2,)]  # the committed first page
    assert rows(store, "SELECT status FROM sync_runs") == [("failed",)]
    sync(store, sb, **settings)
    with Store(":memory:") as clean:
        sync(clean, sb, **settings)
        assert deals_table(store) == deals_table(clean)
        assert rows(store, "SELECT * FROM sync_state WHERE stream = 'deals'")[0][:3] == rows(
            clean, "SELECT * FROM sync_state WHERE stream = 'deals'")[0][:3]


def test_keyset_pages_read_every_deal_once_per_page(sb, store) -> None:
    result = sync(store, sb, page_size=2, deals_per_commit=2, first_sync="search")
    assert result.streams["deals"].pages == 3
    assert sb.call_counts()[SEARCH] == 3 + 1  # three keyset pages, the completeness count
    assert rows(store, "SELECT count(*) FROM deals WHERE NOT is_deleted") == [(LIVE,)]


def test_full_refresh_reads_everything_again(sb, store) -> None:
    sync(store, sb)
    result = sync(store, sb, full_refresh=True)
    deals = result.streams["deals"].tables["deals"]
    assert (deals.inserted, deals.updated, deals.unchanged) == (0, 0, LIVE)


def test_search_never_pages_by_offset_so_the_10k_cap_cannot_stop_it(sb, store, monkeypatch):
    # a portal whose search pages through at most 3 results: keyset pages never ask past it
    monkeypatch.setattr("crm_sandbox.hubspot_objects.MAX_SEARCH_RESULTS", 3)
    sync(store, sb, page_size=2, first_sync="search")
    assert rows(store, "SELECT count(*) FROM deals WHERE NOT is_deleted") == [(LIVE,)]
