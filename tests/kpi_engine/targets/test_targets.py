"""Targets: monthly targets rolled up to a quarter, attainment / gap / pace on a fixed today,
and a target of a partner the store does not know (rejected, reported, never dropped).

The deals (csv source, amounts in USD, worked out by hand):

=======  ==========  ======  =====  =====  =========================================
partner  close       amount  owner  state  note
=======  ==========  ======  =====  =====  =========================================
P1       2026-01-10  150     O1     won    Q1
P1       2026-03-05  250     O1     won    Q1 (nothing in February)
P2       2026-10-05  300     O1     won    Q4
P4       2026-10-20  50      O1     won    Q4
P2       2026-11-10  100     O1     won    Q4
P2       2026-11-20  500     O1     won    after today 2026-11-16: open at the cut
=======  ==========  ======  =====  =====  =========================================

Today 2026-11-16: Q4 2026 (92 days from 2026-10-01) is 46 days gone, elapsed share 1/2.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine import periods
from kpi_engine.errors import ComputeError
from kpi_engine.health import check_health
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.status import store_status
from kpi_engine.target_settings import TargetSettings
from tests.helpers.kpi import deal, seed

TODAY = date(2026, 11, 16)

TARGETS_CSV = """dimension,member,kpi,grain,period_start,target
partner,P1,won_amount,month,2026-01-01,100
partner,P1,won_amount,month,2026-02-01,200
partner,P1,won_amount,month,2026-03-01,300
partner,P404,won_amount,quarter,2026-01-01,500
partner,P2,won_amount,quarter,2026-10-01,1000
owner,O1,deals_won,quarter,2026-10-01,4
partner,P1,win_rate,month,2026-01-01,0.5
partner,P1,win_rate,month,2026-02-01,0.5
partner,P1,win_rate,month,2026-03-01,0.5
"""


def _won(partner: str, close: str, amount: int, created: str) -> dict:
    return deal("won", partner_id=partner, owner_id="O1", close_date=close, amount=amount,
                created_at=created)


def _seed(store) -> None:
    seed(
        store,
        [
            _won("P1", "2026-01-10", 150, "2026-01-02"),
            _won("P1", "2026-03-05", 250, "2026-02-20"),
            _won("P2", "2026-10-05", 300, "2026-10-01"),
            _won("P4", "2026-10-20", 50, "2026-10-02"),
            _won("P2", "2026-11-10", 100, "2026-11-01"),
            _won("P2", "2026-11-20", 500, "2026-11-01"),
        ],
        partners=[{"source": "csv", "partner_id": p, "name": n, "tier": None}
                  for p, n in (("P1", "Acme"), ("P2", "Beta"), ("P4", "Delta"))],
        owners=[{"source": "csv", "owner_id": "O1", "name": "Olga", "team": "East"}],
    )


def _compute(store, tmp_path: Path):
    path = tmp_path / "targets.csv"
    path.write_text(TARGETS_CSV, encoding="utf-8")
    settings = KpiSettings(targets=TargetSettings(file=path))
    return compute(store, settings, today=TODAY)


def _result(store, grain: str, start: str, dimension: str, member: str, kpi: str) -> tuple:
    rows = store.con.execute(
        "SELECT target, target_from, actual, attainment, gap, elapsed_share, pace, as_of, "
        "complete FROM target_results WHERE grain = ? AND period_start = ? AND dimension = ? "
        "AND member = ? AND kpi = ?",
        [grain, date.fromisoformat(start), dimension, member, kpi]).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_targets_monthly_roll_up_to_quarter(store, tmp_path: Path) -> None:
    _seed(store)
    _compute(store, tmp_path)
    # months: Jan 150 of 100, Feb nothing of 200 (no KPI row: the sum over nothing), Mar 250 of 300
    jan = _result(store, "month", "2026-01-01", "partner", "P1", "won_amount")
    assert jan[:7] == (Decimal(100), "file", Decimal(150), Decimal("1.5"), Decimal(-50),
                       Decimal(1), Decimal("1.5"))
    feb = _result(store, "month", "2026-02-01", "partner", "P1", "won_amount")
    assert feb[:7] == (Decimal(200), "file", Decimal(0), Decimal(0), Decimal(200), Decimal(1),
                       Decimal(0))
    mar = _result(store, "month", "2026-03-01", "partner", "P1", "won_amount")
    assert mar[2:5] == (Decimal(250), Decimal("0.8333333333"), Decimal(50))
    # the quarter: 100 + 200 + 300 = 600 rolled up from the months; actual 150 + 250 = 400
    q1 = _result(store, "quarter", "2026-01-01", "partner", "P1", "won_amount")
    assert q1 == (Decimal(600), "months", Decimal(400), Decimal("0.6666666667"), Decimal(200),
                  Decimal(1), Decimal("0.6666666667"), date(2026, 4, 1), True)


def test_targets_ratio_targets_do_not_roll_up(store, tmp_path: Path) -> None:
    _seed(store)
    summary = _compute(store, tmp_path)
    # January: 1 won of 1 closed = 1 against 0.5; February has no closed deal: no win rate
    jan = _result(store, "month", "2026-01-01", "partner", "P1", "win_rate")
    assert jan[2:5] == (Decimal(1), Decimal(2), Decimal("-0.5"))
    assert jan[6] is None  # a ratio has no pace
    feb = _result(store, "month", "2026-02-01", "partner", "P1", "win_rate")
    assert feb[2:5] == (None, None, None)
    quarters = store.con.execute(
        "SELECT count(*) FROM target_results WHERE kpi = 'win_rate' AND grain <> 'month'"
    ).fetchall()[0][0]
    assert quarters == 0
    lines = summary.warning_lines()
    assert ("win_rate: targets of a finer grain not rolled up to 1 period (win_rate is not a "
            "sum over periods): give that period's target directly") in lines
    # the year 2026 of P1 (Q1 only), of P2 and of O1 (Q4 only) have some quarters' targets
    assert ("3 periods with targets for only some of their months or quarters: not rolled up"
            in lines)


def test_targets_attainment_and_pace_on_a_fixed_today(store, tmp_path: Path) -> None:
    _seed(store)
    _compute(store, tmp_path)
    # P2 in Q4 to date: 300 + 100 won (the 500 closes after today): 400 of 1000, half the
    # quarter gone: pace 400 / (1000 x 1/2) = 0.8
    q4 = _result(store, "quarter", "2026-10-01", "partner", "P2", "won_amount")
    assert q4 == (Decimal(1000), "file", Decimal(400), Decimal("0.4"), Decimal(600),
                  Decimal("0.5"), Decimal("0.8"), TODAY, False)
    # owner O1: 3 deals won of 4, pace 3 / (4 x 1/2) = 1.5
    o1 = _result(store, "quarter", "2026-10-01", "owner", "O1", "deals_won")
    assert o1 == (Decimal(4), "file", Decimal(3), Decimal("0.75"), Decimal(1), Decimal("0.5"),
                  Decimal("1.5"), TODAY, False)


def test_targets_unknown_partner_is_rejected_and_reported(store, tmp_path: Path) -> None:
    _seed(store)
    summary = _compute(store, tmp_path)
    assert summary.targets is not None
    run_id = summary.targets.run_id
    assert summary.targets.rejected == {"member not in the store": 1}
    assert (f"1 target rejected: member not in the store (SELECT * FROM rejects WHERE run_id = "
            f"{run_id})") in summary.warning_lines()
    rejects = store.con.execute(
        "SELECT source, stream, record_id, field, value, reason, run_id FROM rejects"
    ).fetchall()
    assert rejects == [(
        "targets", "file", "partner|P404|won_amount|quarter|2026-01-01", "member", "P404",
        "partner 'P404' is not in the store (no partner record, deal or lead has it): check "
        "the id", run_id)]
    # the target is stored (nothing read is lost) but has no result
    assert store.con.execute(
        "SELECT count(*) FROM targets WHERE member = 'P404'").fetchall()[0][0] == 1
    assert store.con.execute(
        "SELECT count(*) FROM target_results WHERE member = 'P404'").fetchall()[0][0] == 0
    status = store_status(store, TODAY)
    assert status.rejects_total == {"targets": 1}
    assert status.rejects[0]["record_id"] == "partner|P404|won_amount|quarter|2026-01-01"


def test_targets_bad_file_rows_are_rejected_with_their_line(store, tmp_path: Path) -> None:
    _seed(store)
    path = tmp_path / "targets.csv"
    path.write_text("dimension,member,kpi,grain,period_start,target\n"
                    "partner,P1,won_amount,quarter,2026-02-01,100\n"
                    "partner,P1,won_amount,quarter,2026-01-01,lots\n"
                    "partner,P1,deals_closed,quarter,2026-01-01,3\n", encoding="utf-8")
    summary = compute(store, KpiSettings(targets=TargetSettings(file=path)), today=TODAY)
    rows = store.con.execute(
        "SELECT record_id, field, value, reason FROM rejects ORDER BY record_id").fetchall()
    assert rows == [
        ("targets.csv:line 2", "period_start", "2026-02-01",
         "not the first day of a quarter (fiscal year starting in month 1)"),
        ("targets.csv:line 3", "target", "lots", "not a number"),
        ("targets.csv:line 4", "kpi", "deals_closed",
         "not a KPI with a direction (one of deals_won, deals_created, won_amount, "
         "average_deal_size, median_deal_size, pipeline_open_count, pipeline_open_amount, "
         "pipeline_weighted_amount, pipeline_created_amount, won_amount_share, win_rate, "
         "lead_conversion_rate, sales_velocity, quality_score, deal_success_rate, deals_lost, "
         "sales_cycle_days)"),
    ]
    assert summary.targets is not None
    assert summary.targets.rejected == {"bad period_start": 1, "bad target": 1, "bad kpi": 1}


def test_targets_rejects_run_is_no_source_for_health(store, tmp_path: Path) -> None:
    # the targets' run of rejects would otherwise age into "stale" once the file is fixed
    _seed(store)
    _compute(store, tmp_path)
    health = check_health(store, timedelta(hours=1))
    assert (health.ok, health.line) == (False, "stale: no sync run in the store yet")


def test_targets_file_dropped_from_config_drops_its_targets(store, tmp_path: Path) -> None:
    _seed(store)
    _compute(store, tmp_path)
    assert store.con.execute("SELECT count(*) FROM targets").fetchall()[0][0] == 9
    compute(store, KpiSettings(), today=TODAY)
    assert store.con.execute("SELECT count(*) FROM targets").fetchall()[0][0] == 0
    assert store.con.execute("SELECT count(*) FROM target_results").fetchall()[0][0] == 0


def test_targets_money_target_in_another_currency_is_rejected(store, tmp_path: Path) -> None:
    _seed(store)
    store.upsert("targets", [{
        "source": "salesforce", "target_id": "0J9XX0000000001AAA", "dimension": "owner",
        "member": "O1", "kpi": "won_amount", "grain": "quarter",
        "period_start": date(2026, 10, 1), "period_end": date(2027, 1, 1),
        "target": Decimal(900), "currency": "EUR", "is_deleted": False}])
    summary = _compute(store, tmp_path)
    assert summary.targets is not None
    assert summary.targets.rejected == {"member not in the store": 1,
                                        "not in the reporting currency": 1}
    assert store.con.execute(
        "SELECT stream, record_id, field, value, reason FROM rejects WHERE field = 'currency'"
    ).fetchall() == [("salesforce", "0J9XX0000000001AAA", "currency", "EUR",
                      "a won_amount target in EUR, the KPIs are in USD (reporting_currency): "
                      "give the target in the reporting currency")]


def test_targets_pace_follows_the_reporting_time_zone(store, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # 2026-11-15 20:00 UTC is already 2026-11-16 in Tokyo: today there is the fixed day of
    # test_targets_attainment_and_pace_on_a_fixed_today (46 of Q4's 92 days gone)
    _seed(store)
    monkeypatch.setattr(periods, "now", lambda: datetime(2026, 11, 15, 20, 0, tzinfo=UTC))
    path = tmp_path / "targets.csv"
    path.write_text(TARGETS_CSV, encoding="utf-8")
    compute(store, KpiSettings(reporting_timezone="Asia/Tokyo",
                               targets=TargetSettings(file=path)))
    q4 = _result(store, "quarter", "2026-10-01", "partner", "P2", "won_amount")
    assert q4[5:8] == (Decimal("0.5"), Decimal("0.8"), TODAY)
    # in UTC it is still the 15th: 45 days gone, the 300 + 100 won against 1000 x 45/92
    compute(store, KpiSettings(targets=TargetSettings(file=path)))
    q4 = _result(store, "quarter", "2026-10-01", "partner", "P2", "won_amount")
    assert q4[5:8] == (Decimal("0.4891304348"), Decimal("0.8177777778"), date(2026, 11, 15))


def test_targets_missing_file_stops_compute(store, tmp_path: Path) -> None:
    _seed(store)
    missing = tmp_path / "nope.csv"
    with pytest.raises(ComputeError, match=r"^targets.file .*nope.csv: cannot read it \("):
        compute(store, KpiSettings(targets=TargetSettings(file=missing)), today=TODAY)


def test_targets_crm_period_off_the_fiscal_year_is_rejected(store, tmp_path: Path) -> None:
    # a quota of a CRM quarter Feb .. Apr while the engine's quarters start in January
    _seed(store)
    store.upsert("targets", [{
        "source": "salesforce", "target_id": "0J9XX0000000002AAA", "dimension": "owner",
        "member": "O1", "kpi": "won_amount", "grain": "quarter",
        "period_start": date(2026, 2, 1), "period_end": date(2026, 5, 1),
        "target": Decimal(900), "currency": "USD", "is_deleted": False}])
    _compute(store, tmp_path)
    assert store.con.execute(
        "SELECT field, value, reason FROM rejects WHERE stream = 'salesforce'").fetchall() == [
        ("period_start", "2026-02-01", "2026-02-01 .. 2026-05-01 is not a quarter of the fiscal "
         "year starting in month 1: set kpis.fiscal_year_start_month to the CRM's")]
