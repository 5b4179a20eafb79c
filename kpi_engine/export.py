"""Export ``kpi_values`` as CSV, JSON or Parquet (the long form); ``wide-csv`` and ``xlsx``
are ``kpi_wide`` for people (:mod:`kpi_engine.wide_export`: one row per period and member,
values rounded by unit).

Columns, in order: ``grain, period_start, dimension, member, member_name, kpi, value, n,
period_status``. Dates are ISO (``2017-04-01``); values are plain numbers (no thousands
separators, no exponent, no trailing zeros); NULL is an empty CSV cell, JSON ``null`` and a
Parquet null. ``n`` is the number of deals (or leads) the value rests on. ``period_status`` is
``complete`` or ``to date`` (the period in progress, or one cut by ``--as-of``), by the period
rule of :mod:`kpi_engine.periods`.

Which periods: every complete one by default (the CLI's ``--period complete``); ``latest`` (the
latest complete period of each grain), ``current`` (the period in progress, to date), a date
(the period holding it) or ``all``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, cast

import duckdb

from kpi_engine.errors import EngineError
from kpi_engine.periods import COMPLETE_SQL, choose_period, reporting_today
from kpi_engine.registry import Kpi
from kpi_engine.store import Store
from kpi_engine.waterfall import GROUP, WATERFALL_KPIS
from kpi_engine.wide_export import (
    KEY_COLUMNS,
    WIDE_FORMATS,
    kpis_for,
    wide_rows,
    write_wide_csv,
    write_xlsx,
)

COLUMNS = ("grain", "period_start", "dimension", "member", "member_name", "kpi", "value", "n",
           "period_status")
#: The columns ``change=True`` adds (period over period, the view ``kpi_value_changes``).
CHANGE_COLUMNS = ("previous", "change", "change_ratio", "year_ago", "yoy_change", "yoy_ratio")
FORMATS = ("csv", "json", "parquet", *WIDE_FORMATS)
#: The ``period`` choices besides those of :func:`kpi_engine.periods.choose_period`.
ALL, COMPLETE = "all", "complete"
_GRAINS = ("month", "quarter", "year")


def _where(
    store: Store, grain: str | None, dimension: str | None, kpi: str | None,
    period: str | date, today: date,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if kpi == GROUP:  # the waterfall's KPIs together
        clauses.append("kpi IN (" + ", ".join("?" for _ in WATERFALL_KPIS) + ")")
        params += list(WATERFALL_KPIS)
        kpi = None
    for column, value in (("grain", grain), ("dimension", dimension), ("kpi", kpi)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if period == COMPLETE:
        clauses.append(COMPLETE_SQL)
        params.append(today)
    elif period != ALL:
        grains = [grain] if grain else _GRAINS
        chosen = [choose_period(store, g, period, today=today) for g in grains]
        pairs = [(p.grain, p.start) for p in chosen if p is not None] or [("", date.min)]
        clauses.append("(" + " OR ".join("(grain = ? AND period_start = ?)" for _ in pairs) + ")")
        params += [v for pair in pairs for v in pair]
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


_ORDER = (
    "ORDER BY CASE grain WHEN 'month' THEN 1 WHEN 'quarter' THEN 2 ELSE 3 END, period_start, "
    "CASE dimension WHEN 'overall' THEN 0 WHEN 'partner' THEN 1 WHEN 'owner' THEN 2 "
    "WHEN 'team' THEN 3 WHEN 'unit' THEN 4 ELSE 5 END, member"
)


def _query(
    store: Store, grain: str | None, dimension: str | None, kpi: str | None,
    period: str | date, today: date, change: bool = False,
) -> tuple[str, list[Any]]:
    where, params = _where(store, grain, dimension, kpi, period, today)
    order = _ORDER + ", kpi"
    status = f"CASE WHEN {COMPLETE_SQL} THEN 'complete' ELSE 'to date' END AS period_status"
    table, extra = ("kpi_value_changes", ", " + ", ".join(CHANGE_COLUMNS)) if change else (
        "kpi_values", "")
    return (f"SELECT {', '.join(COLUMNS[:-1])}, {status}{extra} FROM {table}{where} {order}",
            [today, *params])


def fetch(
    store: Store, *, grain: str | None = None, dimension: str | None = None,
    kpi: str | None = None, period: str | date = ALL, today: date | None = None,
    change: bool = False,
) -> list[tuple[Any, ...]]:
    """The ``kpi_values`` rows selected, as tuples in :data:`COLUMNS` order (then
    :data:`CHANGE_COLUMNS` with ``change``; ``period`` and ``today`` as for :func:`export`)."""
    sql, params = _query(store, grain, dimension, kpi, period, today or reporting_today(),
                         change)
    return store.con.execute(sql, params).fetchall()


def fetch_wide(
    store: Store, *, grain: str | None = None, dimension: str | None = None,
    kpi: str | None = None, period: str | date = ALL, today: date | None = None,
) -> tuple[list[Kpi], list[list[Any]]]:
    """The ``kpi_wide`` rows selected (``period`` and ``today`` as for :func:`export`), as
    :data:`kpi_engine.wide_export.KEY_COLUMNS` then the KPI values rounded by unit.

    Returns:
        The KPI columns (every KPI, or only ``kpi``) and the rows.
    """
    day = today or reporting_today()
    kpis = kpis_for(kpi)
    where, params = _where(store, grain, dimension, None, period, day)
    keys = ", ".join(f"{COMPLETE_SQL} AS complete" if c == "complete" else c for c in KEY_COLUMNS)
    values = ", ".join(k.name for k in kpis)
    sql = f"SELECT {keys}, {values} FROM kpi_wide{where} {_ORDER}"
    return kpis, wide_rows(store.con.execute(sql, [day, *params]).fetchall(), kpis)


def plain_number(value: Decimal | int | None) -> str:
    """A number as plain text: ``Decimal('3086111.0000000000')`` -> ``"3086111"``.

    ``None`` gives ``""``.
    """
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _cells(row: Sequence[Any]) -> list[str]:
    return [
        plain_number(v)
        if isinstance(v, Decimal | int)
        else v.isoformat()
        if isinstance(v, date)
        else ""
        if v is None
        else str(v)
        for v in row
    ]


def write_csv(rows: Iterable[Sequence[Any]], handle: IO[str],
              columns: Sequence[str] = COLUMNS) -> int:
    """Write rows as CSV with a header; returns the number of data rows."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow(_cells(row))
        count += 1
    return count


