"""Several partners per Salesforce opportunity, against the CRM sandbox: OpportunityPartner rows
(Role, IsPrimary) with the reverse rows Salesforce adds left out, and the partner field's history
(OpportunityFieldHistory) for the "partner changed after close" check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
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
