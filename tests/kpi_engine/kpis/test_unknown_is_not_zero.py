"""Unknown is not zero: a KPI whose input is missing is NULL with its n, never 0.

- The weighted pipeline at a past period end of a store without stage history (a CSV export):
  the deals open then and closed since have no known stage at that instant; when no open deal
  with an amount can be weighed, the weighted pipeline is unknown (NULL), not 0.
- sales_velocity with a NULL factor (docs/kpis.md): a member with lost deals and no won deal.
"""

from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction as F
from pathlib import Path

from click.testing import CliRunner

from cli import cli
from kpi_engine.store import Store
from tests.helpers.kpi import assert_ratio, compute_kpis, deal, kpi, seed
from tests.helpers.maven import write_config

DEALS = """id,partner,stage,created,closed,amount
D1,P1,Won,2024-01-10,2024-03-05,1000
D2,P1,Lost,2024-01-15,2024-02-20,500
D3,P1,Open,2024-02-10,,200
D4,P2,Won,2024-02-12,2024-02-25,300
D5,P3,Open,2024-01-20,,
"""


def test_pipeline_weighted_amount_unknown_stage_is_null_for_a_csv_store(tmp_path: Path) -> None:
    (tmp_path / "deals.csv").write_text(DEALS, encoding="utf-8")
    config = write_config(tmp_path / "c.yaml", {
        "database": str(tmp_path / "s.duckdb"),
        "sources": {"csv": {
            "deals": {"path": "deals.csv", "won_stages": ["Won"], "lost_stages": ["Lost"],
                      "columns": {"deal_id": "id", "partner_id": "partner", "stage": "stage",
                                  "created_at": "created", "close_date": "closed",
                                  "amount": "amount"}},
            "stage_probability": {"Open": 0.3},
        }},
    })
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "sync"]).exit_code == 0
    assert runner.invoke(cli, ["--config", str(config), "compute", "--grain", "month"]
                         ).exit_code == 0
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        def at(period: str, member: str, name: str) -> tuple:
            dimension = "overall" if member == "all" else "partner"
            return kpi(store, "month", period, dimension, member, name)

        # end of January (t = 02-01): D1 and D2 open, both closed since: no stage is known;
        # D5 (still open, stage known) has no amount and weighs nothing either
        assert at("2024-01-01", "all", "pipeline_open_count") == (D(3), 3)
        assert at("2024-01-01", "all", "pipeline_open_amount") == (D(1500), 2)
        assert at("2024-01-01", "all", "pipeline_weighted_amount") == (None, 0)
        assert at("2024-01-01", "P1", "pipeline_weighted_amount") == (None, 0)
        # P3's only open deal has no amount: like its open amount (0, n 0), a sum over nothing
        assert at("2024-01-01", "P3", "pipeline_open_amount") == (D(0), 0)
        assert at("2024-01-01", "P3", "pipeline_weighted_amount") == (D(0), 0)
        # end of February (t = 03-01): D1 (unknown: closed since), D3 (open, Open 0.3) and D5:
        # 200 x 0.3 = 60 over the one deal weighed
        assert at("2024-02-01", "all", "pipeline_open_count") == (D(3), 3)
        assert at("2024-02-01", "all", "pipeline_weighted_amount") == (D(60), 1)
        # P2 had nothing open at the end of February: nothing to weigh is 0, not unknown
        assert at("2024-02-01", "P2", "pipeline_open_count") == (D(0), 0)
        assert at("2024-02-01", "P2", "pipeline_weighted_amount") == (D(0), 0)
        # end of March: only D3 open, in its current stage
        assert at("2024-03-01", "all", "pipeline_weighted_amount") == (D(60), 1)


def test_sales_velocity_null_for_a_member_with_lost_deals_and_no_won_deal(store) -> None:
    seed(store, [
        deal("lost", partner_id="PX", amount=100, created_at="2024-05-02", close_date="2024-05-20"),
        deal("lost", partner_id="PX", amount=200, created_at="2024-05-03", close_date="2024-05-21"),
        deal("won", partner_id="PY", amount=900, created_at="2024-05-01", close_date="2024-05-31"),
    ])
    compute_kpis(store, grains=["month"])
    may = ("month", "2024-05-01", "partner")
    # PX: created 2, win rate 0 / 2 = 0, no won deal: average deal size and cycle NULL
    assert kpi(store, *may, "PX", "deals_created") == (D(2), 2)
    assert kpi(store, *may, "PX", "win_rate") == (D(0), 2)
    assert kpi(store, *may, "PX", "average_deal_size") == (None, 0)
    assert kpi(store, *may, "PX", "sales_cycle_days") == (None, 0)
    assert kpi(store, *may, "PX", "sales_velocity") == (None, 2)
    # PY: 1 created x 1/1 x 900 / 30 days = 30 per day
    v, n = kpi(store, *may, "PY", "sales_velocity")
    assert n == 1
    assert_ratio(v, F(900, 30))


def test_sales_velocity_maven_december_2017_garret_kinder(tmp_path: Path) -> None:
    """The Maven row the issue names: Garret Kinder won 3 and lost 3 deals closed in December
    2017 and created none that month. No factor is NULL -- deals_created is a count, 0 -- so
    velocity is 0 x 3/6 x 4130/3 / 75 = 0 (docs/kpis.md; velocity is NULL only when a factor
    is NULL or the cycle is 0: the member with lost deals and no won deal above)."""
    import csv
    from datetime import date

    from tests.helpers.maven import MAVEN, maven_config

    created = won = lost = 0
    amounts, cycles = [], []
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["sales_agent"] != "Garret Kinder":
                continue
            created += r["engage_date"].startswith("2017-12")
            if r["close_date"].startswith("2017-12"):
                won += r["deal_stage"] == "Won"
                lost += r["deal_stage"] == "Lost"
                if r["deal_stage"] == "Won":
                    amounts.append(int(r["close_value"]))
                    cycles.append((date.fromisoformat(r["close_date"])
                                   - date.fromisoformat(r["engage_date"])).days)
    assert (created, won, lost, sum(amounts), sum(cycles) / len(cycles)) == (0, 3, 3, 4130, 75)

    config = write_config(tmp_path / "m.yaml", maven_config(tmp_path / "m.duckdb"))
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "sync"]).exit_code == 0
    assert runner.invoke(cli, ["--config", str(config), "compute", "--grain", "month"]
                         ).exit_code == 0
    with Store(tmp_path / "m.duckdb", read_only=True) as store:
        dec = ("month", "2017-12-01", "owner", "Garret Kinder")
        assert kpi(store, *dec, "deals_created") == (D(0), 0)
        assert kpi(store, *dec, "win_rate") == (D("0.5"), 6)
        assert kpi(store, *dec, "average_deal_size")[1] == 3
        assert_ratio(kpi(store, *dec, "average_deal_size")[0], F(4130, 3))
        assert kpi(store, *dec, "sales_cycle_days") == (D(75), 3)
        assert kpi(store, *dec, "sales_velocity") == (D(0), 0)
