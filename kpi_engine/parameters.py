"""The parameter tables a compute hands to the KPI steps, built once in Python for every engine.

A :class:`ParameterTable` is a name, typed columns (DuckDB type names) and rows: DuckDB writes
it as a temporary table (:func:`write_duckdb`), Spark as a kept temporary view
(:mod:`kpi_engine.spark_engine`), so both engines read the same values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kpi_engine.store import Store

__all__ = ["ParameterTable", "write_duckdb"]


@dataclass(frozen=True)
class ParameterTable:
    """One parameter table.

    Attributes:
        name: the table the steps read (``kpi_params``).
        columns: (column, DuckDB type) pairs (``VARCHAR``, ``TIMESTAMPTZ``, ``DECIMAL(18, 10)``).
        rows: its rows, one value per column (instants time-zone aware).
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    rows: Sequence[Sequence[Any]] = field(default_factory=list)


def write_duckdb(store: Store, tables: Iterable[ParameterTable]) -> None:
    """Write each table into the store's connection as a temporary table (replaced)."""
    for table in tables:
        columns = ", ".join(f"{c} {t}" for c, t in table.columns)
        store.con.execute(f"CREATE OR REPLACE TEMP TABLE {table.name} ({columns})")
        if table.rows:
            marks = ", ".join("?" for _ in table.columns)
            store.con.executemany(f"INSERT INTO {table.name} VALUES ({marks})",
                                  [list(r) for r in table.rows])
