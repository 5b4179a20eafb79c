"""Partner credit (docs/kpis.md, "Partner credit"): one deal with three partners under each credit
rule, totals that count each deal once, and the direct baseline, on a hand-worked set.

The set (January 2025, all USD, computed on 2025-03-01):
  D1  won  900, created 2025-01-01, closed 2025-01-31 (cycle 30 days); partner field P1;
      deal_partners: P1 'Sourced' share 0.5, P2 'Influencer' 0.3, P3 'Reseller' 0.2
  D5  open 1000, created 2025-01-10; deal_partners: P2 'Influenced by' (no share, none primary)
  D2  direct, lost, created 2025-01-05, closed 2025-01-20
  D3  direct, won 300, created 2025-01-11, closed 2025-01-21 (10 days)
  D4  direct, won 500, created 2025-01-06, closed 2025-01-26 (20 days)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine.credit import AttributionSettings
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store

JAN = date(2025, 1, 1)


def _t(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _deal(deal_id: str, *, won: bool | None, amount: int, created: str, closed: str | None,
          partner: str | None = None) -> dict:
    return {"source": "csv", "deal_id": deal_id, "partner_id": partner,
            "is_closed": won is not None, "is_won": bool(won), "amount": Decimal(amount),
            "currency": "USD", "created_at": _t(created),
            "close_date": date.fromisoformat(closed) if closed else None}


def _link(deal_id: str, partner: str, role: str, share: str | None) -> dict:
    return {"source": "csv", "link_id": f"{deal_id}/{partner}/{role}", "deal_id": deal_id,
            "partner_id": partner, "role": role, "share": Decimal(share) if share else None,
            "origin": "csv"}


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "c.duckdb")
    s.upsert("partners", [{"source": "csv", "partner_id": p, "name": f"Partner {p[1]}"}
                          for p in ("P1", "P2", "P3")])
    s.upsert("deals", [
        _deal("D1", won=True, amount=900, created="2025-01-01", closed="2025-01-31",
              partner="P1"),
        _deal("D5", won=None, amount=1000, created="2025-01-10", closed=None),
        _deal("D2", won=False, amount=200, created="2025-01-05", closed="2025-01-20"),
        _deal("D3", won=True, amount=300, created="2025-01-11", closed="2025-01-21"),
        _deal("D4", won=True, amount=500, created="2025-01-06", closed="2025-01-26"),
    ])
    s.upsert("deal_partners", [
        _link("D1", "P1", "Sourced", "0.5"), _link("D1", "P2", "Influencer", "0.3"),
        _link("D1", "P3", "Reseller", "0.2"), _link("D5", "P2", "Influenced by", None),
    ])
    yield s
    s.close()


def _credit(store: Store, rule: str) -> tuple[dict, dict]:
    summary = compute(store, KpiSettings(attribution=AttributionSettings(credit=rule)),
                      ["month"], today=date(2025, 3, 1))
    rows = store.con.execute(
        "SELECT category, member, deals_won, won_amount, pipeline_open_amount FROM credit_kpis "
        "WHERE grain = 'month' AND period_start = ? ORDER BY ALL", [JAN]).fetchall()
    return {(c, m): (w, a, p) for c, m, w, a, p in rows}, summary.warnings


def _d(text: str) -> Decimal:
    return Decimal(text)


def test_credit_three_partners_primary_rule(store: Store) -> None:
    got, warnings = _credit(store, "primary")
    # D1: the partner field's P1 only; D5 has no partner field, none marked, no sourced link
    assert got == {
        ("sourced", "P1"): (1, 900, 0), ("sourced", "all"): (1, 900, 0),
        ("partner", "all"): (1, 900, 1000), ("direct", "all"): (2, 800, 0),
    }
    assert warnings.get("partner_deals_without_one_primary_partner") == 1


def test_credit_three_partners_full_rule(store: Store) -> None:
    got, _ = _credit(store, "full")
    assert got == {
        ("sourced", "P1"): (1, 900, 0), ("sourced", "all"): (1, 900, 0),
        ("influenced", "P2"): (1, 900, 1000), ("influenced", "P3"): (1, 900, 0),
        # P2 and P3 both influenced D1: the category's total counts it once
        ("influenced", "all"): (1, 900, 1000),
        ("partner", "all"): (1, 900, 1000), ("direct", "all"): (2, 800, 0),
    }


def test_credit_three_partners_even_rule(store: Store) -> None:
    got, _ = _credit(store, "even")
    third = _d("0.3333333333")
    assert got == {
        ("sourced", "P1"): (third, 300, 0), ("sourced", "all"): (third, 300, 0),
        ("influenced", "P2"): (third, 300, 1000), ("influenced", "P3"): (third, 300, 0),
        ("influenced", "all"): (_d("0.6666666667"), 600, 1000),
        ("partner", "all"): (1, 900, 1000), ("direct", "all"): (2, 800, 0),
    }


def test_credit_three_partners_share_rule(store: Store) -> None:
    got, warnings = _credit(store, "share")
    # D5's one link has no share: the deal is left out of the credit (and counted)
    assert got == {
        ("sourced", "P1"): (_d("0.5"), 450, 0), ("sourced", "all"): (_d("0.5"), 450, 0),
        ("influenced", "P2"): (_d("0.3"), 270, 0), ("influenced", "P3"): (_d("0.2"), 180, 0),
        ("influenced", "all"): (_d("0.5"), 450, 0),
        ("partner", "all"): (1, 900, 1000), ("direct", "all"): (2, 800, 0),
    }
    assert warnings.get("deals_with_partner_shares_not_adding_up") == 1


def test_credit_share_rule_renormalises_and_rejects(store: Store) -> None:
    # 33.3% each: within the 1% tolerance, renormalised to a third each
    store.upsert("deal_partners", [_link("D1", "P1", "Sourced", "0.333"),
                                   _link("D1", "P2", "Influencer", "0.333"),
                                   _link("D1", "P3", "Reseller", "0.333")])
    got, _ = _credit(store, "share")
    assert got[("sourced", "P1")][1] == 300
    assert got[("influenced", "all")][1] == 600
    # 0.5 + 0.3 + 0.1 = 0.9: off by more than the tolerance, a reject
    store.upsert("deal_partners", [_link("D1", "P1", "Sourced", "0.5"),
                                   _link("D1", "P2", "Influencer", "0.3"),
                                   _link("D1", "P3", "Reseller", "0.1")])
    got, warnings = _credit(store, "share")
    assert ("sourced", "P1") not in got
    assert warnings.get("deals_with_partner_shares_not_adding_up") == 2


@pytest.mark.parametrize("rule", ["primary", "full", "even", "share"])
def test_credit_totals_count_each_deal_once(store: Store, rule: str) -> None:
    _credit(store, rule)
    partner, direct = (store.con.execute(
        "SELECT deals_won, won_amount, pipeline_open_amount FROM credit_kpis WHERE grain = "
        "'month' AND period_start = ? AND category = ? AND member = 'all'", [JAN, c]
    ).fetchall()[0] for c in ("partner", "direct"))
    overall = store.con.execute(
        "SELECT deals_won, won_amount, pipeline_open_amount FROM kpi_wide WHERE grain = 'month' "
        "AND period_start = ? AND dimension = 'overall'", [JAN]).fetchall()[0]
    # deals with a partner + deals without one = every deal, each once (3 won, 1700, 1000)
    assert tuple(p + d for p, d in zip(partner, direct, strict=True)) == overall == (3, 1700, 1000)


def test_credit_direct_baseline_against_partner_deals(store: Store) -> None:
    compute(store, KpiSettings(), ["month"], today=date(2025, 3, 1))
    rows = store.con.execute(
        "SELECT category, win_rate, average_deal_size, sales_cycle_days FROM credit_kpis "
        "WHERE grain = 'month' AND period_start = ? AND category IN ('partner', 'direct') "
        "ORDER BY category", [JAN]).fetchall()
    # direct: won D3, D4, lost D2 -> 2/3; (300 + 500) / 2; (10 + 20) / 2 days
    # partner: won D1 -> 1/1; 900; 30 days
    assert rows == [("direct", _d("0.6666666667"), 400, 15), ("partner", 1, 900, 30)]


def test_credit_primary_rule_keeps_the_partner_dimension(store: Store) -> None:
    compute(store, KpiSettings(), ["month"], today=date(2025, 3, 1))
    partner = store.con.execute(
        "SELECT member, won_amount, deals_won FROM kpi_wide WHERE grain = 'month' "
        "AND period_start = ? AND dimension = 'partner' AND member <> 'none' AND won_amount > 0",
        [JAN]).fetchall()
    sourced = store.con.execute(
        "SELECT member, won_amount, deals_won FROM credit_kpis WHERE grain = 'month' "
        "AND period_start = ? AND category = 'sourced' AND member <> 'all'", [JAN]).fetchall()
    assert partner == sourced == [("P1", 900, 1)]


def test_credit_report_columns_chart_and_hygiene(store: Store) -> None:
    from kpi_engine.report import render, report_data

    settings = KpiSettings(attribution=AttributionSettings(credit="even"))
    compute(store, settings, ["month"], today=date(2025, 3, 1))
    data = report_data(store, settings, grain="month", period=JAN, dimension="partner",
                       today=date(2025, 3, 1))
    assert data.credit is not None
    assert data.credit.rule == "even"
    assert data.credit.won == {"P1": {"sourced": 300}, "P2": {"influenced": 300},
                               "P3": {"influenced": 300}}
    assert data.credit.baseline["direct"]["win_rate"] == _d("0.6666666667")
    assert data.credit.baseline["partner"]["average_deal_size"] == 900
    # won deals without a partner: D3 300 and D4 500
    assert data.credit.hygiene_lines[0] == "won deals without a partner: 2 (800.00 USD)"
    html = render(data)
    # heading + rows P1, none (no partner), and P2, P3 (credit only: no deal of their own)
    assert html.count('data-kpi="sourced_won_amount"') == 1 + 4
    assert 'id="chart-partner-direct"' in html
    assert "Deals with a partner against direct deals" in html
    p1 = html.split('<tr data-member="P1">', 1)[1].split("</tr>", 1)[0]
    assert '<td data-kpi="sourced_won_amount"><span class="value">300</span>' in p1
    p2 = html.split('<tr data-member="P2">', 1)[1].split("</tr>", 1)[0]
    assert "credit only" in p2
    assert '<td data-kpi="influenced_won_amount"><span class="value">300</span>' in p2
    # another dimension's report has neither
    team = render(report_data(store, settings, grain="month", period=JAN, dimension="owner",
                              today=date(2025, 3, 1)))
    assert "sourced_won_amount" not in team
    assert "chart-partner-direct" not in team


def _regression_store(path: Path) -> Store:
    from tests.helpers.regression import GENERATE

    s = Store(path)
    s.con.execute(GENERATE)
    # every third partnered deal also influenced by the next partner of its source
    s.con.execute(
        "INSERT INTO deal_partners (source, link_id, deal_id, partner_id, role, origin) "
        "SELECT d.source, d.deal_id || '/x', d.deal_id, p.partner_id, 'Influencer', 'csv' "
        "FROM deals d JOIN partners p ON p.source = d.source AND p.partner_id = "
        "'P' || ((CAST(substr(d.partner_id, 2) AS INTEGER) + 1) % 6) "
        "WHERE d.partner_id IS NOT NULL AND hash(d.deal_id) % 3 = 0")
    return s


KEYS = ("deals_won", "deals_lost", "won_amount", "pipeline_open_amount")


@pytest.mark.parametrize("rule", ["primary", "full", "even", "share"])
def test_credit_partner_plus_direct_is_overall_every_period(tmp_path: Path, rule: str) -> None:
    with _regression_store(tmp_path / "r.duckdb") as store:
        compute(store, KpiSettings(attribution=AttributionSettings(credit=rule)),
                as_of=date(2023, 5, 17), today=date(2024, 1, 1))
        cols = ", ".join(f"sum({k})" for k in KEYS)
        got = store.con.execute(
            f"SELECT grain, period_start, {cols} FROM credit_kpis WHERE member = 'all' AND "
            "category IN ('partner', 'direct') GROUP BY ALL ORDER BY ALL").fetchall()
        want = store.con.execute(
            f"SELECT grain, period_start, {', '.join(KEYS)} FROM kpi_wide WHERE dimension = "
            "'overall' AND (deals_won + deals_lost > 0 OR pipeline_open_amount <> 0) "
            "ORDER BY ALL").fetchall()
        links = store.con.execute("SELECT count(*) FROM deal_partners").fetchall()[0][0]
    assert links > 100
    assert len(got) > 20
    assert got == want


def test_credit_primary_sourced_equals_the_partner_dimension(tmp_path: Path) -> None:
    with _regression_store(tmp_path / "r.duckdb") as store:
        compute(store, KpiSettings(), today=date(2024, 1, 1))
        cols = ", ".join(KEYS)
        got = store.con.execute(
            f"SELECT grain, period_start, member, {cols} FROM credit_kpis WHERE category = "
            "'sourced' AND member <> 'all' ORDER BY ALL").fetchall()
        want = store.con.execute(
            f"SELECT grain, period_start, member, {cols} FROM kpi_wide WHERE dimension = "
            "'partner' AND member <> 'none' AND (deals_won + deals_lost > 0 OR "
            "pipeline_open_amount <> 0) ORDER BY ALL").fetchall()
    assert len(got) > 100
    assert got == want


def test_credit_writeback_plan_and_config(store: Store) -> None:
    from pydantic import ValidationError

    from jobs.config import AppConfig
    from kpi_engine.writeback import Target, plan

    compute(store, KpiSettings(attribution=AttributionSettings(credit="even")), ["month"],
            today=date(2025, 3, 1))
    cells = plan(store, "csv", "Account", [Target("sourced_won_amount", "Sourced__c"),
                                           Target("influenced_won_amount", "Influenced__c")],
                 "month", JAN)
    assert [(c.record_id, c.field, c.kpi_value) for c in cells] == [
        ("P1", "Sourced__c", 300), ("P1", "Influenced__c", None),
        ("P2", "Sourced__c", None), ("P2", "Influenced__c", 300),
        ("P3", "Sourced__c", None), ("P3", "Influenced__c", 300),
    ]
    fields = {"sourced_won_amount": "Sourced__c", "co-sell_won_amount": "Cosell__c"}
    with pytest.raises(ValidationError, match="unknown KPI 'co-sell_won_amount'"):
        AppConfig.model_validate({"writeback": {"salesforce": {"fields": fields}}})
    config = AppConfig.model_validate({
        "attribution": {"categories": ["sourced", "influenced", "co-sell"]},
        "writeback": {"salesforce": {"fields": fields}}})
    assert config.writeback.salesforce is not None


def test_credit_user_category_and_role_map(store: Store) -> None:
    attribution = AttributionSettings(
        categories=["sourced", "influenced", "fulfilled"], credit="full",
        roles={"Sourced": "sourced", "Influencer": "influenced", "reseller": "fulfilled",
               "Influenced by": "influenced"})
    compute(store, KpiSettings(attribution=attribution), ["month"], today=date(2025, 3, 1))
    rows = store.con.execute(
        "SELECT category, member, won_amount FROM credit_kpis WHERE grain = 'month' AND "
        "period_start = ? AND category = 'fulfilled' ORDER BY ALL", [JAN]).fetchall()
    # D1's P3 'Reseller' (matched case-insensitively) is fulfilment now, not influence
    assert rows == [("fulfilled", "P3", 900), ("fulfilled", "all", 900)]
    with pytest.raises(ValueError, match="'Reseller' maps to 'resale', not one of categories"):
        AttributionSettings(roles={"Reseller": "resale"})
    with pytest.raises(ValueError, match="'partner' is not a category name"):
        AttributionSettings(categories=["sourced", "partner"], partner_field_category="sourced",
                            unmapped_category="sourced")