def write_json(rows: Iterable[Sequence[Any]], handle: IO[str],
               columns: Sequence[str] = COLUMNS) -> int:
    """Write rows as a JSON list of objects (numbers as exact JSON numbers); returns the count."""
    handle.write("[")
    count = 0
    for row in rows:
        parts = []
        for name, value in zip(columns, row, strict=True):
            if isinstance(value, Decimal | int) and not isinstance(value, bool):
                text = plain_number(value)
            elif isinstance(value, date):
                text = json.dumps(value.isoformat())
            else:
                text = json.dumps(value, ensure_ascii=False)
            parts.append(f"{json.dumps(name)}: {text}")
        handle.write(("," if count else "") + "\n  {" + ", ".join(parts) + "}")
        count += 1
    handle.write("\n]\n" if count else "]\n")
    return count


def export(
    store: Store,
    fmt: str,
    output: str | Path | IO[str],
    *,
    grain: str | None = None,
    dimension: str | None = None,
    kpi: str | None = None,
    period: str | date = ALL,
    today: date | None = None,
    change: bool = False,
) -> int:
    """Export the selected KPI rows.

    Args:
        store: the store.
        fmt: ``csv``, ``json`` or ``parquet``.
        output: a path, or an open text stream (not for parquet).
        grain: only this grain (default: all).
        dimension: only this dimension (default: all).
        kpi: only this KPI (default: all); ``pipeline_waterfall``: the waterfall's KPIs.
        period: ``all`` (every row), ``complete`` (every complete period), ``latest`` (the
            latest complete period of each grain), ``current`` (the period in progress) or a
            date (the period holding it).
        today: the date in the reporting time zone (default: today in UTC).
        change: add :data:`CHANGE_COLUMNS`: each value's change against the previous period
            and the same period a year earlier (docs/kpis.md, "Period over period").

    Returns:
        The number of rows written.

    Raises:
        EngineError: an unknown format, parquet asked for a stream, or the file cannot be
            written (missing folder, a directory, no permission).
    """
    if fmt not in FORMATS:
        msg = f"unknown format {fmt!r}: use {', '.join(FORMATS)}"
        raise EngineError(msg)
    if fmt in WIDE_FORMATS:
        return _export_wide(store, fmt, output, grain=grain, dimension=dimension, kpi=kpi,
                            period=period, today=today)
    if fmt == "parquet":
        if not isinstance(output, str | Path):
            msg = "parquet needs a file: pass --output PATH"
            raise EngineError(msg)
        sql, params = _query(store, grain, dimension, kpi, period, today or reporting_today(),
                             change)
        (count,) = store.con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0]
        try:
            store.con.execute(
                f"COPY ({sql}) TO '{str(output).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)",
                params,
            )
        except duckdb.IOException as exc:
            msg = f"cannot write {output}: {str(exc).splitlines()[0]}"
            raise EngineError(msg) from None
        return int(count)
    rows = fetch(store, grain=grain, dimension=dimension, kpi=kpi, period=period, today=today,
                 change=change)
    columns = (*COLUMNS, *CHANGE_COLUMNS) if change else COLUMNS
    return write_rows(fmt, rows, output, columns)


def write_rows(fmt: str, rows: Iterable[Sequence[Any]], output: str | Path | IO[str],
               columns: Sequence[str]) -> int:
    """Write rows as CSV or JSON to a path or an open stream; returns the count.

    Raises:
        EngineError: the file cannot be written.
    """
    writer = write_csv if fmt == "csv" else write_json
    if isinstance(output, str | Path):
        try:
            with Path(output).open("w", encoding="utf-8", newline="") as handle:
                return writer(rows, handle, columns)
        except OSError as exc:
            msg = f"cannot write {output}: {exc.strerror}"
            raise EngineError(msg) from None
    return writer(rows, output, columns)


def _export_wide(
    store: Store, fmt: str, output: str | Path | IO[str], *, grain: str | None,
    dimension: str | None, kpi: str | None, period: str | date, today: date | None,
) -> int:
    if fmt == "xlsx" and not isinstance(output, str | Path):
        msg = "xlsx needs a file: pass --output PATH"
        raise EngineError(msg)
    kpis, rows = fetch_wide(store, grain=grain, dimension=dimension, kpi=kpi, period=period,
                            today=today)
    if fmt == "xlsx":
        return write_xlsx(rows, kpis, Path(cast(str | Path, output)))
    if isinstance(output, str | Path):
        try:
            with Path(output).open("w", encoding="utf-8", newline="") as handle:
                return write_wide_csv(rows, kpis, handle)
        except OSError as exc:
            msg = f"cannot write {output}: {exc.strerror}"
            raise EngineError(msg) from None
    return write_wide_csv(rows, kpis, output)
