"""Tiers over the trailing four quarters: a partner meeting its tier, one eligible for the next,
one at risk of demotion, and the percentile within the tier.

Tiers (lowest first): Registered (no minimum), Silver (won_amount >= 1000 and deals_won >= 2),
Gold (won_amount >= 5000, deals_won >= 5, win_rate >= 0.5). Evaluated at Q3 2026, the window is
Q4 2025 .. Q3 2026 (worked out by hand from the deals below):

=======  =====  =======================================  ==================  ==========
partner  CRM    deals in the window                      window values       qualifies
=======  =====  =======================================  ==================  ==========
P1       Silver won 150 (Jan), 250 (Mar), 800 (Jun)     1200, 3 won         Silver: meets
P2       Silver won 6 x 1000 (Apr-Jun), lost 1 (May)    6000, 6 won, 6/7    Gold: eligible
P3       Gold   won 800 (Jul 2026); 5 x 2000 in Aug     800, 1 won          Registered: at risk
                2025 fall outside the window
P4       none   nothing                                  0                   Registered: no tier
=======  =====  =======================================  ==================  ==========

At Q2 2026 (window Q3 2025 .. Q2 2026) P3's five wins of August 2025 count: 10000, 5 won of 5
closed: Gold, it meets its tier.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from rich.console import Console

import cli
from kpi_engine.kpis import compute
from kpi_engine.leaderboard import leaderboard
from kpi_engine.report import build_report
from kpi_engine.settings import KpiSettings
from kpi_engine.target_settings import TargetSettings, TierSettings
from kpi_engine.writeback import Target, plan
from tests.helpers.kpi import deal, seed

TODAY = date(2026, 12, 4)
TIERS = TierSettings(levels=[
    {"name": "Registered"},
    {"name": "Silver", "min": {"won_amount": 1000, "deals_won": 2}},
    {"name": "Gold", "min": {"won_amount": 5000, "deals_won": 5, "win_rate": 0.5}},
])


def _deal(status: str, partner: str, close: str, amount: int | None = None) -> dict:
    return deal(status, partner_id=partner, close_date=close, amount=amount,
                created_at=close[:8] + "01")


def _seed(store) -> None:
    deals = [
        _deal("won", "P1", "2026-01-10", 150),
        _deal("won", "P1", "2026-03-05", 250),
        _deal("won", "P1", "2026-06-15", 800),
        *[_deal("won", "P2", f"2026-0{m}-1{i}", 1000) for m in (4, 5, 6) for i in (1, 2)],
        _deal("lost", "P2", "2026-05-20", 700),
        *[_deal("won", "P3", f"2025-08-1{i}", 2000) for i in range(5)],
        _deal("won", "P3", "2026-07-07", 800),
    ]
    seed(store, deals, partners=[
        {"source": "csv", "partner_id": p, "name": n, "tier": t}
        for p, n, t in (("P1", "Acme", "Silver"), ("P2", "Beta", "silver"),
                        ("P3", "Gamma", "Gold"), ("P4", "Delta", None))])


def _tiers(store, period: str) -> dict[str, tuple]:
    rows = store.con.execute(
        "SELECT partner_id, current_tier, qualified_tier, next_tier, meets_current, "
        "eligible_next, at_risk, status, rank_value, percentile_in_tier, window_start, "
        "window_values FROM partner_tiers WHERE grain = 'quarter' AND period_start = ? "
        "ORDER BY partner_id", [date.fromisoformat(period)]).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_tiers_meets_eligible_at_risk(store) -> None:
    _seed(store)
    summary = compute(store, KpiSettings(tiers=TIERS), today=TODAY)
    q3 = _tiers(store, "2026-07-01")
    start = date(2025, 10, 1)
    assert q3["P1"][:10] == ("Silver", "Silver", "Gold", True, False, False, "meets",
                             Decimal(1200), Decimal(0), start)
    assert q3["P2"][:10] == ("Silver", "Gold", "Gold", True, True, False, "eligible",
                             Decimal(6000), Decimal(1), start)
    assert q3["P3"][:10] == ("Gold", "Registered", None, False, False, True, "at_risk",
                             Decimal(800), None, start)
    assert q3["P4"][:10] == (None, "Registered", None, None, None, None, "no_tier",
                             Decimal(0), None, start)
    assert json.loads(q3["P2"][10]) == {
        "won_amount": "6000", "deals_won": "6", "deals_created": "7",
        "pipeline_created_amount": "6700", "win_rate": "0.8571428571",
        "average_deal_size": "1000"}
    # the quarter before: P3's wins of August 2025 are in its window
    q2 = _tiers(store, "2026-04-01")
    assert q2["P3"][:7] == ("Gold", "Gold", None, True, False, False, "meets")
    assert q2["P3"][9] == date(2025, 7, 1)
    # the status counts are those of the latest quarter (Q4 2026 to date: the window
    # Q1 .. Q4 2026 holds the same deals of P1, P2 and P3 as Q3's)
    assert summary.tiers is not None
    assert summary.tiers.status == {"meets": 1, "eligible": 1, "at_risk": 1, "no_tier": 1}


def test_tiers_unknown_crm_tier_is_reported(store) -> None:
    _seed(store)
    store.con.execute("UPDATE partners SET tier = 'Platinum' WHERE partner_id = 'P1'")
    summary = compute(store, KpiSettings(tiers=TIERS), today=TODAY)
    assert _tiers(store, "2026-07-01")["P1"][:7] == (None, "Silver", None, None, None, None,
                                                     "unknown_tier")
    assert ("tiers: CRM tier(s) Platinum are not in tiers.levels: those partners have status "
            "unknown_tier (name the tier in tiers.levels)") in summary.warning_lines()


def test_tiers_and_attainment_in_leaderboard_and_writeback_plan(store, tmp_path) -> None:
    # Q2 2026: P1 won 800 of a 1000 target, P2 6000 of 5000; tiers over Q3 2025 .. Q2 2026:
    # P1 Silver meets, P2 Silver eligible for Gold, P3 Gold meets (its August 2025 wins count)
    _seed(store)
    path = tmp_path / "targets.yaml"
    path.write_text(
        "targets:\n"
        "  - {dimension: partner, member: P1, kpi: won_amount, grain: quarter,"
        " period_start: 2026-04-01, target: 1000}\n"
        "  - {dimension: partner, member: P2, kpi: won_amount, grain: quarter,"
        " period_start: 2026-04-01, target: 5000}\n", encoding="utf-8")
    compute(store, KpiSettings(tiers=TIERS, targets=TargetSettings(file=path)), today=TODAY)
    q2 = date(2026, 4, 1)
    # P3 and P4 closed nothing in Q2: not on the period's leaderboard (but in the plan)
    board = {r.member: r.status for r in leaderboard(store, "quarter", q2)}
    assert board == {
        "P1": {"partner_target_attainment": Decimal("0.8"), "partner_tier": "Silver: meets"},
        "P2": {"partner_target_attainment": Decimal("1.2"),
               "partner_tier": "Silver: eligible (Gold)"},
    }
    cells = plan(store, "csv", "Account",
                 [Target("partner_target_attainment", "Target_Attainment__c", percent=True),
                  Target("partner_tier_eligible", "Tier_Eligible__c")], "quarter", q2)
    assert [(c.record_id, c.field, c.new, c.action) for c in cells] == [
        ("P1", "Target_Attainment__c", Decimal(80), "write"),
        ("P1", "Tier_Eligible__c", Decimal(0), "write"),
        ("P2", "Target_Attainment__c", Decimal(120), "write"),
        ("P2", "Tier_Eligible__c", Decimal(1), "write"),
        ("P3", "Target_Attainment__c", None, "keep"),
        ("P3", "Tier_Eligible__c", Decimal(0), "write"),
        ("P4", "Target_Attainment__c", None, "keep"),
        ("P4", "Tier_Eligible__c", None, "keep"),
    ]


def test_tiers_and_attainment_columns_in_the_html_report(store, tmp_path) -> None:
    _seed(store)
    path = tmp_path / "targets.csv"
    path.write_text("dimension,member,kpi,grain,period_start,target\n"
                    "partner,P1,won_amount,quarter,2026-04-01,1000\n", encoding="utf-8")
    settings = KpiSettings(tiers=TIERS, targets=TargetSettings(file=path))
    compute(store, settings, today=TODAY)
    html = build_report(store, settings, period="2026-04-01", today=TODAY)
    table = " ".join(html.split('<table id="leaderboard">', 1)[1].split("</table>", 1)[0].split())
    assert ('<th title="The partner&#39;s actual against its target for the period '
            '(targets.writeback_kpi, default won_amount): actual / target; 100% = reached." '
            'data-kpi="partner_target_attainment">target attainment (%)</th>') in table
    assert '" data-kpi="partner_tier">tier </th>' in table
    p1 = table.split('<tr data-member="P1">', 1)[1].split("</tr>", 1)[0]
    assert '<td data-kpi="partner_target_attainment"><span class="value">80.0%</span>' in p1
    assert '<td data-kpi="partner_tier"><span class="value">Silver: meets</span>' in p1
    p2 = table.split('<tr data-member="P2">', 1)[1].split("</tr>", 1)[0]
    assert ('<td data-kpi="partner_target_attainment" class="missing"><span class="value">'
            "\N{EN DASH}</span>") in p2
    assert '<span class="value">Silver: eligible (Gold)</span>' in p2


def test_tiers_and_attainment_columns_in_the_terminal_leaderboard(store, tmp_path,
                                                                 monkeypatch) -> None:
    # P3's 800 in Q3 2026 against 1000; Gold in the CRM, Registered by its numbers
    _seed(store)
    path = tmp_path / "targets.csv"
    path.write_text("dimension,member,kpi,grain,period_start,target\n"
                    "partner,P3,won_amount,quarter,2026-07-01,1000\n", encoding="utf-8")
    compute(store, KpiSettings(tiers=TIERS, targets=TargetSettings(file=path)), today=TODAY)
    console = Console(record=True, width=160)
    monkeypatch.setattr(cli, "out", console)
    cli._print_leaderboard(store, "quarter", "partner", TODAY)  # latest complete: Q3 2026
    text = console.export_text()
    header = next(line for line in text.splitlines() if "won amount" in line)
    assert [c.strip() for c in header.split("┃")[-3:-1]] == ["target", "tier"]
    p3 = next(line for line in text.splitlines() if "Gamma" in line)
    assert [c.strip() for c in p3.split("│")[-3:-1]] == ["80.0%", "Gold: at risk (Registered)"]
