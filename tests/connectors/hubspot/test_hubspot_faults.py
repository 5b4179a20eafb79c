"""Faults on the wire (C-09): 429 with and without Retry-After on search POST and on GET, the
SECONDLY and DAILY policies, 503, a dropped connection, retries running out. One sandbox for the
module; each test clears its faults and syncs into a fresh store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.errors import LimitReachedError, RetriableAPIError
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store
from tests.helpers.hubspot import Sleeps, connector, rows, sync
from tests.helpers.hubspot_world import small_world

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[3] / "fixtures" / "api-samples"
SEARCH = "/crm/v3/objects/deals/search"
OWNERS = "/crm/v3/owners*"
LIVE = 6


@pytest.fixture(scope="module")
def module_sb() -> Iterator[Sandbox]:
    with Sandbox(small_world(), clock=Clock(datetime(2024, 6, 1, 10, 0, tzinfo=UTC))) as sb:
        yield sb


@pytest.fixture
def sb(module_sb: Sandbox) -> Iterator[Sandbox]:
    module_sb.faults.clear()
    module_sb.calls.clear()
    yield module_sb
    module_sb.faults.clear()


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:") as st:
        yield st


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def live_deals(store: Store) -> int:
    return rows(store, "SELECT count(*) FROM deals WHERE NOT is_deleted")[0][0]


def test_429_on_search_post_with_retry_after_waits_at_least_that(sb, store) -> None:
    sleeps = Sleeps()
    sb.faults.add("status", "POST", SEARCH, status=429, retry_after=2, times=1, after=1)
    result = sync(store, sb, sleeps, page_size=2, first_sync="search")
    assert result.status == "ok"
    assert sleeps == [2.0]
    assert live_deals(store) == LIVE
    assert result.streams["deals"].tables["deals"].inserted == LIVE  # each deal loaded once


def test_429_on_search_post_without_retry_after_waits_out_ten_seconds(sb, store) -> None:
    sleeps = Sleeps()
    sb.faults.add("status", "POST", SEARCH, status=429, times=1,
                  body=sample("hubspot-429-ten-secondly.json"))
    sync(store, sb, sleeps, first_sync="search")
    assert sleeps == [10.0]
    assert live_deals(store) == LIVE


@pytest.mark.parametrize(("retry_after", "body", "wait"), [
    (3, None, 3.0),
    (None, "hubspot-429-ten-secondly.json", 10.0),
    (None, "hubspot-429-secondly.json", 1.0),
], ids=["retry-after", "ten-secondly", "secondly"])
def test_429_on_get_is_retried(sb, store, retry_after, body, wait) -> None:
    sleeps = Sleeps()
    sb.faults.add("status", "GET", OWNERS, status=429, times=1, retry_after=retry_after,
                  body=sample(body) if body else None)
    result = sync(store, sb, sleeps)
    assert result.status == "ok"
    assert sleeps == [wait]
    assert rows(store, "SELECT count(*) FROM owners") == [(3,)]


def test_dropped_list_page_is_retried(sb, store) -> None:
    sleeps = Sleeps()
    sb.faults.add("drop", "GET", "/crm/v3/objects/deals", times=1)
    sync(store, sb, sleeps)
    assert sleeps == [1.0]
    assert live_deals(store) == LIVE


def test_503_is_retried_with_backoff(sb, store) -> None:
    sleeps = Sleeps()
    sb.faults.add("status", "POST", "/crm/v3/objects/deals/batch/read", status=503, times=2)
    sync(store, sb, sleeps, first_sync="search")  # the search's pages need history reads
    assert sleeps == [1.0, 2.0]
    assert rows(store, "SELECT count(DISTINCT deal_id) FROM stage_history") == [(LIVE,)]


def test_dropped_connection_is_retried(sb, store) -> None:
    sleeps = Sleeps()
    sb.faults.add("drop", "POST", SEARCH, times=1)
    sync(store, sb, sleeps, first_sync="search")
    assert sleeps == [1.0]
    assert live_deals(store) == LIVE


def test_daily_limit_stops_cleanly_and_keeps_state(sb, store) -> None:
    sleeps = Sleeps()
    sb.faults.add("status", "POST", SEARCH, status=429, after=1, times=None,
                  body=sample("hubspot-429-daily-docs.json"))
    with pytest.raises(LimitReachedError, match="daily allowance"):
        sync(store, sb, sleeps, page_size=2, deals_per_commit=2, first_sync="search")
    assert sleeps == []  # never waited: sleeping does not bring the allowance back
    assert rows(store, "SELECT status FROM sync_runs") == [("stopped",)]
    assert live_deals(store) == 2
    assert rows(store, "SELECT count(*) FROM sync_state WHERE stream = 'deals'") == [(1,)]


def test_retries_are_bounded(sb, store) -> None:
    sleeps = Sleeps()
    sb.faults.add("status", "GET", "/crm/v3/pipelines/*", status=503, times=None)
    with pytest.raises(RetriableAPIError, match="503"):
        sync(store, sb, sleeps, attempts=3)
    assert sb.call_counts()[("GET", "/crm/v3/pipelines/deals")] == 3
    assert sleeps == [1.0, 2.0]


def test_search_calls_are_paced_under_the_search_limit(sb) -> None:
    sleeps = Sleeps()
    c = connector(sb, sleeps, monotonic=lambda: 0.0, search_requests_per_second=4)
    for _ in range(3):
        c.client.search_deals({"limit": 1})
    c.client.owners(archived=False)  # not a search call: not paced
    assert sleeps == [0.25, 0.25]


def test_rate_limit_headers_are_read_and_calls_counted(sb, store) -> None:
    c = connector(sb)
    from connectors.sync import run_sync

    result = run_sync(store, c)
    assert result.api_calls == c.client.usage.calls == len(sb.calls)
    assert c.client.usage.daily_limit == 250_000
    assert c.client.usage.daily_remaining is not None
    assert c.client.usage.interval_ms == 10_000
