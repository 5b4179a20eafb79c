"""Several partners per Salesforce opportunity, against the CRM sandbox: OpportunityPartner rows
(Role, IsPrimary) with the reverse rows Salesforce adds left out, and the partner field's history
(OpportunityFieldHistory) for the "partner changed after close" check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from crm_sandbox.server import Sandbox
from kpi_engine.credit import AttributionSettings
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.salesforce import NOW, Sleeps, sandbox_settings, small_world, start, sync

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """The small World; D1 (P1's won 100,000 USD deal with account Acme Corp) also has P2 as
    an influencer."""
    world = small_world()
    world.deals[0].partner_links = [("P2", "Influencer", False)]
    with start(world) as sandbox:
        yield sandbox


def test_opportunity_partner_reverse_rows_counted_once(
        sb: Sandbox, sleeps: Sleeps, tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        result, _ = sync(store, sandbox_settings(sb), sleeps)
        d1 = store.con.execute("SELECT deal_id, partner_id FROM deals WHERE name = 'USD deal'"
                               ).fetchall()[0]
        p2 = store.con.execute("SELECT partner_id FROM partners WHERE name LIKE 'Soci%'"
                               ).fetchall()[0][0]
        links = store.con.execute(
            "SELECT partner_id, role, is_primary, origin FROM deal_partners "
            "WHERE deal_id = ? AND NOT is_deleted ORDER BY origin, partner_id <> ?",
            [d1[0], p2]).fetchall()
        # the sandbox serves 4 OpportunityPartner rows for D1: P1 and P2, and one reverse row
        # each (AccountToId = Acme Corp), which are left out, not rejected
        served = sb.salesforce.store.records["OpportunityPartner"].values()
        assert sum(1 for r in served if r["OpportunityId"] == d1[0]) == 4
        assert links == [
            (p2, "Influencer", False, "opportunity_partner"),
            (d1[1], "VAR/Reseller", True, "opportunity_partner"),
            (d1[1], None, True, "partner_field"),
        ]
        assert result.streams["deal_partners"].rejected == 0
        compute(store, KpiSettings(attribution=AttributionSettings(credit="full")), ["quarter"],
                today=date(2024, 6, 1))
        got = store.con.execute(
            "SELECT category, member, deals_won, won_amount FROM credit_kpis WHERE grain = "
            "'quarter' AND period_start = DATE '2024-04-01' AND category <> 'direct' "
            "AND deals_won > 0 "
            "ORDER BY category, member").fetchall()
        overall = store.con.execute(
            "SELECT won_amount FROM kpi_wide WHERE grain = 'quarter' AND dimension = 'overall' "
            "AND period_start = DATE '2024-04-01'").fetchall()[0][0]
    # D1 100,000 USD and D2 100,000 CAD = 80,000 USD, both P1's (sourced: the partner field and
    # its OpportunityPartner row are one link); P2 influenced D1. Never the customer account.
    assert got == [
        ("influenced", p2, 1, 100000), ("influenced", "all", 1, 100000),
        ("partner", "all", 2, 180000),
        ("sourced", d1[1], 2, 180000), ("sourced", "all", 2, 180000),
    ]
    assert overall == 180000


def test_partner_change_after_close_from_field_history(
        sb: Sandbox, sleeps: Sleeps, tmp_path: Path) -> None:
    store_sf = sb.salesforce.store
    d1 = next(r for r in store_sf.records["Opportunity"].values() if r["Name"] == "USD deal")
    p2 = next(r["Id"] for r in store_sf.records["Account"].values()
              if r["Name"].startswith("Soci"))
    old = d1["PartnerAccountId"]
    sb.clock.advance(86400)
    store_sf.update("Opportunity", d1["Id"], {"PartnerAccountId": p2})
    with Store(tmp_path / "s.duckdb") as store:
        sync(store, sandbox_settings(sb, partner_history=True), sleeps)
        changes = store.con.execute(
            "SELECT deal_id, field, old_partner_id, new_partner_id, changed_at FROM "
            "partner_changes").fetchall()
    # the id row of the PartnerAccount change; the names row and the custom lookup's rows
    # (another field) are not the partner field's
    assert changes == [(d1["Id"], "PartnerAccount", old, p2, NOW + timedelta(days=1))]


def test_junction_and_reverse_rows_as_rows() -> None:
    from connectors.salesforce.rows import (
        RowContext,
        flatten,
        junction_row,
        opportunity_partner_row,
        partner_change_row,
    )
    from connectors.salesforce.settings import PartnerJunction

    junction = PartnerJunction(object="Deal_Partner__c", deal_field="Opportunity__c",
                               partner_field="Partner__c", role_field="Role__c",
                               share_field="Share__c", primary_field="Primary__c")
    ctx = RowContext("PartnerAccountId", "PartnerAccountId", "UserRole.Name", "Division", None,
                     "USD", junction=junction)
    opp, partner, customer = "006XX000000001AAAA", "001XX000000002AAAA", "001XX000000003AAAA"
    row = junction_row(flatten({
        "attributes": {"type": "Deal_Partner__c"}, "Id": "a0BXX000000004AAAA",
        "Opportunity__c": opp, "Partner__c": partner, "Role__c": "Sourced by",
        "Share__c": 62.5, "Primary__c": True, "SystemModstamp": "2024-05-01T10:00:00.000+0000"}),
        ctx)
    assert row is not None
    assert (row["link_id"], row["deal_id"], row["partner_id"], row["role"], row["share"],
            row["is_primary"], row["origin"]) == (
        "a0BXX000000004AAAA", opp, partner, "Sourced by", Decimal("0.625"), True, "junction")
    base = {"Id": "00IXX000000005AAAA", "OpportunityId": opp, "Role": "Opportunity",
            "IsPrimary": False, "Opportunity": {"attributes": {}, "AccountId": customer}}
    # the reverse row (AccountToId = the opportunity's account) is no link
    assert opportunity_partner_row(flatten({**base, "AccountToId": customer}), ctx) is None
    assert opportunity_partner_row(flatten({**base, "AccountToId": partner}), ctx) is not None
    # a lookup's history: the names row of the pair gives nothing
    names = {"OpportunityId": opp, "Field": "PartnerAccount", "OldValue": "Acme Partners Ltd",
             "NewValue": "North Partners", "CreatedDate": "2024-05-01T10:00:00.000+0000"}
    assert partner_change_row(flatten(names), ctx) is None
