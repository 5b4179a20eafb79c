"""The BI views (schema bi) hold the stored KPIs under stable, documented columns; kpi_wide's
complete flag; a store holding the old kpi_values table migrates and recomputes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from kpi_engine.kpis import compute
from kpi_engine.registry import KPIS, change_columns
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from kpi_engine.views import BI_GRAINS, MEMBER_COLUMNS
from tests.helpers.maven import ROOT
from tests.helpers.regression import CHANNELS, GENERATE

DOC = (ROOT / "docs" / "bi-views.md").read_text(encoding="utf-8")
SCHEMA = ROOT / "kpi_engine" / "sql" / "schema"


def _store(path: Path, **kwargs: object) -> Store:
    store = Store(path)
    store.con.execute(GENERATE)
    compute(store, KpiSettings(channels=CHANNELS), **kwargs)  # type: ignore[arg-type]
    return store


def test_bi_views_columns_are_documented(tmp_path: Path) -> None:
    # a KPI's columns are documented by its section of docs/kpis.md (held equal to the registry)
    documented = set(re.findall(r"`(\w+)`", DOC))
    documented |= {c for k in KPIS for c in (k.name, f"{k.name}_n")}
    documented |= set(change_columns())
    with Store(tmp_path / "s.duckdb") as store:
        rows = store.con.execute(
            "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'bi' OR table_name IN ('kpi_wide', 'kpi_values')").fetchall()
        names = {r[0] for r in store.con.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'bi'").fetchall()}
    missing = sorted({f"{t}.{c}" for t, c in rows if c not in documented})
    assert not missing, f"docs/bi-views.md does not list {missing}"
    expected = {f"{d}_kpis_{g}" for d in MEMBER_COLUMNS for g in BI_GRAINS} | {"deals",
                                                                               "kpi_changes"}
    assert names == expected
    for name in names:
        assert f"`bi.{name}`" in DOC


def test_bi_member_view_equals_kpi_values(tmp_path: Path) -> None:
    with _store(tmp_path / "s.duckdb") as store:
        wide = store.con.execute(
            "SELECT period_start, partner_id, partner_name, "
            + ", ".join(f"{k.name}, {k.name}_n" for k in KPIS)
            + " FROM bi.partner_kpis_quarter ORDER BY 1, 2").fetchall()
        long = store.con.execute(
            "SELECT period_start, member, member_name, kpi, value, n FROM kpi_values "
            "WHERE grain = 'quarter' AND dimension = 'partner'").fetchall()
    assert len(long) == len(wide) * len(KPIS)
    cells = {(r[0], r[1], r[3]): (r[2], r[4], r[5]) for r in long}
    for row in wide:
        for i, kpi in enumerate(KPIS):
            value, n = row[3 + 2 * i], row[4 + 2 * i]
            assert cells[(row[0], row[1], kpi.name)] == (row[2], value, n)


def test_bi_deals_amounts_add_up_to_won_amount(tmp_path: Path) -> None:
    with _store(tmp_path / "s.duckdb") as store:
        by_view = dict(store.con.execute(
            "SELECT period_start, sum(amount_reporting) FROM (SELECT CAST(date_trunc('quarter', "
            "close_date) AS DATE) AS period_start, amount_reporting FROM bi.deals "
            "WHERE is_won AND close_date IS NOT NULL) GROUP BY 1").fetchall())
        by_kpi = store.con.execute(
            "SELECT period_start, won_amount FROM bi.overall_kpis_quarter ORDER BY 1").fetchall()
        (names,) = store.con.execute(
            "SELECT count(*) FILTER (WHERE d.partner_name = p.name) = count(p.name) "
            "FROM bi.deals d LEFT JOIN partners p USING (source, partner_id)").fetchall()[0]
    assert by_kpi
    assert all(by_view.get(ps, Decimal(0)) == amount for ps, amount in by_kpi)
    assert names


def test_kpi_wide_complete_flag(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    with _store(tmp_path / "a.duckdb") as store:
        rows = store.con.execute(
            "SELECT DISTINCT period_end, as_of, complete FROM kpi_wide").fetchall()
    assert rows
    assert all(c == (as_of == end and end <= today) for end, as_of, c in rows)
    with _store(tmp_path / "b.duckdb", as_of=date(2023, 5, 17)) as store:
        rows = store.con.execute(
            "SELECT grain, period_start, complete FROM kpi_wide WHERE dimension = 'overall' "
            "AND period_start >= DATE '2023-04-01'").fetchall()
    assert sorted(rows) == [("month", date(2023, 4, 1), True), ("month", date(2023, 5, 1), False),
                            ("quarter", date(2023, 4, 1), False)]


def _old_store(path: Path) -> None:
    # a store as the engine left it before kpi_wide: migrations 001-003, a kpi_values table
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)")
    for name in ("001_canonical_tables.sql", "002_writeback.sql", "003_rejects.sql"):
        con.execute((SCHEMA / name).read_text(encoding="utf-8"))
        con.execute("INSERT INTO _migrations VALUES (?, now())", [name])
    con.execute(
        "INSERT INTO kpi_values VALUES "
        "('quarter', DATE '2024-01-01', DATE '2024-04-01', 'partner', 'P_OLD', 'Acme', 'win_rate', "
        "0.5882352941, 17, DATE '2024-04-01', TIMESTAMPTZ '2024-05-01 00:00:00+00'), "
        "('quarter', DATE '2024-01-01', DATE '2024-04-01', 'partner', 'P_OLD', 'Acme', "
        "'deals_won', 10, 10, DATE '2024-04-01', TIMESTAMPTZ '2024-05-01 00:00:00+00'), "
        "('quarter', DATE '2024-01-01', DATE '2024-04-01', 'overall', 'all', 'All', 'won_amount', "
        "1234.5, 3, DATE '2024-04-01', TIMESTAMPTZ '2024-05-01 00:00:00+00')")
    con.close()


def test_store_with_old_kpi_values_table_migrates(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _old_store(path)
    with Store(path) as store:
        kept = store.con.execute(
            "SELECT dimension, member, member_name, kpi, value, n FROM kpi_values "
            "ORDER BY dimension, kpi").fetchall()
        (complete,) = store.con.execute("SELECT DISTINCT complete FROM kpi_wide").fetchall()[0]
        store.con.execute(GENERATE)
        summary = compute(store, KpiSettings(channels=CHANNELS), ["quarter"])
        (rows,) = store.con.execute(
            "SELECT count(*) FROM kpi_values WHERE grain = 'quarter'").fetchall()[0]
        (old_left,) = store.con.execute(
            "SELECT count(*) FROM kpi_values WHERE member = 'P_OLD'").fetchall()[0]
    assert kept == [
        ("overall", "all", "All", "won_amount", Decimal("1234.5"), 3),
        ("partner", "P_OLD", "Acme", "deals_won", Decimal(10), 10),
        ("partner", "P_OLD", "Acme", "win_rate", Decimal("0.5882352941"), 17),
    ]
    assert complete is True
    assert rows == summary.rows["quarter"] > 0
    assert old_left == 0
