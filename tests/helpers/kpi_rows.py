"""Write made-up KPI values into a store: long rows (as ``kpi_values`` shows them) into
``kpi_wide``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from kpi_engine.registry import KPIS
from kpi_engine.store import Store

Row = tuple[str, date, date, str, str, str | None, str, Decimal | int | float | str | None, int]


def insert_long_rows(store: Store, rows: Sequence[Row], computed_at: datetime | None = None,
                     as_of: Sequence[date] | None = None) -> None:
    """Insert (grain, period_start, period_end, dimension, member, member_name, kpi, value, n)
    rows: one ``kpi_wide`` row per (grain, period_start, dimension, member), its other KPIs
    absent (n NULL). ``as_of`` defaults to each row's period_end."""
    con = store.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _long (grain VARCHAR, period_start DATE, period_end DATE, "
        "dimension VARCHAR, member VARCHAR, member_name VARCHAR, kpi VARCHAR, "
        "value DECIMAL(38, 10), n BIGINT, as_of DATE)")
    con.executemany("INSERT INTO _long VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[*r, (as_of[i] if as_of else r[2])] for i, r in enumerate(rows)])
    pivot = ", ".join(
        f"max(value) FILTER (WHERE kpi = '{k.name}') AS {k.name}, "
        f"max(n) FILTER (WHERE kpi = '{k.name}') AS {k.name}_n" for k in KPIS)
    con.execute(
        "INSERT INTO kpi_wide BY NAME SELECT grain, period_start, any_value(period_end) AS "
        "period_end, dimension, member, any_value(member_name) AS member_name, any_value(as_of) "
        "AS as_of, any_value(as_of) = any_value(period_end) AS complete, ? AS computed_at, "
        f"{pivot} FROM _long GROUP BY grain, period_start, dimension, member",
        [computed_at or datetime.now(UTC)])
    con.execute("DROP TABLE _long")
