"""A synthetic portal of 25,000 deals syncs completely (counted against the sandbox); after 1%
of the deals change, the second sync reads about 1% of them (deal records the sandbox served)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from crm_sandbox.datasets import synthetic
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store
from tests.helpers.hubspot import rows, sync

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

N = 25_000


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(synthetic(N, seed=5)) as sandbox:
        yield sandbox


def count_served(sb: Sandbox) -> Counter[str]:
    """Count the deal records the sandbox serves from now on: ``read`` (search, batch read
    without history), ``history`` (batch read with stage history), ``archived`` (archived pass).
    """
    served: Counter[str] = Counter()
    facade = sb.hubspot
    original = type(facade)._object_json

    def counting(self_otype, record, names, history=None, associations=None):
        if self_otype == "deals":
            kind = "archived" if record.archived else "history" if history else "read"
            served[kind] += 1
        return original(facade, self_otype, record, names, history, associations)

    facade._object_json = counting
    return served


def test_25k_portal_syncs_completely_then_one_percent_change_reads_one_percent(sb, tmp_path):
    world_live = sum(1 for r in sb.hubspot.stores["deals"].by_id.values() if not r.archived)
    world_archived = len(sb.hubspot.stores["deals"].archived)
    with Store(tmp_path / "hs.duckdb") as store:
        first = sync(store, sb)
        assert first.status == "ok"
        assert rows(store, "SELECT count(*) FROM deals WHERE NOT is_deleted") == [(world_live,)]
        # deals archived before the first sync never enter the store (nothing to flag)
        assert rows(store, "SELECT count(*) FROM deals WHERE is_deleted") == [(0,)]
        assert world_live + world_archived == N
        assert first.streams["archived_deals"].pages == -(-world_archived // 100)
        calls = sb.call_counts()
        # first sync by the list endpoint with the stage history in its pages: one call per
        # 50 deals (HubSpot's page limit with histories), no 10,000 cap, no history batch reads;
        # the archived pass lists 100 a page
        assert calls[("GET", "/crm/v3/objects/deals")] == -(-world_live // 50) + -(
            -world_archived // 100)
        assert calls[("POST", "/crm/v3/objects/deals/search")] == 1  # the completeness count
        assert calls[("POST", "/crm/v3/objects/deals/batch/read")] == 0
        # deals at the watermark's lookback window are read again (at-least-once): count them
        overlap = rows(store, "SELECT count(*) FROM deals d, sync_state s WHERE s.stream = 'deals' "
                       "AND d.updated_at >= CAST(s.watermark AS TIMESTAMPTZ) - INTERVAL 10 MINUTE")

        # change 1% of the live deals, at a later time
        sb.clock.advance(timedelta(days=1).total_seconds())
        live_ids = sorted(sb.hubspot.stores["deals"].active)
        changed = random.Random(7).sample(live_ids, N // 100)
        for i, deal_id in enumerate(changed):
            sb.hubspot.update("deals", str(deal_id), {"amount": str(1000 + i)})
        served = count_served(sb)
        second = sync(store, sb)
        deals = second.streams["deals"].tables["deals"]
        assert deals.updated == len(changed)
        # the search served the changed deals plus the few in the lookback window, their stage
        # history was read for exactly those, and the archived pass listed the archived deals
        # (+ 1: the completeness count's search answers one deal with its total)
        assert served["read"] == len(changed) + overlap[0][0] + 1
        assert served["read"] <= N * 0.0102
        assert served["history"] == served["read"] - 1
        assert served["archived"] == world_archived
        assert rows(store, "SELECT count(*) FROM deals WHERE NOT is_deleted") == [(world_live,)]
