"""Partner hygiene (kpi_engine/hygiene.py) on a hand-worked set, and ``status`` printing it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from kpi_engine.hygiene import hygiene_lines, partner_hygiene
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store


def _deal(deal_id: str, amount: int, partner: str | None, owner: str, close: str) -> dict:
    return {"source": "csv", "deal_id": deal_id, "name": f"Deal {deal_id}", "partner_id": partner,
            "owner_id": owner, "is_closed": True, "is_won": True, "amount": Decimal(amount),
            "currency": "USD", "created_at": datetime(2025, 1, 1, tzinfo=UTC),
            "close_date": date.fromisoformat(close)}


def test_partner_hygiene_figures(tmp_path: Path) -> None:
    with Store(tmp_path / "h.duckdb") as store:
        store.upsert("partners", [{"source": "csv", "partner_id": f"P{i}", "name": f"Partner {i}"}
                                  for i in range(1, 7)])
        store.upsert("owners", [{"source": "csv", "owner_id": "U1", "name": "Rep One"},
                                {"source": "csv", "owner_id": "U2", "name": "Rep Two"}])
        # P1..P6 sourced 600, 500, ..., 100 (2,100); the top 5 hold 2,000
        store.upsert("deals", [_deal(f"D{i}", 700 - 100 * i, f"P{i}", "U1", "2025-01-31")
                               for i in range(1, 7)])
        # won without any partner: D10, D11 (Rep One), D12 (Rep Two); D13 has an influencer
        store.upsert("deals", [_deal("D10", 100, None, "U1", "2025-01-10"),
                               _deal("D11", 50, None, "U1", "2025-01-11"),
                               _deal("D12", 70, None, "U2", "2025-01-12"),
                               _deal("D13", 90, None, "U2", "2025-01-13")])
        store.upsert("deal_partners", [{"source": "csv", "link_id": "D13/P2/Influencer",
                                        "deal_id": "D13", "partner_id": "P2",
                                        "role": "Influencer", "origin": "csv"}])
        # D1 closed 2025-01-31: its partner changed on 2025-01-20 (before) and 2025-02-05 (after)
        store.upsert("partner_changes", [
            {"source": "csv", "deal_id": "D1", "field": "partner_id", "old_partner_id": "P9",
             "new_partner_id": "P1", "changed_at": datetime(2025, 1, 20, tzinfo=UTC)},
            {"source": "csv", "deal_id": "D1", "field": "partner_id", "old_partner_id": "P1",
             "new_partner_id": "P2", "changed_at": datetime(2025, 2, 5, 9, tzinfo=UTC)}])
        compute(store, KpiSettings(), ["month"], today=date(2025, 3, 1))
        h = partner_hygiene(store)
    assert (h.won_without_partner, h.won_without_partner_amount) == (3, 220)
    assert h.top_owners == [("Rep One", 2, 150), ("Rep Two", 1, 70)]
    assert h.sourced_amount == 2100
    assert h.top5_share == Decimal("0.9523809524")  # 2000 / 2100
    assert [p for p, _ in h.top_partners] == [f"Partner {i}" for i in range(1, 6)]
    assert h.changed_after_close == [
        ("csv", "D1", "Deal D1", date(2025, 1, 31), "P1", "P2",
         datetime(2025, 2, 5, 9, tzinfo=UTC))]
    assert hygiene_lines(h) == [
        "won deals without a partner: 3 (220.00 USD)",
        "  most by owner: Rep One 2 (150.00), Rep Two 1 (70.00)",
        "partner-sourced won revenue held by the top 5 partners: 95.2% of 2,100.00 USD",
        "deals whose partner changed after close: 1",
        "  csv D1 (Deal D1): closed 2025-01-31, partner P1 -> P2 on 2025-02-05",
    ]
