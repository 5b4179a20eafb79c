"""Period over period (docs/kpis.md, Conventions): each KPI against the previous period of its
grain and the period a year earlier, in ``bi.kpi_changes`` and ``kpi_value_changes``.

By hand, quarters: P1 wins 100 in 2023-Q2, 300 in 2024-Q1 and 400 in 2024-Q2 (one deal each);
P2 wins 50 in 2024-Q2 only, from a deal created in 2024-Q2 (P2 has no row before).
- P1 2024-Q2: previous 300, change 100, ratio 1/3; year ago 100, yoy change 300, ratio 3.
- P2 2024-Q2: no row in 2024-Q1 (a computed quarter): previous won_amount 0 (a sum over
  nothing), change 50, ratio NULL (previous 0); its win_rate previous is NULL (a rate over
  nothing), so its change is NULL; year ago likewise 0 / NULL.
- P1 2023-Q2, the first quarter: no previous period: previous and year ago NULL.
"""

from __future__ import annotations

from decimal import Decimal

from tests.helpers.kpi import compute_kpis, deal, seed


def _won(partner: str, amount: int, close: str, created: str = "2023-04-02") -> dict:
    return deal("won", partner_id=partner, amount=amount, created_at=created, close_date=close)


def _changes(store, member: str, start: str, kpi: str) -> tuple:
    return store.con.execute(
        "SELECT value, previous, change, change_ratio, year_ago, yoy_change, yoy_ratio "
        "FROM kpi_value_changes WHERE grain = 'quarter' AND dimension = 'partner' "
        "AND member = ? AND period_start = CAST(? AS DATE) AND kpi = ?",
        [member, start, kpi]).fetchall()[0]


def test_period_over_period_previous_and_year_ago(store):
    seed(store, [_won("P1", 100, "2023-05-10"), _won("P1", 300, "2024-02-10"),
                 _won("P1", 400, "2024-05-10"), _won("P2", 50, "2024-05-20", "2024-04-05")])
    compute_kpis(store, grains=["quarter"], as_of="2024-08-01")
    assert store.con.execute("SELECT count(*) FROM kpi_wide WHERE member = 'P2'").fetchall() == [
        (1,)]
    d = Decimal
    assert _changes(store, "P1", "2024-04-01", "won_amount") == (
        d(400), d(300), d(100), d("0.3333333333"), d(100), d(300), d(3))
    assert _changes(store, "P2", "2024-04-01", "won_amount") == (
        d(50), d(0), d(50), None, d(0), d(50), None)
    assert _changes(store, "P2", "2024-04-01", "win_rate") == (
        d(1), None, None, None, None, None, None)
    assert _changes(store, "P1", "2023-04-01", "won_amount") == (
        d(100), None, None, None, None, None, None)
    # the wide view holds the same numbers
    wide = store.con.execute(
        "SELECT won_amount, previous_won_amount, change_won_amount, change_ratio_won_amount, "
        "year_ago_won_amount, yoy_change_won_amount, yoy_ratio_won_amount FROM bi.kpi_changes "
        "WHERE grain = 'quarter' AND dimension = 'partner' AND member = 'P1' "
        "AND period_start = DATE '2024-04-01'").fetchall()
    assert wide == [(d(400), d(300), d(100), d("0.3333333333"), d(100), d(300), d(3))]
