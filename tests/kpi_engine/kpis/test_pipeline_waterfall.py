"""The pipeline waterfall on a hand-worked partner with one deal in each bucket (docs/kpis.md,
"Pipeline waterfall"), and its drill-down summing to each bucket.

Partner P1, quarter 2024-Q2 = [2024-04-01, 2024-07-01), computed as of 2024-08-01 (complete):

| deal | story | buckets |
|---|---|---|
| A | open, close 06-15, amount 100 -> 150 on 05-01 | start 100, increased 50, end 150 |
| B | open, close 05-30, amount 200 -> 120 on 04-20 | start 200, decreased 80, end 120 |
| C | created 04-10, open, close 06-30, 300 | created 300, end 300 |
| D | created 03-01, close 09-15 -> 06-10 on 05-05, 400 | pulled_in 400, end 400 |
| E | close 05-20 -> 08-20 and 500 -> 550, both on 06-01 | start 500, pushed_out 500 |
| F | close 04-30 -> 05-15 on 04-28, lost 05-15, 600 | start 600, lost 600 |
| G | 700 -> 750 on 06-01, won 06-05 | start 700, increased 50, won 750 |
| H | created 04-02, won 04-25, 800 (no history) | created 800, won 800 |

start 2100 (5) + created 1100 (2) + pulled_in 400 (1) + increased 100 (2) - decreased 80 (1)
- pushed_out 500 (1) - lost 600 (1) - won 1550 (2) = end 970 (4).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from kpi_engine.settings import KpiSettings
from kpi_engine.waterfall import BUCKETS, drilldown
from tests.helpers.kpi import DEFAULT_SETTINGS, compute_kpis, d, deal, kpi, seed, ts

Q2 = "2024-04-01"
EXPECTED = {
    "start": (2100, 5), "created": (1100, 2), "pulled_in": (400, 1), "increased": (100, 2),
    "decreased": (80, 1), "pushed_out": (500, 1), "lost": (600, 1), "won": (1550, 2),
    "end": (970, 4),
}


def _version(deal_id: str, field: str, order: int, at: str, value) -> dict:
    row = {"source": "csv", "deal_id": deal_id, "field": field, "crm_order": f"{order:010d}",
           "changed_at": ts(at)}
    if field == "amount":
        row["value_amount"] = Decimal(value)
    else:
        row["value_date"] = d(value)
    return row


def _seed_partner(store) -> None:
    deals = [
        deal(deal_id="A", partner_id="P1", amount=150, created_at="2024-01-10",
             close_date="2024-06-15"),
        deal(deal_id="B", partner_id="P1", amount=120, created_at="2024-02-01",
             close_date="2024-05-30"),
        deal(deal_id="C", partner_id="P1", amount=300, created_at="2024-04-10",
             close_date="2024-06-30"),
        deal(deal_id="D", partner_id="P1", amount=400, created_at="2024-03-01",
             close_date="2024-06-10"),
        deal(deal_id="E", partner_id="P1", amount=550, created_at="2024-03-05",
             close_date="2024-08-20"),
        deal("lost", deal_id="F", partner_id="P1", amount=600, created_at="2024-01-20",
             close_date="2024-05-15"),
        deal("won", deal_id="G", partner_id="P1", amount=750, created_at="2024-02-10",
             close_date="2024-06-05"),
        deal("won", deal_id="H", partner_id="P1", amount=800, created_at="2024-04-02",
             close_date="2024-04-25"),
        # another partner's deal and a deleted one: never in P1's buckets
        deal(deal_id="X", partner_id="P2", amount=90, created_at="2024-01-05",
             close_date="2024-05-01"),
        deal(deal_id="Z", partner_id="P1", amount=999, created_at="2024-01-05",
             close_date="2024-05-01", is_deleted=True),
    ]
    history = [
        _version("A", "amount", 0, "2024-01-10", 100),
        _version("A", "amount", 1, "2024-05-01", 150),
        _version("A", "close_date", 0, "2024-01-10", "2024-06-15"),
        _version("B", "amount", 0, "2024-02-01", 200),
        _version("B", "amount", 1, "2024-04-20", 120),
        _version("D", "close_date", 0, "2024-03-01", "2024-09-15"),
        _version("D", "close_date", 1, "2024-05-05", "2024-06-10"),
        _version("E", "amount", 0, "2024-03-05", 500),
        _version("E", "amount", 1, "2024-06-01", 550),
        _version("E", "close_date", 0, "2024-03-05", "2024-05-20"),
        _version("E", "close_date", 1, "2024-06-01", "2024-08-20"),
        _version("F", "close_date", 0, "2024-01-20", "2024-04-30"),
        _version("F", "close_date", 1, "2024-04-28", "2024-05-15"),
        _version("G", "amount", 0, "2024-02-10", 700),
        _version("G", "amount", 1, "2024-06-01", 750),
    ]
    seed(store, deals, deal_history=history)


def test_waterfall_hand_worked_partner_one_deal_per_bucket(store):
    _seed_partner(store)
    compute_kpis(store, as_of="2024-08-01")
    got = {b: kpi(store, "quarter", Q2, "partner", "P1", f"waterfall_{b}") for b in BUCKETS}
    assert got == {b: (Decimal(v), n) for b, (v, n) in EXPECTED.items()}
    # the other partner: start 90 and, still open with its close date passed, end 90
    assert kpi(store, "quarter", Q2, "partner", "P2", "waterfall_end") == (Decimal(90), 1)
    assert kpi(store, "quarter", Q2, "overall", "all", "waterfall_start") == (Decimal(2190), 6)


def test_waterfall_drilldown_deals_sum_to_each_bucket(store):
    _seed_partner(store)
    compute_kpis(store, as_of="2024-08-01")
    deals = drilldown(store, KpiSettings(**DEFAULT_SETTINGS), "quarter", d(Q2), "partner", "P1")
    by_bucket: dict[str, list[str]] = defaultdict(list)
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for row in deals:
        by_bucket[row.bucket].append(row.deal_id)
        sums[row.bucket] += row.amount
    assert dict(by_bucket) == {
        "start": ["A", "B", "E", "F", "G"], "created": ["C", "H"], "pulled_in": ["D"],
        "increased": ["A", "G"], "decreased": ["B"], "pushed_out": ["E"], "lost": ["F"],
        "won": ["G", "H"], "end": ["A", "B", "C", "D"],
    }
    for bucket in BUCKETS:
        value, n = kpi(store, "quarter", Q2, "partner", "P1", f"waterfall_{bucket}")
        assert (sums[bucket], len(by_bucket[bucket])) == (value, n)
    pushed = next(r for r in deals if r.bucket == "pushed_out")
    assert (pushed.close_date_start, pushed.close_date_end) == (d("2024-05-20"), d("2024-08-20"))
    assert (pushed.amount_start, pushed.amount_end) == (Decimal(500), Decimal(550))


def test_waterfall_same_instant_versions_follow_crm_order(store):
    # two close-date versions at one instant: the one the CRM set last (greater crm_order) holds
    seed(store, [deal(deal_id="K", partner_id="P1", amount=10, created_at="2024-01-02",
                      close_date="2024-05-10"),
                 deal("won", partner_id="P2", amount=5, created_at="2024-01-02",
                      close_date="2024-07-15")],
         deal_history=[_version("K", "close_date", 1, "2024-01-02", "2024-05-10"),
                       _version("K", "close_date", 0, "2024-01-02", "2024-11-10")])
    compute_kpis(store, grains=["quarter"], as_of="2024-08-01")
    assert kpi(store, "quarter", Q2, "partner", "P1", "waterfall_start") == (Decimal(10), 1)


def test_waterfall_export_deals_cli_lists_each_bucket(tmp_path):
    from click.testing import CliRunner

    from cli import cli
    from kpi_engine.store import Store
    from tests.helpers.maven import maven_config, write_config

    database = tmp_path / "w.duckdb"
    with Store(database) as store:
        _seed_partner(store)
        compute_kpis(store, as_of="2024-08-01")
    config = write_config(tmp_path / "c.yaml", maven_config(database))
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "export", "--kpi", "pipeline_waterfall",
                                 "--member", "P1", "--period", "2024-05-15", "--deals"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:6] == [
        "bucket,source,deal_id,deal_name,amount,close_date_start,close_date_end,amount_start,"
        "amount_end",
        "start,csv,A,,100,2024-06-15,2024-06-15,100,150",
        "start,csv,B,,200,2024-05-30,2024-05-30,200,120",
        "start,csv,E,,500,2024-05-20,2024-08-20,500,550",
        "start,csv,F,,600,2024-04-30,2024-05-15,600,600",
        "start,csv,G,,700,2024-06-05,2024-06-05,700,750",
    ]
    assert [line.split(",")[0] for line in lines[6:]] == [
        "created", "created", "pulled_in", "increased", "increased", "decreased", "pushed_out",
        "lost", "won", "won", "end", "end", "end", "end"]
    # the buckets of the same period through the KPI export, with their change columns
    result = runner.invoke(cli, ["--config", str(config), "export", "--kpi", "pipeline_waterfall",
                                 "--grain", "quarter", "--dimension", "partner", "--period",
                                 "2024-05-15", "--change"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.output.splitlines()]
    assert rows[0][-6:] == ["previous", "change", "change_ratio", "year_ago", "yoy_change",
                            "yoy_ratio"]
    p1 = {r[5]: r for r in rows[1:] if r[3] == "P1"}
    assert sorted(p1) == sorted(f"waterfall_{b}" for b in BUCKETS)
    # value 970 (4 deals); in Q1 no P1 deal had a close date in Q1: previous 0, no ratio
    assert p1["waterfall_end"][6:8] == ["970", "4"]
    assert p1["waterfall_end"][9:12] == ["0", "970", ""]
    # no quarter a year earlier was computed: the year-ago columns are empty
    assert p1["waterfall_end"][12:] == ["", "", ""]
    bad = runner.invoke(cli, ["--config", str(config), "export", "--kpi", "won_amount",
                              "--member", "P1", "--deals"])
    assert bad.exit_code != 0
    assert "--deals needs --kpi pipeline_waterfall" in bad.output
