"""Changes HubSpot makes behind ``hs_lastmodifieddate``: association moves (the sweep), merges,
partners archived or no longer matching the partner rule. Real HTTP through hubspot-api-client
against the sandbox; KPI values after run 2 worked out by hand from ``small_world``.

small_world's live deals (amounts in USD as the portal converts them: EUR at 0.8, CAD at 1.25):

| deal | partner | stage (probability) | amount USD | created | closed |
|---|---|---|---|---|---|
| D1 | P01 | Won | 10,000.50 | 2024-01-05 | 2024-04-10 |
| D2 | P01 | Won | (none) | 2024-02-01 | 2024-05-10 |
| D3 | P02 | Lost | 10,000 | 2024-03-01 | 2024-06-08 |
| D4 | P02 | Engaging (0.4) | 62,500 | 2024-04-01 | open |
| D6 | P02 | Won (Renewal) | 5,600 | 2024-04-20 | 2024-05-07 |
| D7 | -- | Prospecting (0.1) | 300 | 2024-05-01 | open |

At the end of Q2 2024 the open deals are D4 (weighted 0.4 x 62,500 = 25,000) and D7
(0.1 x 300 = 30).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connectors.sync import SyncResult
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.hubspot import rows, sync
from tests.helpers.hubspot_world import small_world

pytestmark = pytest.mark.slow

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
ASSOC = ("POST", "/crm/v4/associations/deals/companies/batch/read")
COMPANY_READ = ("POST", "/crm/v3/objects/companies/batch/read")
Q1, Q2 = date(2024, 1, 1), date(2024, 4, 1)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(small_world(), clock=Clock(NOW)) as sandbox:
        yield sandbox


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:") as st:
        yield st


def kpis(store: Store, period: date, kpi: str) -> dict[str, tuple[Decimal, int]]:
    """member -> (value, n) of the partner dimension for one quarter, computed now (UTC)."""
    compute(store, KpiSettings(reporting_currency="USD", reporting_timezone="UTC"), ["quarter"],
            today=date(2024, 9, 1))
    return {m: (v, n) for m, v, n in rows(
        store, "SELECT member, value, n FROM kpi_values WHERE grain = 'quarter' AND "
        "period_start = ? AND dimension = 'partner' AND kpi = ?", period, kpi)}


def second_run(sb: Sandbox, store: Store, **settings) -> SyncResult:
    """Run 2 an hour after the first sync, with the sandbox's call log cleared."""
    sb.clock.advance(3600)
    sb.calls.clear()
    result = sync(store, sb, **settings)
    assert result.status == "ok"
    return result


def test_association_moved_added_removed_is_credited_next_run(sb, store) -> None:
    hs = sb.hubspot
    p01, p02, p03 = (hs.company_id(p) for p in ("P01", "P02", "P03"))
    d1, d4, d7 = (hs.deal_id(d) for d in ("D1", "D4", "D7"))
    sync(store, sb)
    modified = hs.record("deals", d1).props["hs_lastmodifieddate"]
    hs.move_partner(d1, p01, p03)  # moved
    hs.unlink_partner(d4, p02)  # removed
    hs.link_partner(d7, p01)  # added
    assert hs.record("deals", d1).props["hs_lastmodifieddate"] == modified  # behind the stamp
    second_run(sb, store)
    won = kpis(store, Q2, "won_amount")
    weighted = kpis(store, Q2, "pipeline_weighted_amount")
    created_q1 = kpis(store, Q1, "deals_created")
    created_q2 = kpis(store, Q2, "deals_created")
    # D1's 10,000.50 follows it to P03; P01 keeps D2 (won, no amount)
    assert (won[p03], won[p01]) == ((Decimal("10000.50"), 1), (Decimal(0), 0))
    # D4 (25,000) leaves P02 for "none"; D7 (30) leaves "none" for P01
    assert (weighted[p02][0], weighted["none"][0], weighted[p01][0]) == (
        Decimal(0), Decimal(25000), Decimal(30))
    assert {m: v for m, (v, _) in created_q1.items()} == {p01: 1, p02: 1, p03: 1}  # D2, D3, D1
    # Q2: D7, D6, D4; P03 has a row (D1 closed in Q2) with none created
    assert {m: v for m, (v, _) in created_q2.items()} == {p01: 1, p02: 1, "none": 1, p03: 0}
    # one sweep call for the 6 live deals, one for the deal the search returned (D3, at the
    # watermark); no company read (P01 and P03 are stored partners)
    assert (sb.call_counts()[ASSOC], sb.call_counts()[COMPANY_READ]) == (2, 0)


def test_rotating_sweep_reaches_every_deal_within_its_bound(sb, store) -> None:
    """Size 2 over 6 live deals: a slice of 2 a run in id order, every deal within 3 runs."""
    hs = sb.hubspot
    sync(store, sb, association_sweep_max_deals=2)
    live = sorted(str(d) for (d,) in rows(store, "SELECT deal_id FROM deals WHERE NOT is_deleted"))
    last = live[-1]  # swept on the third run after the first sync
    old = rows(store, "SELECT partner_id FROM deals WHERE deal_id = ?", last)[0][0]
    new = hs.company_id("P03") if old != hs.company_id("P03") else hs.company_id("P01")
    if old:
        hs.unlink_partner(last, old)
    hs.link_partner(last, new)
    seen, calls = [], []
    for _ in range(3):
        second_run(sb, store, association_sweep_max_deals=2)
        seen.append(rows(store, "SELECT partner_id FROM deals WHERE deal_id = ?", last)[0][0])
        calls.append(sb.call_counts()[ASSOC])
    assert seen == [old, old, new]
    assert calls == [2, 2, 2]  # the slice's call + the searched deal's call, every run
    assert rows(store, "SELECT watermark FROM sync_state WHERE stream = 'association_sweep'") == [
        (last,)]


