"""Several partners per HubSpot deal, against the sandbox: every user-defined deal -> company
association label becomes a link (``deal_partners``), the customer's Primary association never
does, a removed label is flagged deleted, and the credit counts the deal once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from kpi_engine.credit import AttributionSettings
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.hubspot import rows, sync
from tests.helpers.hubspot_world import small_world

pytestmark = pytest.mark.slow

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """small_world's D1 (P01's won 10,000.50 USD deal, customer Acme Corp) also "Sourced by"
    P02 and "Influenced by" P03; P01 stays its "Partner" (the partner field)."""
    world = small_world()
    world.deals[0].partner_links = [("P02", "Sourced by", False), ("P03", "Influenced by", False)]
    with Sandbox(world, clock=Clock(NOW)) as sandbox:
        yield sandbox


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:") as st:
        yield st


def test_hubspot_deal_with_two_labelled_partner_companies(sb: Sandbox, store: Store) -> None:
    result = sync(store, sb)
    assert result.status == "ok"
    d1 = sb.hubspot.deal_id("D1")
    p1, p2, p3 = (sb.hubspot.company_id(k) for k in ("P01", "P02", "P03"))
    assert rows(store, "SELECT partner_id, role, origin, link_id FROM deal_partners "
                "WHERE deal_id = ? AND NOT is_deleted ORDER BY origin, role", d1) == [
        (p3, "Influenced by", "association", f"{d1}/{p3}/35"),
        (p2, "Sourced by", "association", f"{d1}/{p2}/33"),
        (p1, None, "partner_field", f"{d1}/partner_field"),
    ]
    # no other deal has a labelled link; the customer (Primary) is never one
    assert rows(store, "SELECT count(*) FROM deal_partners WHERE origin = 'association'") == [(2,)]

    compute(store, KpiSettings(attribution=AttributionSettings(credit="even")), ["quarter"],
            today=date(2024, 6, 1))
    got = rows(store, "SELECT category, member, deals_won, won_amount FROM credit_kpis "
               "WHERE grain = 'quarter' AND period_start = DATE '2024-04-01' AND "
               "category IN ('sourced', 'influenced') AND deals_won > 0 ORDER BY ALL")
    third = "0.3333333333"
    # D1 10,000.50 split three ways: P01 (partner field) and P02 sourced, P03 influenced;
    # D6 (P02, won 7,000 CAD = 5,600 USD) and D2 (P01, no amount) have their partner alone
    assert [(c, m, str(w), str(a)) for c, m, w, a in got] == [
        ("influenced", p3, third, "3333.5000000000"),
        ("influenced", "all", third, "3333.5000000000"),
        ("sourced", p1, "1.3333333333", "3333.5000000000"),
        ("sourced", p2, "1.3333333333", "8933.5000000000"),
        ("sourced", "all", "2.6666666667", "12267.0000000000"),
    ]


def test_hubspot_removed_label_is_flagged_deleted(sb: Sandbox, store: Store) -> None:
    sync(store, sb)
    d1 = sb.hubspot.deal_id("D1")
    record = sb.hubspot.stores["deals"].by_id[int(d1)]
    p3 = int(sb.hubspot.company_id("P03"))
    del record.assoc["companies"][p3]
    sync(store, sb, full_refresh=True)
    assert rows(store, "SELECT role, is_deleted FROM deal_partners WHERE deal_id = ? AND "
                "origin = 'association' ORDER BY role", d1) == [
        ("Influenced by", True), ("Sourced by", False)]


def test_hubspot_partner_property_history_gives_partner_changes(sb: Sandbox,
                                                                 store: Store) -> None:
    settings = {"partner_property": "partner_company_id", "partner_history": True}
    sync(store, sb, **settings)
    assert rows(store, "SELECT count(*) FROM partner_changes") == [(0,)]
    d1 = sb.hubspot.deal_id("D1")
    p1, p2 = sb.hubspot.company_id("P01"), sb.hubspot.company_id("P02")
    sb.clock.advance(3600)
    sb.hubspot.update("deals", d1, {"partner_company_id": p2})
    sync(store, sb, **settings)
    assert rows(store, "SELECT deal_id, field, old_partner_id, new_partner_id, changed_at "
                "FROM partner_changes") == [
        (d1, "partner_company_id", p1, p2, datetime(2024, 6, 1, 11, 0, tzinfo=UTC))]
    # with partner_property set, the "Partner" label is a link like the others
    assert rows(store, "SELECT partner_id, role FROM deal_partners WHERE deal_id = ? AND "
                "origin = 'association' AND role = 'Partner'", d1) == [(p1, "Partner")]
