"""The DuckDB store: migrations, change-only upserts, atomic page + watermark commits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine.errors import StoreError
from kpi_engine.store import Store, mark_missing_deleted


def _deal(deal_id: str, **extra: object) -> dict:
    return {"source": "csv", "deal_id": deal_id, "is_closed": False, "is_won": False, **extra}


def test_store_migrations_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        names = [r[0] for r in store.con.execute("SELECT name FROM _migrations").fetchall()]
    assert names == ["001_canonical_tables.sql", "002_writeback.sql", "003_rejects.sql",
                     "004_kpi_wide.sql", "005_kpi_settings.sql", "006_sync_run_holder.sql",
                     "007_stage_history_order.sql", "008_calendar.sql",
                     "009_deal_partners.sql", "011_deal_history.sql", "013_targets_tiers.sql",
                     "014_source_notes_and_counts.sql"]
    with Store(path) as store:
        assert store.migrate() == []


def test_store_column_types_are_exact(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        cols = store.table_info("deals").columns
    assert cols["amount"] == "DECIMAL(38,6)"
    assert cols["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert cols["close_date"] == "DATE"


def test_store_upsert_counts_inserted_updated_unchanged(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        first = store.upsert("deals", [_deal("a", amount=Decimal("1.5")), _deal("b")])
        again = store.upsert("deals", [_deal("a", amount=Decimal("1.5")), _deal("b")])
        changed = store.upsert("deals", [_deal("a", amount=Decimal("2")), _deal("c")])
        amounts = store.con.execute("SELECT deal_id, amount FROM deals ORDER BY 1").fetchall()
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert (changed.inserted, changed.updated, changed.unchanged) == (1, 1, 0)
    assert amounts == [("a", Decimal("2")), ("b", None), ("c", None)]


def test_store_upsert_keeps_columns_not_given(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert("deals", [_deal("a", name="Deal A", amount=Decimal("10"))])
        store.upsert("deals", [_deal("a", amount=Decimal("11"))])
        row = store.con.execute("SELECT name, amount FROM deals").fetchall()
    assert row == [("Deal A", Decimal("11"))]


def test_store_upsert_last_row_of_a_key_wins(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        stats = store.upsert("deals", [_deal("a", amount=Decimal(1)), _deal("a", amount=Decimal(2))])
        rows = store.con.execute("SELECT amount FROM deals").fetchall()
    assert (stats.inserted, rows) == (1, [(Decimal(2),)])


def test_store_timestamps_are_utc_instants(tmp_path: Path) -> None:
    local = datetime.fromisoformat("2024-03-31T23:30:00-05:00")
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert("deals", [_deal("a", created_at=local)])
        (day,) = store.con.execute("SELECT CAST(created_at AS DATE) FROM deals").fetchall()[0]
        (stored,) = store.con.execute("SELECT created_at FROM deals").fetchall()[0]
    assert day == date(2024, 4, 1)
    assert stored == datetime(2024, 4, 1, 4, 30, tzinfo=UTC)


def test_store_rejects_unknown_column_and_bad_type(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(StoreError, match="unknown column"):
            store.upsert("deals", [_deal("a", colour="red")])
        with pytest.raises(StoreError, match="does not fit"):
            store.upsert("deals", [_deal("a", amount="lots")])
        assert store.con.execute("SELECT count(*) FROM deals").fetchall() == [(0,)]


def test_store_commit_page_is_atomic(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.commit_page("csv", "deals", {"deals": [_deal("a")]}, "w1")
        with pytest.raises(StoreError):
            store.commit_page(
                "csv", "deals",
                {"deals": [_deal("b")], "owners": [{"source": "csv", "owner_id": "o", "bad": 1}]},
                "w2",
            )
        ids = store.con.execute("SELECT deal_id FROM deals").fetchall()
        watermark = store.watermarks("csv").get("deals")
    assert ids == [("a",)]
    assert watermark == "w1"


def test_store_mark_deleted_and_missing(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert("deals", [_deal("a"), _deal("b"), _deal("c")])
        assert store.mark_deleted("deals", "csv", ["a"]) == 1
        assert store.mark_deleted("deals", "csv", ["a"]) == 0
        assert mark_missing_deleted(store, "deals", "csv", ["a", "b"]) == 1
        flags = store.con.execute("SELECT deal_id, is_deleted FROM deals ORDER BY 1").fetchall()
    assert flags == [("a", True), ("b", False), ("c", True)]