def test_merged_deal_is_flagged_deleted_and_counted_once(sb, store) -> None:
    hs = sb.hubspot
    d4, d7 = hs.deal_id("D4"), hs.deal_id("D7")
    sync(store, sb)
    hs.merge("deals", d7, d4)  # D4 into D7: D4's P02 association moves to D7
    second_run(sb, store)
    assert rows(store, "SELECT deal_id, is_deleted, partner_id FROM deals WHERE deal_id IN (?, ?) "
                "ORDER BY deal_id", d4, d7) == sorted(
        [(d4, True, hs.company_id("P02")), (d7, False, hs.company_id("P02"))])
    weighted = kpis(store, Q2, "pipeline_weighted_amount")
    count = kpis(store, Q2, "pipeline_open_count")
    # only D7 is open at the end of Q2 (0.1 x 300), now under P02; D4 is gone, never twice
    assert weighted == {hs.company_id("P01"): (Decimal(0), 0),
                        hs.company_id("P02"): (Decimal(30), 1)}
    assert sum(v for v, _ in count.values()) == 1


def test_merged_partner_company_deals_move_to_the_survivor(sb, store) -> None:
    hs = sb.hubspot
    p01, p03 = hs.company_id("P01"), hs.company_id("P03")
    sync(store, sb)
    hs.merge("companies", p03, p01)  # P01 into P03: its deal associations move to P03
    second_run(sb, store)
    assert rows(store, "SELECT partner_id, is_deleted FROM partners WHERE partner_id IN (?, ?) "
                "ORDER BY partner_id", p01, p03) == sorted([(p01, True), (p03, False)])
    won = kpis(store, Q2, "won_amount")
    created = kpis(store, Q1, "deals_created")
    # D1 (10,000.50) and D2 (no amount) are P03's now; P01 has no deal left ("none": D7 open)
    assert won == {p03: (Decimal("10000.50"), 1), hs.company_id("P02"): (Decimal(5600), 1),
                   "none": (Decimal(0), 0)}
    assert created == {p03: (Decimal(2), 2), hs.company_id("P02"): (Decimal(1), 1)}
    # the sweep moved D1 and D2 (their stored partner is flagged); 6 deals in one call + D3's
    assert sb.call_counts()[ASSOC] == 2


@pytest.mark.parametrize("change", ["archived", "no_longer_partner"])
def test_partner_gone_is_flagged_and_its_deals_count_unattributed(sb, store, change) -> None:
    hs = sb.hubspot
    p02 = hs.company_id("P02")
    sync(store, sb)
    if change == "archived":
        hs.delete("companies", p02)
        why = "archived, merged away or deleted in HubSpot"
    else:
        hs.update("companies", p02, {"type": "CUSTOMER"})
        why = "type is not one of PARTNER, RESELLER any more"
    result = second_run(sb, store)
    assert result.streams["partners"].warnings == [
        f"partner company {p02}: {why}; flagged, its deals count unattributed"]
    assert rows(store, "SELECT is_deleted FROM partners WHERE partner_id = ?", p02) == [(True,)]
    # never dropped: D3, D4 and D6 are live deals still
    assert rows(store, "SELECT count(*) FROM deals WHERE NOT is_deleted") == [(6,)]
    won = kpis(store, Q2, "won_amount")
    weighted = kpis(store, Q2, "pipeline_weighted_amount")
    # D6's 5,600 counts under "none"; D4 (25,000) and D7 (30) are "none"'s pipeline
    assert won == {hs.company_id("P01"): (Decimal("10000.50"), 1), "none": (Decimal(5600), 1)}
    assert weighted == {hs.company_id("P01"): (Decimal(0), 0), "none": (Decimal(25030), 2)}
    # the partner check read P02 by id (one batch read; P01 and P03 came from the search)
    assert sb.call_counts()[COMPANY_READ] == 1
    # run 3: still flagged, read again (one call), no second warning
    assert second_run(sb, store).streams["partners"].warnings == []
    assert sb.call_counts()[COMPANY_READ] == 1


def test_partner_restored_or_matching_again_is_unflagged(sb, store) -> None:
    hs = sb.hubspot
    p02 = hs.company_id("P02")
    sync(store, sb)
    hs.update("companies", p02, {"type": "CUSTOMER"})
    second_run(sb, store)
    hs.update("companies", p02, {"type": "PARTNER"})
    second_run(sb, store)
    assert rows(store, "SELECT is_deleted FROM partners WHERE partner_id = ?", p02) == [(False,)]
    # D6's 5,600 is P02's again; D4 (25,000) is its pipeline again
    assert kpis(store, Q2, "won_amount")[p02] == (Decimal(5600), 1)
    assert kpis(store, Q2, "pipeline_weighted_amount")[p02] == (Decimal(25000), 1)
