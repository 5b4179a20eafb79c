"""One "latest complete period" rule for report, leaderboard, push, status and export (issue:
"the report shows the quarter in progress").

A CSV export of 30 deals synced and computed on 2026-12-03 (the clock of ``kpi_engine.periods``
is fixed): Q3-2026 is the latest complete quarter, Q4-2026 is in progress (to date), and one won
deal dated 2027-02-15 must neither create a 2027 period nor move "latest". Expected values are
worked out by hand from the rows below.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.periods import CURRENT, LATEST, Period, choose_period, reporting_today
from kpi_engine.store import Store
from tests.helpers.kpi_rows import insert_long_rows
from tests.helpers.maven import write_config

TODAY = date(2026, 12, 3)
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
Q3, Q4 = date(2026, 7, 1), date(2026, 10, 1)

PARTNERS = "id,name\nP1,Acme Partners\nP2,Beta Resellers\nP3,Gamma Group\n"
OWNERS = "owner,name,team\nU1,Ann,North\nU2,Bo,South\n"
DEALS = """id,partner,owner,stage,created,closed,amount
D01,P1,U1,Won,2026-02-02,2026-04-10,1200
D02,P1,U1,Won,2026-02-03,2026-05-12,800
D03,P1,U2,Lost,2026-02-04,2026-06-01,300
D04,P2,U2,Won,2026-03-01,2026-04-20,2500
D05,P2,U1,Won,2026-03-02,2026-06-15,1500
D06,P3,U2,Won,2026-03-03,2026-05-05,900
D07,P3,U2,Lost,2026-03-04,2026-05-06,400
D08,P3,U1,Lost,2026-03-05,2026-06-30,100
D09,P1,U1,Won,2026-05-01,2026-07-03,1000
D10,P1,U1,Won,2026-05-02,2026-08-04,2000
D11,P1,U2,Won,2026-05-03,2026-08-05,1500
D12,P1,U2,Won,2026-06-01,2026-09-06,500
D13,P1,U1,Lost,2026-06-02,2026-09-07,600
D14,P2,U2,Won,2026-06-03,2026-07-08,3000
D15,P2,U1,Won,2026-06-04,2026-08-09,1000
D16,P2,U2,Lost,2026-06-05,2026-09-10,700
D17,P2,U1,Lost,2026-06-06,2026-09-30,200
D18,P3,U1,Won,2026-07-01,2026-08-11,800
D19,P3,U2,Lost,2026-07-02,2026-08-12,350
D20,P3,U2,Lost,2026-07-03,2026-09-13,250
D21,P1,U1,Won,2026-08-01,2026-10-14,700
D22,P2,U2,Won,2026-09-01,2026-11-15,400
D23,P2,U1,Lost,2026-09-02,2026-12-02,150
D24,P1,U1,Prospecting,2026-09-10,,5000
D25,P2,U2,Negotiation,2026-10-11,,4000
D26,P3,U1,Prospecting,2026-11-12,,3000
D27,P1,U2,Negotiation,2026-06-13,,2000
D28,,U1,Prospecting,2026-11-20,,1000
D29,P3,U2,Negotiation,2026-12-01,,600
D30,P3,U1,Won,2026-10-01,2027-02-15,9999
"""


def config_data(tmp_path: Path) -> dict:
    for name, text in (("deals.csv", DEALS), ("partners.csv", PARTNERS), ("owners.csv", OWNERS)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return {
        "database": str(tmp_path / "s.duckdb"),
        "sources": {"csv": {
            "deals": {"path": "deals.csv", "won_stages": ["Won"], "lost_stages": ["Lost"],
                      "columns": {"deal_id": "id", "partner_id": "partner", "owner_id": "owner",
                                  "stage": "stage", "created_at": "created",
                                  "close_date": "closed", "amount": "amount"}},
            "partners": {"path": "partners.csv", "columns": {"partner_id": "id", "name": "name"}},
            "owners": {"path": "owners.csv",
                       "columns": {"owner_id": "owner", "name": "name", "team": "team"}},
            "stage_probability": {"Prospecting": 0.1, "Negotiation": 0.6},
        }},
        "kpis": {"quality_score": {"min_closed_deals": 3}},
    }


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kpi_engine.periods.now", lambda: NOW)


def invoke(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


@pytest.fixture
def synced(tmp_path: Path, clock: None) -> Path:
    """The 30-deal export synced and computed on 2026-12-03."""
    config = write_config(tmp_path / "c.yaml", config_data(tmp_path))
    assert invoke(config, "sync").exit_code == 0
    result = invoke(config, "compute")
    assert result.exit_code == 0, result.output
    return config


def test_period_rule_today_is_the_reporting_time_zones_date(monkeypatch) -> None:
    # 2026-12-31 23:30 UTC is already 2027-01-01 in Auckland (UTC+13 in summer)
    monkeypatch.setattr("kpi_engine.periods.now",
                        lambda: datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    assert reporting_today() == date(2026, 12, 31)
    assert reporting_today("Pacific/Auckland") == date(2027, 1, 1)
    assert reporting_today("America/Los_Angeles") == date(2026, 12, 31)


def test_period_rule_compute_warns_about_future_close_dates(tmp_path: Path, clock: None) -> None:
    config = write_config(tmp_path / "c.yaml", config_data(tmp_path))
    assert invoke(config, "sync").exit_code == 0
    result = invoke(config, "compute")
    assert result.exit_code == 0
    assert ("warning: 1 closed deal has a close date on or after today (2026-12-03; latest "
            "2027-02-15): it counts as open until then and never moves the latest period"
            ) in result.stdout.splitlines()
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        quarters = store.con.execute(
            "SELECT DISTINCT period_start, period_end, as_of FROM kpi_values "
            "WHERE grain = 'quarter' ORDER BY 1").fetchall()
        # the won deal closing 2027-02-15 is open at the cut, not won: it is in the pipeline
        d30 = store.con.execute(
            "SELECT value, n FROM kpi_values WHERE grain = 'quarter' AND period_start = ? "
            "AND dimension = 'partner' AND member = 'P3' AND kpi IN ('deals_won', "
            "'pipeline_open_count') ORDER BY kpi", [Q4]).fetchall()
    # no 2027 period; Q4-2026 measured at today (the start of 2026-12-03)
    assert quarters == [
        (date(2026, 1, 1), date(2026, 4, 1), date(2026, 4, 1)),
        (date(2026, 4, 1), date(2026, 7, 1), date(2026, 7, 1)),
        (Q3, Q4, Q4),
        (Q4, date(2027, 1, 1), TODAY),
    ]
    # P3 at 2026-12-03: D26, D29 and D30 open; nothing won in Q4 to date
    assert d30 == [(Decimal(0), 0), (Decimal(3), 3)]


def _pipeline(tmp_path: Path, member: str) -> list[tuple]:
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        return store.con.execute(
            "SELECT kpi, value, n FROM kpi_values WHERE grain = 'quarter' AND period_start = ? "
            "AND dimension = 'partner' AND member = ? AND kpi LIKE 'pipeline_open_%' OR "
            "grain = 'quarter' AND period_start = ? AND dimension = 'partner' AND member = ? "
            "AND kpi = 'pipeline_weighted_amount' ORDER BY kpi", [Q4, member, Q4, member]
        ).fetchall()


def test_pipeline_weighted_counts_a_won_deal_dated_after_today(synced: Path,
                                                             tmp_path: Path) -> None:
    # open until its close date, a won deal dated 2027-02-15 is weighted like every open deal,
    # by its current stage: P3 at 2026-12-03: D26 3000 x 0.1 + D29 600 x 0.6 + D30 9999 x 1.0
    assert _pipeline(tmp_path, "P3") == [
        ("pipeline_open_amount", Decimal(13599), 3), ("pipeline_open_count", Decimal(3), 3),
        ("pipeline_weighted_amount", Decimal(10659), 3)]


def test_pipeline_weighted_as_of_a_past_day(synced: Path, tmp_path: Path) -> None:
    assert invoke(synced, "compute", "--as-of", "2026-11-01").exit_code == 0
    # P3 at 2026-11-01: only D30 is open (still open today): 9999 x 1.0
    assert _pipeline(tmp_path, "P3") == [
        ("pipeline_open_amount", Decimal(9999), 1), ("pipeline_open_count", Decimal(1), 1),
        ("pipeline_weighted_amount", Decimal(9999), 1)]
    # P2 at 2026-11-01: D22 (won 2026-11-15) and D23 (lost 2026-12-02) closed since, in an
    # open stage unknown without stage history: left out; D25 4000 x 0.6
    assert _pipeline(tmp_path, "P2") == [
        ("pipeline_open_amount", Decimal(4550), 3), ("pipeline_open_count", Decimal(3), 3),
        ("pipeline_weighted_amount", Decimal(2400), 1)]


def test_period_rule_future_close_warning_follows_as_of(synced: Path) -> None:
    result = invoke(synced, "compute", "--as-of", "2026-10-01")
    assert result.exit_code == 0
    # on or after 2026-10-01: D21 2026-10-14, D22 2026-11-15, D23 2026-12-02, D30 2027-02-15
    assert [line for line in result.stdout.splitlines() if line.startswith("warning")] == [
        "warning: 4 closed deals have a close date on or after the --as-of day (2026-10-01; "
        "latest 2027-02-15): they count as open until then and never move the latest period"]


def test_period_rule_compute_as_of_after_today_is_refused(synced: Path) -> None:
    result = invoke(synced, "compute", "--as-of", "2026-12-04")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --as-of 2026-12-04 is after today (2026-12-03, reporting time zone): KPIs are "
        "computed as at the start of a day that has begun\n")


def test_period_rule_choose_latest_and_current(synced: Path) -> None:
    with Store(synced.parent / "s.duckdb", read_only=True) as store:
        latest = choose_period(store, "quarter", LATEST, today=TODAY)
        current = choose_period(store, "quarter", CURRENT, today=TODAY)
        month = choose_period(store, "month", LATEST, today=TODAY)
        year = choose_period(store, "year", LATEST, today=TODAY)
        inside = choose_period(store, "quarter", date(2026, 8, 15), today=TODAY)
    assert latest == Period("quarter", Q3, Q4, Q4, complete=True)
    assert latest.label == "quarter 2026-07-01 to 2026-09-30"
    assert current == Period("quarter", Q4, date(2027, 1, 1), TODAY, complete=False)
    assert current.label == "quarter 2026-10-01 to date (as at 2026-12-03)"
    assert month == Period("month", date(2026, 11, 1), date(2026, 12, 1), date(2026, 12, 1), True)
    assert year is None  # 2026 has not ended
    assert inside == latest


def test_period_rule_report_shows_the_latest_complete_quarter(synced: Path,
                                                              tmp_path: Path) -> None:
    output = tmp_path / "r.html"
    result = invoke(synced, "report", "--output", str(output))
    assert result.exit_code == 0, result.output
    html = output.read_text(encoding="utf-8")
    assert "<title>Partner report, quarter 2026-07-01 to 2026-09-30</title>" in html
    assert "pipeline measured at\n    2026-10-01" in html
    # Q3 by hand (min_closed_deals 3): P1 won 1000+2000+1500+500 = 5000 (4 of 5 closed),
    # P2 3000+1000 = 4000 (2 of 4), P3 800 (1 of 3): cume_dist ranks give 100, 66.67, 33.33
    assert re.findall(r'<tr data-member="(\w+)">', html) == ["P1", "P2", "P3"]
    assert '<td data-kpi="quality_score"><span class="value">100.00</span>' in html


def test_period_rule_report_current_is_labelled_to_date(synced: Path, tmp_path: Path) -> None:
    output = tmp_path / "r.html"
    result = invoke(synced, "report", "--period", "current", "--output", str(output))
    assert result.exit_code == 0, result.output
    html = output.read_text(encoding="utf-8")
    assert "<title>Partner report, quarter 2026-10-01 to date (as at 2026-12-03)</title>" in html
    assert "pipeline measured at\n    2026-12-03" in html


@pytest.mark.parametrize(("as_of", "message"), [
    (None, "error: no quarter holding today (2026-12-03) in the store: the last compute (as at "
           "2026-12-03) found no deal created, closed or open in it (computed: 2026-01-01 to "
           "2026-09-30); pass --period latest for the latest complete quarter\n"),
    ("2026-09-01", "error: no quarter holding today (2026-12-03) in the store: the last compute "
                   "was as at 2026-09-01 (computed: 2026-01-01 to 2026-09-30); run partnerkpi "
                   "compute\n"),
], ids=["empty-quarter", "stale-compute"])
def test_period_rule_report_current_says_why_it_is_missing(tmp_path: Path, clock: None,
                                                           as_of: str | None,
                                                           message: str) -> None:
    # deals D01..D20 only: every one closed by 2026-09-30, so nothing happens in Q4
    data = config_data(tmp_path)
    (tmp_path / "deals.csv").write_text("\n".join(DEALS.splitlines()[:21]) + "\n",
                                        encoding="utf-8")
    config = write_config(tmp_path / "c.yaml", data)
    assert invoke(config, "sync").exit_code == 0
    args = ["compute", "--grain", "quarter"] + (["--as-of", as_of] if as_of else [])
    assert invoke(config, *args).exit_code == 0
    result = invoke(config, "report", "--period", "current", "--output",
                    str(tmp_path / "r.html"))
    assert result.exit_code == 1
    assert result.stderr == message


def test_period_rule_report_data_latest(synced: Path) -> None:
    from jobs.config import load_config
    from kpi_engine.report import report_data

    settings = load_config(synced).kpi_settings()
    with Store(synced.parent / "s.duckdb", read_only=True) as store:
        data = report_data(store, settings, today=TODAY)
        current = report_data(store, settings, period=CURRENT, today=TODAY)
    assert (data.period_start, data.period_end, data.as_of) == (Q3, Q4, Q4)
    assert data.previous_start == date(2026, 4, 1)
    board = {r.member: r.values for r in data.leaderboard}
    assert [r.member for r in data.leaderboard] == ["P1", "P2", "P3"]
    assert (board["P1"]["won_amount"], board["P1"]["deals_won"], board["P1"]["win_rate"]) == (
        Decimal(5000), Decimal(4), Decimal("0.8"))
    assert [board[p]["quality_score"] for p in ("P1", "P2", "P3")] == [
        Decimal(100), Decimal("66.67"), Decimal("33.33")]
    assert data.warnings == ["1 closed deal(s) have a close date on or after the day the pipeline "
                             "was measured: counted as open until then"]
    assert (current.period_start, current.as_of, current.complete) == (Q4, TODAY, False)
    # Q4 to date: P1 closed 1 (D21), P2 2 (D22, D23), P3 none: all below 3; the deal without
    # a partner (D28, created in November) makes "none" a member
    assert [(r.member, r.values["quality_score"]) for r in current.leaderboard] == [
        ("P1", None), ("P2", None), ("P3", None), ("none", None)]


def test_period_rule_export_defaults_to_complete_periods(synced: Path) -> None:
    result = invoke(synced, "export", "--grain", "quarter", "--dimension", "partner",
                    "--kpi", "deals_won")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted({r["period_start"] for r in rows}) == ["2026-01-01", "2026-04-01",
                                                         "2026-07-01"]
    assert {r["period_status"] for r in rows} == {"complete"}
    current = invoke(synced, "export", "--grain", "quarter", "--dimension", "partner",
                     "--kpi", "deals_won", "--period", "current")
    rows = list(csv.DictReader(io.StringIO(current.stdout)))
    assert [(r["period_start"], r["member"], r["value"], r["period_status"]) for r in rows] == [
        ("2026-10-01", "P1", "1", "to date"), ("2026-10-01", "P2", "1", "to date"),
        ("2026-10-01", "P3", "0", "to date"), ("2026-10-01", "none", "0", "to date")]
    latest = invoke(synced, "export", "--grain", "month", "--dimension", "overall",
                    "--kpi", "deals_closed", "--period", "latest")
    # November 2026: D22 won (11-15)
    assert latest.stdout.splitlines()[1:] == [
        "month,2026-11-01,overall,all,All,deals_closed,1,1,complete"]


def test_period_rule_status_names_latest_complete_and_in_progress(synced: Path) -> None:
    result = invoke(synced, "status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "month: latest complete month 2026-11-01 to 2026-11-30; in progress month "\
           "2026-12-01 to date (as at 2026-12-03)" in lines
    assert "quarter: latest complete quarter 2026-07-01 to 2026-09-30; in progress quarter "\
           "2026-10-01 to date (as at 2026-12-03)" in lines
    assert "year: no complete year yet; in progress year 2026-01-01 to date (as at "\
           "2026-12-03)" in lines


def test_period_rule_run_as_of(tmp_path: Path, clock: None) -> None:
    config = write_config(tmp_path / "c.yaml", config_data(tmp_path))
    result = invoke(config, "run", "--as-of", "2026-09-15", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "ok"
    # the warning follows --as-of: closed on or after 2026-09-15 are D17, D21, D22, D23, D30
    assert body["compute"] == {
        "deals": 30, "rows": body["compute"]["rows"], "as_of": "2026-09-15",
        "warnings": ["5 closed deals have a close date on or after the --as-of day (2026-09-15; "
                     "latest 2027-02-15): they count as open until then and never move the "
                     "latest period"]}
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        runs = store.con.execute("SELECT DISTINCT as_of FROM kpi_runs").fetchall()
        q3 = store.con.execute(
            "SELECT as_of, value FROM kpi_values WHERE grain = 'quarter' AND period_start = ? "
            "AND dimension = 'overall' AND kpi = 'deals_won'", [Q3]).fetchall()
        latest = choose_period(store, "quarter", LATEST, today=TODAY)
    assert runs == [(date(2026, 9, 15),)]
    # won before 2026-09-15: D09, D10, D11, D12, D14, D15, D18
    assert q3 == [(date(2026, 9, 15), Decimal(7))]
    assert latest is not None
    assert latest.start == date(2026, 4, 1)  # Q3 is cut at 2026-09-15: not complete


@pytest.fixture
def sf_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WB_SF_ACCESS_TOKEN", "00Dtest!token")


@pytest.mark.usefixtures("sf_token")
def test_period_rule_push_plans_the_latest_complete_quarter(tmp_path: Path) -> None:
    import responses

    from jobs.run import push_targets
    from tests.helpers.writeback import (
        DESCRIBE,
        DESCRIBE_BODY,
        MockOrg,
        add_salesforce_preflight,
        sf_config,
    )

    config = sf_config(tmp_path / "s.duckdb")
    with Store(config.database) as store:
        store.upsert("partners", [{"source": "salesforce", "partner_id": "001A", "name": "A"}])
        # Q3 complete, Q4 computed to date, and a 2027 quarter left by an older compute that
        # measured it at its (future) end
        rows = ((Q3, Q4, Q4, "0.5"), (Q4, date(2027, 1, 1), TODAY, "0.25"),
                (date(2027, 1, 1), date(2027, 4, 1), date(2027, 4, 1), "1"))
        insert_long_rows(
            store, [("quarter", start, end, "partner", "001A", "A", "win_rate", Decimal(value), 4)
                    for start, end, _, value in rows],
            NOW, as_of=[as_of for _, _, as_of, _ in rows])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked, \
            Store(config.database) as store:
        mocked.get(DESCRIBE, json=DESCRIBE_BODY)
        MockOrg().register(mocked)  # the fields' current values: all empty
        add_salesforce_preflight(mocked)  # the push's preflight: versions and limits
        (latest,) = push_targets(config, store, dry_run=True, today=TODAY)
        config.writeback.salesforce.period = "current"
        mocked.get(DESCRIBE, json=DESCRIBE_BODY)
        (current,) = push_targets(config, store, dry_run=True, today=TODAY)
    assert (latest.period_start, latest.period.label) == (Q3, "quarter 2026-07-01 to 2026-09-30")
    assert [(c.field, c.new) for c in latest.cells if c.kpi == "win_rate"] == [
        ("Partner_Win_Rate__c", Decimal("50.00"))]
    assert (current.period_start, current.period.label) == (
        Q4, "quarter 2026-10-01 to date (as at 2026-12-03)")


@pytest.mark.parametrize(("zone", "latest", "current"), [
    (None, "quarter 2026-07-01 to 2026-09-30", "quarter 2026-10-01 to date (as at 2026-12-31)"),
    ("Pacific/Auckland", "quarter 2026-10-01 to 2026-12-31", None),
], ids=["utc", "auckland"])
def test_period_rule_uses_the_reporting_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str | None, latest: str,
    current: str | None,
) -> None:
    # 2026-12-31 23:30 UTC: still 2026-12-31 in UTC, already 2027-01-01 in Auckland, where Q4
    # has ended and a compute now measures it to its end (as at 2027-01-01)
    monkeypatch.setattr("kpi_engine.periods.now",
                        lambda: datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    data = config_data(tmp_path)
    if zone:
        data["reporting_timezone"] = zone
    config = write_config(tmp_path / "c.yaml", data)
    assert invoke(config, "sync").exit_code == 0
    assert invoke(config, "compute").exit_code == 0
    lines = invoke(config, "status").stdout.splitlines()
    going = f"in progress {current}" if current else "nothing in progress computed"
    assert f"quarter: latest complete {latest}; {going}" in lines


def test_period_rule_reporting_time_zone_is_checked(tmp_path: Path) -> None:
    data = config_data(tmp_path)
    data["reporting_timezone"] = "Europe/Atlantis"
    config = write_config(tmp_path / "c.yaml", data)
    result = invoke(config, "status")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {config}: reporting_timezone: unknown time zone 'Europe/Atlantis': use an IANA "
        "name such as UTC or Europe/Berlin\n")


def test_period_rule_terminal_leaderboard(synced: Path, capsys: pytest.CaptureFixture) -> None:
    from cli import _print_leaderboard

    with Store(synced.parent / "s.duckdb", read_only=True) as store:
        _print_leaderboard(store, "quarter", "partner", TODAY)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "partner leaderboard, quarter starting 2026-07-01"
    names = [line.split("│")[2].strip() for line in lines if line.startswith("│ ")]
    assert names == ["Acme Partners", "Beta Resellers", "Gamma Group"]
