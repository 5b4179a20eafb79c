"""End to end against the CRM sandbox (real HTTP): the partner tier synced from Salesforce's
``Partner_Tier__c`` (``partner_tier_field``), a target file, compute on a fixed today, and the
write-back of ``partner_target_attainment`` / ``partner_tier_eligible`` onto the Accounts.

The small World (tests/helpers/salesforce.py) with both partners Silver in the CRM: P1 won
100000 USD and 100000 CAD (80000 USD) in May 2024, 180000 in Q2 2024; P2 won nothing. Today
2024-06-01 (Q2 in progress). Tiers: Registered, Silver (won_amount >= 50000), Gold (>= 150000):
over Q3 2023 .. Q2 2024 P1 qualifies for Gold (eligible: 1), P2 for Registered (at risk: 0).
P1's Q2 target 200000: attainment 0.9, written 90 into the percent field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.config import AppConfig
from jobs.run import push_targets
from kpi_engine.kpis import compute
from kpi_engine.store import Store
from tests.helpers.salesforce import NOW, Sleeps, policy, sandbox_settings, small_world, start, sync
from tests.helpers.salesforce_world import client

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]
TODAY = NOW.date()


def test_writeback_tier_and_attainment_to_salesforce(tmp_path: Path, sleeps: Sleeps) -> None:
    world = small_world()
    for partner in world.partners:
        partner.tier = "Silver"
    with start(world) as sb:
        ids = sb.salesforce
        p1, p2 = ids.id_for("Account", "P1"), ids.id_for("Account", "P2")
        (tmp_path / "targets.csv").write_text(
            "dimension,member,kpi,grain,period_start,target\n"
            f"partner,{p1},won_amount,quarter,2024-04-01,200000\n", encoding="utf-8")
        settings = sandbox_settings(sb, partner_tier_field="Partner_Tier__c")
        config = AppConfig.model_validate({
            "database": str(tmp_path / "s.duckdb"),
            "sources": {"salesforce": settings.model_dump(mode="json", exclude_none=True)},
            "targets": {"file": str(tmp_path / "targets.csv")},
            "tiers": {"levels": [{"name": "Registered"},
                                 {"name": "Silver", "min": {"won_amount": 50000}},
                                 {"name": "Gold", "min": {"won_amount": 150000}}]},
            "writeback": {"salesforce": {
                "object": "Account", "grain": "quarter", "period": "current",
                "fields": {"partner_target_attainment": "Partner_Target_Attainment__c",
                           "partner_tier_eligible": "Partner_Tier_Eligible__c"}}},
        })
        with Store(tmp_path / "s.duckdb") as store:
            result, _ = sync(store, settings, sleeps)
            assert result.status == "ok"
            assert store.con.execute(
                "SELECT partner_id, tier FROM partners ORDER BY 1").fetchall() == [
                    (p1, "Silver"), (p2, "Silver")]
            compute(store, config.kpi_settings(), today=TODAY)
            (push,) = push_targets(config, store, target="salesforce", today=TODAY,
                                   policy=policy(sleeps))
        assert push.status == "ok"
        assert push.records_written == 2
        sf = client(sb)  # read back over the REST API
        written = {rid: (sf.Account.get(rid)["Partner_Target_Attainment__c"],
                         sf.Account.get(rid)["Partner_Tier_Eligible__c"]) for rid in (p1, p2)}
    # P2 has no target: its attainment field is left alone (clear_on_null off)
    assert written == {p1: (90.0, 1.0), p2: (None, 0.0)}
