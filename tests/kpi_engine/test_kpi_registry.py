"""The KPI registry, the family SQL files and docs/kpis.md name the same KPIs; the stored table
and the generated steps follow the registry; a KPI added to it reaches kpi_wide and the views."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kpi_engine import registry, views
from kpi_engine.kpis import steps
from kpi_engine.registry import KPIS, Kpi, wide_columns
from kpi_engine.store import Store
from tests.helpers.maven import ROOT

DOC = (ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")


def test_registry_equals_docs_sections_and_family_files() -> None:
    assert re.findall(r"^### (\w+)$", DOC, flags=re.MULTILINE) == [k.name for k in KPIS]
    by_name = {s.name: s for s in steps()}
    for kpi in KPIS:
        family = by_name[kpi.family]
        assert family.source == f"sql/kpis/{kpi.family}.sql"
        assert kpi.table in family.creates
        assert re.search(rf"\bAS {kpi.name}\b", family.sql), f"{kpi.family}.sql: no {kpi.name}"
        assert re.search(rf"\bAS {kpi.name}_n\b", family.sql), f"{kpi.family}.sql: no {kpi.name}_n"
        section = DOC.split(f"### {kpi.name}\n", 1)[0].rsplit("\n## ", 1)[1]
        assert f"`{kpi.family}.sql`" in section.splitlines()[0]


def test_packaged_definitions_equal_docs() -> None:
    assert (ROOT / "kpi_engine" / "kpis.md").read_text(encoding="utf-8") == DOC


def test_registry_types_by_unit() -> None:
    types = {k.name: k.sql_type for k in KPIS}
    assert types["deals_won"] == "INTEGER"
    assert types["won_amount"] == "DECIMAL(38, 10)"
    assert types["win_rate"] == "DECIMAL(18, 10)"
    assert types["sales_velocity"] == "DECIMAL(38, 10)"


def test_store_kpi_wide_columns_follow_registry(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        cols = store.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'kpi_wide' ORDER BY ordinal_position").fetchall()
    kpi_cols = [(c, t.replace(",", ", ")) for c, t in cols[9:]]
    assert [c for c, _ in cols[:9]] == list(registry.KEY_COLUMNS)
    assert kpi_cols == list(wide_columns().items())


def test_generated_steps_join_every_kpi() -> None:
    by_name = {s.name: s for s in steps()}
    for kpi in KPIS:
        step = by_name["wide"] if kpi.table in by_name["wide"].reads else by_name["result"]
        assert f" AS {kpi.name}," in step.sql or f" AS {kpi.name}\n" in step.sql
        assert kpi.table in step.reads


def test_kpi_added_to_registry_reaches_store_and_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.duckdb"
    Store(path).close()
    extra = Kpi("deals_won_twice", "deal_count", "fam_closed", "deals", 0)
    monkeypatch.setattr(registry, "KPIS", (*KPIS, extra))
    monkeypatch.setattr(views, "KPIS", (*KPIS, extra))
    with Store(path) as store:
        store.con.execute(
            "INSERT INTO kpi_wide (grain, period_start, period_end, dimension, member, as_of, "
            "complete, computed_at, deals_won_twice, deals_won_twice_n) VALUES ('quarter', "
            "DATE '2024-01-01', DATE '2024-04-01', 'partner', 'P1', DATE '2024-04-01', true, "
            "now(), 6, 3)")
        long = store.con.execute("SELECT kpi, value, n FROM kpi_values").fetchall()
        wide = store.con.execute(
            "SELECT partner_id, deals_won_twice, deals_won_twice_n "
            "FROM bi.partner_kpis_quarter").fetchall()
    assert long == [("deals_won_twice", 6, 3)]
    assert wide == [("P1", 6, 3)]
