"""The exports people open: ``kpi_wide`` as a wide CSV or an Excel workbook (``export --format
wide-csv`` / ``--format xlsx``).

One row per grain, period, dimension and member; columns :data:`KEY_COLUMNS` then one column per
KPI, in the order of ``docs/kpis.md``. ``complete`` follows the period rule of
:mod:`kpi_engine.periods` as of today (as the long export's ``period_status``). Values are
rounded by unit (:data:`PLACES`, half away from zero): counts whole, money (the reporting
currency, and per day) 2 places, ratios 0..1 4 places (0.5880, not 58.8), days 1 place, scores 2
places; NULL stays empty (never 0). The long export (``csv``, ``json``, ``parquet``) keeps the
stored 10 places and each value's ``n``.

The workbook (openpyxl) has a sheet ``kpis`` (the rows: dates as Excel dates, ``complete`` as
TRUE/FALSE, numbers as numbers with a display format per unit: money ``#,##0.00``, ratios as
percentages ``0.00%`` of the same 0..1 value, days ``0.0``; the header row frozen and filtered)
and a sheet ``columns`` naming each column's unit and rounding.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import IO, Any

from kpi_engine.errors import EngineError
from kpi_engine.registry import KPIS, Kpi

WIDE_FORMATS = ("wide-csv", "xlsx")
KEY_COLUMNS = ("grain", "period_start", "period_end", "as_of", "complete", "dimension", "member",
               "member_name")
#: Decimal places by KPI unit.
PLACES: dict[str, int] = {
    "deals": 0,
    "reporting currency": 2,
    "reporting currency per day": 2,
    "ratio 0..1": 4,
    "days": 1,
    "score 0..100": 2,
    "score points": 2,
}
#: Excel display formats by unit (the stored number is the rounded value itself).
_EXCEL_FORMATS: dict[str, str] = {
    "deals": "0",
    "reporting currency": "#,##0.00",
    "reporting currency per day": "#,##0.00",
    "ratio 0..1": "0.00%",
    "days": "0.0",
    "score 0..100": "0.00",
    "score points": "0.00",
}
_KEY_MEANINGS = {
    "grain": "month, quarter or year",
    "period_start": "first day of the period",
    "period_end": "the day after the period's last day (exclusive end)",
    "as_of": "the day the period's pipeline was measured",
    "complete": "the period ended and was computed to its end (latest-complete rule)",
    "dimension": "overall, partner, owner, team, unit or channel",
    "member": "the member's id (partner or owner record id, team, unit, channel; all)",
    "member_name": "the member's name",
}


def kpis_for(kpi: str | None) -> list[Kpi]:
    """The KPI columns of a wide export: every KPI, or only ``kpi``."""
    return [k for k in KPIS if kpi is None or k.name == kpi]


def round_value(value: Decimal | int | None, unit: str) -> Decimal | int | None:
    """A KPI value rounded for its unit (:data:`PLACES`; half away from zero).

    Raises:
        EngineError: a unit without a rounding rule (a KPI added without one).
    """
    if value is None:
        return None
    if unit not in PLACES:
        msg = f"no rounding rule for unit {unit!r}: add it to kpi_engine.wide_export.PLACES"
        raise EngineError(msg)
    places = PLACES[unit]
    if places == 0:
        return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def wide_rows(rows: Sequence[Sequence[Any]], kpis: Sequence[Kpi]) -> list[list[Any]]:
    """Rows of :data:`KEY_COLUMNS` then the raw KPI values, with the values rounded by unit."""
    n = len(KEY_COLUMNS)
    return [[*row[:n], *(round_value(v, k.unit) for v, k in zip(row[n:], kpis, strict=True))]
            for row in rows]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "") else text
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_wide_csv(rows: Sequence[Sequence[Any]], kpis: Sequence[Kpi], handle: IO[str]) -> int:
    """Write rounded wide rows as CSV with a header (plain numbers, ISO dates, ``true`` /
    ``false``); returns the number of data rows."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([*KEY_COLUMNS, *(k.name for k in kpis)])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return len(rows)


def write_xlsx(rows: Sequence[Sequence[Any]], kpis: Sequence[Kpi], path: Path) -> int:
    """Write rounded wide rows as an Excel workbook (sheets ``kpis`` and ``columns``).

    Returns:
        The number of data rows.

    Raises:
        EngineError: the file cannot be written.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet("kpis")
    header = [*KEY_COLUMNS, *(k.name for k in kpis)]
    for i, name in enumerate(header, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(12, len(name) + 2)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{len(rows) + 1}"
    bold = Font(bold=True)
    head_cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        head_cells.append(cell)
    sheet.append(head_cells)
    n = len(KEY_COLUMNS)
    formats = [_EXCEL_FORMATS[k.unit] for k in kpis]
    for row in rows:
        cells: list[Any] = []
        for value in row[:n]:
            if isinstance(value, date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd"
                cells.append(cell)
            else:
                cells.append(value)
        for value, fmt in zip(row[n:], formats, strict=True):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = fmt
            cells.append(cell)
        sheet.append(cells)
    about = book.create_sheet("columns")
    about.append(["column", "unit", "rounding"])
    for name in KEY_COLUMNS:
        about.append([name, _KEY_MEANINGS[name], ""])
    for k in kpis:
        places = PLACES[k.unit]
        about.append([k.name, k.unit, "whole number" if places == 0 else f"{places} places"])
    try:
        book.save(path)
    except OSError as exc:
        msg = f"cannot write {path}: {exc.strerror}"
        raise EngineError(msg) from None
    return len(rows)
