"""Several partners per deal from a CSV import: the ``influencers`` column, the deal-partners
file, and their links replaced whole on each import."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from connectors.csv_export import CsvConnector
from connectors.csv_export.settings import CsvSettings
from connectors.sync import run_sync
from kpi_engine.credit import AttributionSettings
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store


def _files(tmp: Path, deals: str, links: str | None = None) -> CsvSettings:
    (tmp / "partners.csv").write_text("id,name\nP1,One\nP2,Two\nP3,Three\n", encoding="utf-8")
    (tmp / "deals.csv").write_text(deals, encoding="utf-8")
    config: dict = {
        "deals": {"path": str(tmp / "deals.csv"), "won_stages": ["Won"], "lost_stages": ["Lost"],
                  "columns": {"deal_id": "id", "stage": "stage", "amount": "amount",
                              "partner_id": "partner", "influencers": "influencers",
                              "created_at": "created", "close_date": "closed"}},
        "partners": {"path": str(tmp / "partners.csv"),
                     "columns": {"partner_id": "id", "name": "name"}},
        "on_bad_record": "reject",
    }
    if links is not None:
        (tmp / "links.csv").write_text(links, encoding="utf-8")
        config["deal_partners"] = {
            "path": str(tmp / "links.csv"), "share_scale": "percent",
            "columns": {"deal_id": "deal", "partner_id": "partner", "role": "role",
                        "share": "share"}}
    return CsvSettings.model_validate(config)


DEALS = ("id,stage,amount,partner,influencers,created,closed\n"
         "D1,Won,1000,P1,P2;P3,2025-01-02,2025-01-30\n"
         "D2,Won,400,,P2,2025-01-03,2025-01-20\n")


def _links(store: Store) -> list[tuple]:
    return store.con.execute(
        "SELECT deal_id, partner_id, role, share, origin, is_deleted FROM deal_partners "
        "ORDER BY deal_id, origin, partner_id").fetchall()


def test_csv_influencers_column_gives_links(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        run_sync(store, CsvConnector(_files(tmp_path, DEALS), "USD"))
        assert _links(store) == [
            ("D1", "P2", "Influencer", None, "csv", False),
            ("D1", "P3", "Influencer", None, "csv", False),
            ("D1", "P1", None, None, "partner_field", False),
            ("D2", "P2", "Influencer", None, "csv", False),
        ]
        # P3 leaves D1's influencers: its link is flagged deleted, the others stay
        run_sync(store, CsvConnector(_files(tmp_path, DEALS.replace("P2;P3", "P2")), "USD"))
        assert ("D1", "P3", "Influencer", None, "csv", True) in _links(store)
        assert sum(1 for r in _links(store) if not r[5]) == 3
        compute(store, KpiSettings(attribution=AttributionSettings(credit="even")), ["month"],
                today=date(2025, 3, 1))
        got = store.con.execute(
            "SELECT category, member, won_amount FROM credit_kpis WHERE grain = 'month' "
            "ORDER BY ALL").fetchall()
    # D1 1000: P1 sourced 500, P2 influenced 500; D2 400: P2 influenced 400
    assert got == [("influenced", "P2", 900), ("influenced", "all", 900),
                   ("partner", "all", 1400), ("sourced", "P1", 500), ("sourced", "all", 500)]


def test_csv_deal_partners_file_with_shares_and_rejects(tmp_path: Path) -> None:
    links = ("deal,partner,role,share\n"
             "D1,P1,Sourced,60\n"
             "D1,P2,Co-sell,40\n"
             "D2,P9,Reseller,100\n"      # no such partner: rejected
             "D7,P2,Reseller,100\n")     # no such deal: rejected
    deals = DEALS.replace(",P2;P3,", ",,").replace(",,P2,", ",,,")
    with Store(tmp_path / "s.duckdb") as store:
        result = run_sync(store, CsvConnector(_files(tmp_path, deals, links), "USD"))
        assert _links(store) == [
            ("D1", "P1", "Sourced", Decimal("0.6"), "csv", False),
            ("D1", "P2", "Co-sell", Decimal("0.4"), "csv", False),
            ("D1", "P1", None, None, "partner_field", False),
        ]
        rejects = store.con.execute(
            "SELECT record_id, field, value, reason FROM rejects ORDER BY record_id").fetchall()
        assert result.streams["deals"].rejected == 2
        compute(store, KpiSettings(attribution=AttributionSettings(credit="share")), ["month"],
                today=date(2025, 3, 1))
        got = store.con.execute(
            "SELECT category, member, won_amount FROM credit_kpis WHERE grain = 'month' "
            "AND category <> 'direct' ORDER BY ALL").fetchall()
    assert rejects == [
        ("D2/P9/Reseller", "partner", "P9",
         "links.csv:4: is not a partner_id in partners.csv (nor in an earlier import; "
         "links.csv)"),
        ("D7/P2/Reseller", "deal", "D7", "links.csv:5: is not a deal in deals.csv"),
    ]
    # D1 1000 with P1 60 % (its partner field too: one link) and P2 40 %
    assert got == [("influenced", "P2", 400), ("influenced", "all", 400),
                   ("partner", "all", 1000), ("sourced", "P1", 600), ("sourced", "all", 600)]
