"""The store's canonical tables out as Parquet (for Spark), and Spark's KPI rows back in.

Layout written by :func:`export_canonical` (``partnerkpi export-canonical --to DIR``), one folder
per table a compute reads (:data:`EXPORTED_TABLES`: the canonical tables
``kpi_engine.store.CANONICAL_TABLES``, the deals' history ``HISTORY_TABLES`` and
``source_calendar``), read by Spark as one table each::

    DIR/deals/data.parquet            one store
    DIR/deals/<tenant>.parquet        one file per tenant (--tenant), a first column ``tenant``

Columns and types are the store's (DECIMAL amounts, TIMESTAMP instants adjusted to UTC, DATE
close dates); deleted rows are kept, flagged, as in the store. Each file is written to a
temporary name and renamed, so a reader never sees half a file.

:func:`load_wide` puts the wide KPI rows of a Spark compute (Parquet, ``kpi_wide``'s columns)
into the store's ``kpi_wide`` as a DuckDB compute would, so ``export``, ``push`` and
``report`` read them unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from kpi_engine.errors import ComputeError
from kpi_engine.kpis import ComputeSummary, record_run, store_grain_rows
from kpi_engine.settings import KpiSettings
from kpi_engine.store import CANONICAL_TABLES, HISTORY_TABLES, Store

__all__ = ["CALENDAR", "EXPORTED_TABLES", "TENANT_PATTERN", "export_canonical", "load_wide"]

#: The sources' calendar time zones: read to choose the reporting time zone.
CALENDAR = "source_calendar"
#: Every table :func:`export_canonical` writes: what a compute reads from the store.
EXPORTED_TABLES = (*CANONICAL_TABLES, *HISTORY_TABLES, CALENDAR)

#: A tenant's name: it names files and is compared as text.
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SINGLE = "data"


def _path_literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_canonical(store: Store, directory: str | Path,
                     tenant: str | None = None) -> dict[str, int]:
    """Write every table of :data:`EXPORTED_TABLES` as Parquet under ``directory``.

    Args:
        store: an open store.
        directory: the folder (made when missing); ``<table>/data.parquet`` is replaced, or
            ``<table>/<tenant>.parquet`` with a ``tenant`` column.
        tenant: the tenant's name (letters, digits, ``_ . -``), for a multi-tenant folder.

    Returns:
        Rows written, by table.

    Raises:
        ComputeError: a bad tenant name, or a folder that already holds the other layout
            (a single store's files beside tenants' files).
    """
    if tenant is not None and not re.match(TENANT_PATTERN, tenant):
        msg = f"--tenant {tenant!r}: use letters, digits, '_', '.', '-' (up to 64)"
        raise ComputeError(msg)
    root = Path(directory)
    name = tenant or SINGLE
    counts: dict[str, int] = {}
    for table in EXPORTED_TABLES:
        folder = root / table
        folder.mkdir(parents=True, exist_ok=True)
        others = [p.name for p in folder.glob("*.parquet")
                  if (p.stem == SINGLE) != (tenant is None)]
        if others:
            layout = "tenants'" if tenant is None else "a single store's"
            msg = (f"{folder} holds {layout} files ({others[0]}): export a store with and "
                   "without --tenant into different folders")
            raise ComputeError(msg)
        target = folder / f"{name}.parquet"
        partial = folder / f".{name}.parquet.partial"
        select = f"SELECT ? AS tenant, * FROM {table}" if tenant else f"SELECT * FROM {table}"
        params = [tenant] if tenant else []
        store.con.execute(f"COPY ({select}) TO {_path_literal(partial)} (FORMAT parquet)", params)
        partial.replace(target)
        counts[table] = int(store.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
    return counts


def load_wide(store: Store, settings: KpiSettings, wide: str | Path, grains: Sequence[str],
              summary: ComputeSummary, *, tenant: str | None = None,
              date_from: date | None = None, date_to: date | None = None) -> ComputeSummary:
    """Replace the grains' rows of the store's ``kpi_wide`` by a Spark compute's rows.

    The rows replace those of the same periods (all periods without ``date_from`` /
    ``date_to``) in one transaction, and the run is recorded in ``kpi_runs`` and
    ``kpi_settings`` as a DuckDB compute records it.

    Args:
        store: an open, writable store.
        settings: the settings the rows were computed with.
        wide: the Parquet file or folder of the rows (``kpi_wide``'s columns, ``tenant``
            first when ``tenant`` is given).
        grains: the grains computed.
        summary: the Spark compute's summary (its warnings are recorded).
        tenant: only this tenant's rows.
        date_from: the compute's ``--from``.
        date_to: the compute's ``--to``.

    Returns:
        ``summary`` with its rows counted in the store.

    Raises:
        ComputeError: ``tenant`` given and absent from the rows (or no ``tenant`` column).
    """
    path = Path(wide)
    source = path / "*.parquet" if path.is_dir() else path
    con = store.con
    with store.transaction():
        con.execute(f"CREATE OR REPLACE TEMP TABLE spark_wide AS SELECT * FROM "
                    f"read_parquet({_path_literal(source)})")
        columns = [r[0] for r in con.execute("DESCRIBE spark_wide").fetchall()]
        if tenant is not None:
            if "tenant" not in columns:
                msg = f"{wide}: no tenant column; load it without a tenant"
                raise ComputeError(msg)
            con.execute("DELETE FROM spark_wide WHERE tenant IS DISTINCT FROM ?", [tenant])
            (n,) = con.execute("SELECT count(*) FROM spark_wide").fetchone()  # type: ignore[misc]
            if not n:
                msg = f"{wide}: no rows of tenant {tenant!r}"
                raise ComputeError(msg)
        computed_at = con.execute("SELECT max(computed_at) FROM spark_wide").fetchone()[0]  # type: ignore[index]
        drop = ", ".join(c for c in ("tenant", "grain", "computed_at") if c in columns)
        for grain in grains:
            con.execute(f"CREATE OR REPLACE TEMP TABLE spark_grain AS SELECT * EXCLUDE ({drop}) "
                        "FROM spark_wide WHERE grain = ?", [grain])
            store_grain_rows(store, settings, grain, "spark_grain", (date_from, date_to),
                             computed_at)
        record_run(store, settings, grains, summary, computed_at)
        con.execute("DROP TABLE spark_grain")
        con.execute("DROP TABLE spark_wide")
    return summary
