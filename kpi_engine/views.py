"""The views of the store: ``kpi_values`` (the long form of ``kpi_wide``) and the BI views.

Run by :meth:`kpi_engine.store.Store.migrate` after the numbered migrations: ``kpi_wide`` gets a
column for every KPI of the registry it lacks (a KPI added since the store was made), then each
view whose definition differs from the generated one is created again. Nothing is written when
everything is current.

The BI views live in schema ``bi`` (``bi.partner_kpis_quarter``, ``bi.deals``, ...), named for
the people who read them; ``docs/bi-views.md`` lists every column (a test holds the two equal).
Their columns are never renamed without a migration; a new KPI adds its two columns.
"""

from __future__ import annotations

from importlib import resources

import duckdb

from kpi_engine.registry import (
    KPIS,
    change_view_sql,
    kpi_values_view_sql,
    value_changes_view_sql,
    wide_columns,
)

#: The dimensions with a BI view per grain, and the columns naming their member.
MEMBER_COLUMNS: dict[str, str] = {
    "overall": "",
    "partner": "member AS partner_id, member_name AS partner_name, ",
    "owner": "member AS owner_id, member_name AS owner_name, ",
    "team": "member AS team, ",
    "unit": "member AS unit, ",
    "channel": "member AS channel, ",
}
BI_GRAINS = ("month", "quarter", "year")
BI_SCHEMA = "bi"


def _kpi_columns() -> str:
    return ", ".join(f"{k.name}, {k.name}_n" for k in KPIS)


def view_definitions() -> dict[str, str]:
    """Every view's CREATE statement, by qualified name (``kpi_values``, ``bi.deals``, ...)."""
    views = {"kpi_values": kpi_values_view_sql()}
    template = (resources.files("kpi_engine") / "sql" / "views" / "member_kpis.sql").read_text(
        encoding="utf-8"
    )
    body = template[template.index("CREATE OR REPLACE VIEW") :]
    for dimension, member_columns in MEMBER_COLUMNS.items():
        for grain in BI_GRAINS:
            name = f"{BI_SCHEMA}.{dimension}_kpis_{grain}"
            views[name] = body.format(
                name=name, grain=grain, dimension=dimension, member_columns=member_columns,
                kpi_columns=_kpi_columns(),
            )
    deals = (resources.files("kpi_engine") / "sql" / "views" / "deals.sql").read_text("utf-8")
    views[f"{BI_SCHEMA}.deals"] = deals[deals.index("CREATE OR REPLACE VIEW") :]
    # period over period: every KPI against the previous period and a year earlier
    views[f"{BI_SCHEMA}.kpi_changes"] = change_view_sql()
    views["kpi_value_changes"] = value_changes_view_sql()
    return views


def sync(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Add the registry's missing ``kpi_wide`` columns; create the views that differ.

    Returns:
        The names of the columns added and the views created.
    """
    changed = []
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = 'kpi_wide'"
        ).fetchall()
    }
    for column, sql_type in wide_columns().items():
        if column not in have:
            con.execute(f"ALTER TABLE kpi_wide ADD COLUMN {column} {sql_type}")
            changed.append(f"kpi_wide.{column}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {BI_SCHEMA}")
    stored = {
        (f"{schema}.{name}" if schema != "main" else name): sql
        for schema, name, sql in con.execute(
            "SELECT schema_name, view_name, sql FROM duckdb_views() "
            "WHERE NOT internal AND NOT temporary"
        ).fetchall()
    }
    for name, sql in view_definitions().items():
        if name not in stored or _normal(stored[name]) != _normal(sql) or changed:
            con.execute(sql)
            changed.append(name)
    return changed


def _normal(sql: str) -> str:
    text = sql.replace("CREATE OR REPLACE VIEW", "CREATE VIEW")
    return " ".join(text.split()).rstrip(";").lower()
