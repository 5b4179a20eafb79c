"""Period over period and the pipeline waterfall on the Maven data set (imported through the CSV
source, ``tests/helpers/report.py``).

Year over year is checked against a plain-Python computation from ``sales_pipeline.csv``: won
amount and win rate per sales agent and quarter, the same quarter a year earlier, their change
and ratio. The waterfall's balance identity holds for every row of every grain and dimension.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import Decimal
from fractions import Fraction

from kpi_engine.store import Store
from tests.helpers.kpi import assert_ratio
from tests.helpers.maven import MAVEN


def _quarter(day: str) -> date:
    d = date.fromisoformat(day)
    return date(d.year, (d.month - 1) // 3 * 3 + 1, 1)


def _maven_by_agent_quarter() -> tuple[dict, dict, dict]:
    won_amount: dict[tuple[str, date], int] = defaultdict(int)
    won: dict[tuple[str, date], int] = defaultdict(int)
    closed: dict[tuple[str, date], int] = defaultdict(int)
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["deal_stage"] not in ("Won", "Lost"):
                continue
            key = (row["sales_agent"], _quarter(row["close_date"]))
            closed[key] += 1
            if row["deal_stage"] == "Won":
                won[key] += 1
                won_amount[key] += int(row["close_value"] or 0)
    return won_amount, won, closed


def test_maven_year_over_year_equals_independent_computation(store: Store) -> None:
    won_amount, won, closed = _maven_by_agent_quarter()
    computed = {r[0] for r in store.con.execute(
        "SELECT DISTINCT period_start FROM kpi_wide WHERE grain = 'quarter'").fetchall()}
    rows = store.con.execute(
        "SELECT member, period_start, kpi, value, year_ago, yoy_change, yoy_ratio "
        "FROM kpi_value_changes WHERE grain = 'quarter' AND dimension = 'owner' "
        "AND kpi IN ('won_amount', 'win_rate')").fetchall()
    checked = 0
    for member, start, kpi, _value, year_ago, yoy_change, yoy_ratio in rows:
        before = date(start.year - 1, start.month, 1)
        if before not in computed:
            assert (year_ago, yoy_change, yoy_ratio) == (None, None, None)
            continue
        if kpi == "won_amount":
            now = Fraction(won_amount[(member, start)])
            then = Fraction(won_amount[(member, before)])
        else:
            n_now, n_then = closed[(member, start)], closed[(member, before)]
            now = Fraction(won[(member, start)], n_now) if n_now else None
            then = Fraction(won[(member, before)], n_then) if n_then else None
        if then is None or now is None:
            assert yoy_change is None
        else:
            assert_ratio(year_ago, then)
            assert_ratio(yoy_change, now - then)
            if then:
                assert_ratio(yoy_ratio, (now - then) / then)
            else:
                assert yoy_ratio is None
        checked += 1
    # 2017 Q4 against 2016 Q4 for every agent with a row (the only quarter with a year before)
    assert checked == 2 * len({m for m, s, *_ in rows if s == date(2017, 10, 1)})
    assert checked > 0
    # the wide view agrees with the long one
    [(wide,)] = store.con.execute(
        "SELECT yoy_change_won_amount FROM bi.kpi_changes WHERE grain = 'quarter' "
        "AND dimension = 'owner' AND member = 'Darcel Schlecht' AND period_start = ?",
        [date(2017, 10, 1)]).fetchall()
    darcel = won_amount[("Darcel Schlecht", date(2017, 10, 1))] - won_amount[
        ("Darcel Schlecht", date(2016, 10, 1))]
    assert wide == Decimal(darcel)


def test_maven_waterfall_balances_for_every_member_and_period(store: Store) -> None:
    [(rows, broken, counts_broken, won_differs, won_n_differs)] = store.con.execute(
        """
        SELECT count(*),
               count(*) FILTER (WHERE waterfall_start + waterfall_created + waterfall_pulled_in
                   + waterfall_increased - waterfall_decreased - waterfall_pushed_out
                   - waterfall_lost - waterfall_won <> waterfall_end),
               count(*) FILTER (WHERE waterfall_start_n + waterfall_created_n
                   + waterfall_pulled_in_n - waterfall_pushed_out_n - waterfall_lost_n
                   - waterfall_won_n <> waterfall_end_n),
               count(*) FILTER (WHERE waterfall_won <> won_amount),
               count(*) FILTER (WHERE waterfall_won_n <> deals_won)
        FROM kpi_wide
        """).fetchall()
    assert rows > 0
    assert (broken, counts_broken, won_differs, won_n_differs) == (0, 0, 0, 0)
    # Maven's open deals have no close date: no deal is in a period's pipeline at its end
    [(ends,)] = store.con.execute("SELECT sum(waterfall_end_n) FROM kpi_wide").fetchall()
    assert ends == 0


def _maven_q4_waterfall() -> dict[str, tuple[int, int]]:
    # Maven's open deals have no close date: the quarter's pipeline is the deals closed in it,
    # in it at the start when engaged before the quarter, else created in it
    out = {b: [0, 0] for b in ("start", "created", "won", "lost", "end")}
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["deal_stage"] not in ("Won", "Lost") or _quarter(row["close_date"]) != Q4:
                continue
            amount = int(row["close_value"] or 0)
            entry = "start" if row["engage_date"] < "2017-10-01" else "created"
            for bucket in (entry, "won" if row["deal_stage"] == "Won" else "lost"):
                out[bucket][0] += amount
                out[bucket][1] += 1
    return {b: (v, n) for b, (v, n) in out.items()}


Q4 = date(2017, 10, 1)


def test_maven_report_shows_the_waterfall_and_yoy_columns(maven_store) -> None:
    from kpi_engine.report import YOY_COLUMNS, build_report, report_data

    with maven_store.open() as store:
        data = report_data(store, maven_store.settings, dimension="team")
        html = build_report(store, maven_store.settings, dimension="team")
        yoy = store.con.execute(
            "SELECT member, kpi, yoy_change, yoy_ratio FROM kpi_value_changes WHERE grain = "
            "'quarter' AND period_start = ? AND dimension = 'team'", [Q4]).fetchall()
    expected = _maven_q4_waterfall()
    overall = data.waterfall["All"]
    assert {b: (int(v), n) for b, (v, n) in overall.items() if b in expected} == expected
    assert expected["won"] == (2802496, 1196)
    assert list(data.waterfall)[1:] == [r.member_name for r in data.leaderboard]
    by_member = {(m, k): (c, r) for m, k, c, r in yoy}
    for row in data.leaderboard:
        for kpi, _, _ in YOY_COLUMNS:
            assert data.yoy[row.member][kpi] == by_member[(row.member, kpi)]
    assert data.year_ago_start == date(2016, 10, 1)
    assert 'id="chart-waterfall"' in html
    assert "won amount YoY" in html
    assert html.count('data-yoy="won_amount"') == len(data.leaderboard) + 1
