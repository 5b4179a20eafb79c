"""The data the report shows, checked against ``kpi_values`` and ``deals`` by independent queries
on the real Maven data set (imported through the CSV source)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from kpi_engine.kpis import KPIS
from kpi_engine.leaderboard import LEADERBOARD_KPIS
from kpi_engine.report import (
    TOP_MEMBERS,
    ReportError,
    build_report,
    kpi_definitions,
    report_data,
)
from kpi_engine.store import Store
from tests.helpers.maven import ROOT
from tests.helpers.report import MavenStore

Q4 = date(2017, 10, 1)
Q3 = date(2017, 7, 1)


def kpi_value(store: Store, kpi: str, member: str, *, dimension: str = "team",
              grain: str = "quarter", start: date = Q4) -> Decimal | None:
    """One value of kpi_values, or None when the row is missing or NULL."""
    row = store.con.execute(
        "SELECT value FROM kpi_values WHERE grain = ? AND period_start = ? AND dimension = ? "
        "AND member = ? AND kpi = ?", [grain, start, dimension, member, kpi],
    ).fetchone()
    return row[0] if row else None


@pytest.fixture(scope="module")
def team_q4(maven_store: MavenStore):
    with maven_store.open() as store:
        return report_data(store, maven_store.settings, dimension="team")


def test_report_data_latest_period_is_the_last_complete_quarter(team_q4) -> None:
    assert (team_q4.period_start, team_q4.period_end, team_q4.as_of) == (
        Q4, date(2018, 1, 1), date(2018, 1, 1))
    assert team_q4.previous_start == Q3
    assert team_q4.currency == "USD"


def test_report_data_coverage_and_warnings(team_q4) -> None:
    [csv] = team_q4.sources
    assert (csv.source, csv.deals, csv.deleted, csv.status) == ("csv", 8800, 0, "ok")
    assert csv.last_sync is not None
    assert team_q4.deals_live == 8800
    # the 500 Prospecting deals of the data set have no engage_date
    assert team_q4.warnings == [
        "500 deals have no created date: left out of deals created, the pipeline, the sales "
        "cycle and deal success"
    ]
    assert team_q4.overall["deals_won"] == 1196
    assert team_q4.overall["won_amount"] == Decimal("2802496")


def test_report_data_leaderboard_equals_kpi_values(store: Store, team_q4) -> None:
    ranked = store.con.execute(
        "SELECT q.member FROM kpi_values q JOIN kpi_values w USING (grain, period_start, "
        "dimension, member) WHERE q.grain = 'quarter' AND q.period_start = ? "
        "AND q.dimension = 'team' AND q.kpi = 'quality_score' AND w.kpi = 'won_amount' "
        "ORDER BY q.value DESC NULLS LAST, w.value DESC", [Q4],
    ).fetchall()
    assert [r.member for r in team_q4.leaderboard] == [r[0] for r in ranked]
    assert len(team_q4.leaderboard) == 6
    for row in team_q4.leaderboard:
        for kpi in LEADERBOARD_KPIS:
            assert row.values[kpi] == kpi_value(store, kpi, row.member), (row.member, kpi)


def test_report_data_changes_against_previous_quarter(store: Store, team_q4) -> None:
    for row in team_q4.leaderboard:
        change = team_q4.changes[row.member]
        for kpi in ("won_amount", "deals_won", "win_rate", "average_deal_size",
                    "sales_cycle_days", "deal_success_rate", "quality_score"):
            now = kpi_value(store, kpi, row.member)
            before = kpi_value(store, kpi, row.member, start=Q3)
            assert change[kpi] == now - before, (row.member, kpi)
    # Melvin Marxen (team): won amount 670,788 in 2017 Q4 against 767,754 in Q3
    assert team_q4.changes["Melvin Marxen"]["won_amount"] == Decimal("-96966")


def test_report_data_trends_top_members_and_others(store: Store, team_q4) -> None:
    assert team_q4.trend_periods == [date(2016, 10, 1), date(2017, 1, 1), date(2017, 4, 1), Q3, Q4]
    top = [r.member for r in team_q4.leaderboard[:TOP_MEMBERS]]
    assert list(team_q4.trends["win_rate"]) == [*top, "others"]
    for member in top:
        assert team_q4.trends["win_rate"][member] == [
            kpi_value(store, "win_rate", member, start=p) for p in team_q4.trend_periods]
        assert team_q4.trends["average_deal_size"][member] == [
            kpi_value(store, "average_deal_size", member, start=p) for p in team_q4.trend_periods]
    [(others,)] = store.con.execute(
        "SELECT list(member) FROM kpi_values WHERE grain = 'quarter' AND period_start = ? "
        "AND dimension = 'team' AND kpi = 'deals_won' AND member NOT IN ?", [Q4, top],
    ).fetchall()
    assert others == ["Cara Losch"]
    for i, p in enumerate(team_q4.trend_periods):
        won = kpi_value(store, "deals_won", "Cara Losch", start=p)
        closed = kpi_value(store, "deals_closed", "Cara Losch", start=p)
        assert team_q4.trends["win_rate"]["others"][i] == (won / closed if closed else None)


def test_report_data_pipeline_and_channels(store: Store, team_q4) -> None:
    for name, open_amount, weighted in team_q4.pipeline:
        assert open_amount == kpi_value(store, "pipeline_open_amount", name)
        assert weighted == kpi_value(store, "pipeline_weighted_amount", name)
    assert len(team_q4.pipeline) == 6
    # the Maven deals carry no lead source: every won amount is in channel unknown
    assert team_q4.channels == [("paid", 0), ("earned", 0), ("owned", 0), ("partner", 0),
                                ("unknown", Decimal("2802496"))]
    assert team_q4.open_with_amount == 0  # Maven's open deals have no close_value


def test_report_data_sales_cycle_distribution_gives_the_kpi(store: Store, team_q4) -> None:
    days = team_q4.cycle_days
    mean = kpi_value(store, "sales_cycle_days", "all", dimension="overall")
    [(n,)] = store.con.execute(
        "SELECT n FROM kpi_values WHERE grain = 'quarter' AND period_start = ? "
        "AND dimension = 'overall' AND kpi = 'sales_cycle_days'", [Q4],
    ).fetchall()
    assert len(days) == n == 1196
    assert days == sorted(days)
    assert round(Decimal(sum(days)) / len(days), 10) == mean == Decimal("49.5610367893")


def test_report_data_period_by_date_and_insufficient_data(store: Store, maven_store) -> None:
    data = report_data(store, maven_store.settings, period="2016-11-15", dimension="team")
    assert data.period_start == date(2016, 10, 1)
    assert data.previous_start is None
    assert all(r.values["quality_score"] is None for r in data.leaderboard)
    html = build_report(store, maven_store.settings, period=date(2016, 11, 15), dimension="team")
    assert html.count(">insufficient data<") == 6
    assert "No previous period" in html


def test_report_data_missing_member_is_not_ranked(store: Store, maven_store) -> None:
    html = build_report(store, maven_store.settings)  # partner: the CSV import has none
    assert re.search(r'data-member="none">\s*<td>1</td><td class="name">No partner</td>', html)
    assert ">not ranked<" in html


@pytest.mark.parametrize(("grain", "period", "message"), [
    ("quarter", "2019-01-01", "no quarter holding 2019-01-01 in the store (computed: 2016-10-01 "
                              "to 2017-12-31); pick a date in that range or run partnerkpi "
                              "compute"),
], ids=["outside"])
def test_report_data_unknown_period_is_an_error(store: Store, maven_store, grain, period,
                                                message) -> None:
    with pytest.raises(ReportError) as caught:
        report_data(store, maven_store.settings, grain=grain, period=period)
    assert str(caught.value) == message


def test_report_data_empty_store_is_an_error(tmp_path, maven_store) -> None:
    with Store(tmp_path / "empty.duckdb") as empty, pytest.raises(ReportError) as caught:
        report_data(empty, maven_store.settings)
    assert str(caught.value) == "no quarter KPIs in the store: run partnerkpi compute first"


def test_report_definitions_copy_equals_docs() -> None:
    link = ROOT / "kpi_engine" / "kpis.md"
    assert link.is_symlink(), "kpi_engine/kpis.md: ln -sf ../docs/kpis.md kpi_engine/kpis.md"
    assert link.resolve() == (ROOT / "docs" / "kpis.md").resolve()
    definitions = kpi_definitions()
    assert list(definitions) == [k.name for k in KPIS]
    assert definitions["win_rate"] == (
        "deals_won / deals_closed of deals closed in P (the close rate). Unit: ratio 0..1. n = "
        "deals_closed. NULL when nothing closed.")


def test_report_html_is_self_contained(store: Store, maven_store) -> None:
    html = build_report(store, maven_store.settings, dimension="team")
    assert not re.search(r"<(script|img|iframe)[^>]+src=", html)
    assert not re.search(r"<link\b", html)
    assert "@import" not in html
    for chart in ("chart-quality-score", "chart-win-rate", "chart-deal-size", "chart-pipeline",
                  "chart-channels", "chart-sales-cycle"):
        assert f'id="{chart}"' in html
    assert re.search(r"won amount\s+\(USD\)", html)
    assert 4_500_000 < len(html.encode()) < 6_000_000


def test_report_pipeline_without_amounts_falls_back_to_open_deal_counts(store: Store,
                                                                        team_q4) -> None:
    from kpi_engine.report import _charts

    expected = sorted(((name, int(n)) for name, n in store.con.execute(
        "SELECT member_name, value FROM kpi_values WHERE grain = 'quarter' AND "
        "period_start = ? AND dimension = 'team' AND kpi = 'pipeline_open_count' AND value > 0",
        [Q4]).fetchall()), key=lambda r: (-r[1], r[0]))
    assert team_q4.pipeline_counts == expected
    assert sum(n for _, n in expected) == kpi_value(store, "pipeline_open_count", "all",
                                                    dimension="overall")
    chart = next(c for c in _charts(team_q4) if c["id"] == "chart-pipeline")
    assert chart["title"] == "Open deals by team at 2018-01-01 (count)"
    assert chart["kpis"] == ["pipeline_open_count"]
    assert '"tickformat":",d"' in chart["html"]


def test_report_empty_chart_is_one_line_not_a_frame() -> None:
    import plotly.graph_objects as go

    from kpi_engine.report import _figure_html, _say_empty

    fig = go.Figure(go.Bar(x=[], y=[]))
    _say_empty(fig, "No deal open at 2018-01-01 & after.")
    assert _figure_html(fig, "chart-x") == (
        '<p class="chart-empty" id="chart-x" data-empty="true">No deal open at 2018-01-01 '
        "&amp; after.</p>")
    drawn = _figure_html(go.Figure(go.Bar(x=[1], y=[2])), "chart-y")
    assert 'id="chart-y"' in drawn
    assert '"responsive": true' in drawn
    assert "chart-empty" not in drawn


@pytest.mark.parametrize(("grain", "start", "label"), [
    ("quarter", date(2017, 10, 1), "2017-Q4"), ("month", date(2017, 5, 1), "2017-05"),
    ("year", date(2017, 1, 1), "2017")], ids=["quarter", "month", "year"])
def test_report_period_ticks_are_short_labels(grain: str, start: date, label: str) -> None:
    import plotly.graph_objects as go

    from kpi_engine.report import _period_axis

    fig = go.Figure()
    assert _period_axis(fig, grain, [start]) == [label]
    assert (fig.layout.xaxis.type, fig.layout.xaxis.tickangle) == ("category", 0)
    many = [date(2017, m, 1) for m in range(1, 10)]
    _period_axis(fig, "month", many)
    assert fig.layout.xaxis.tickangle == -45  # nine labels: turned so they never overlap


def test_report_quality_chart_with_no_ranked_member_says_why(store: Store, maven_store) -> None:
    html = build_report(store, maven_store.settings, period=date(2016, 11, 15), dimension="team")
    assert ('<p class="chart-empty" id="chart-quality-score" data-empty="true">No team member '
            "has 5 or more closed deals in the period, so none has a quality score "
            "(kpis.quality_score.min_closed_deals).</p>") in html
    assert 'id="chart-win-rate" class="plotly-graph-div' in html  # members, scored or not
