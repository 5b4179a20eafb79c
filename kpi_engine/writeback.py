"""The write-back plan and its bookkeeping: which partner KPI values go into which CRM fields,
what each field held when we last wrote it, and the ``push_log`` / ``push_state`` records.

The plan is ``sql/writeback/plan.sql`` (partners of one source x configured fields, joined to
``kpi_values`` of one period and to ``push_state``); this module converts each KPI value to the
target field's type (:class:`Target`) and decides per cell: ``write`` (changed, or never written),
``unchanged`` (equal to the value last written) or ``keep`` (no KPI value and ``clear_on_null``
off: the field is left alone). Nothing here talks to a CRM: ``connectors/writeback.py`` sends the
``write`` cells and reports each record's result back through :func:`record_results`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources

import pyarrow as pa

from kpi_engine.kpis import KPIS
from kpi_engine.partner_status import STATUS_FIELDS
from kpi_engine.store import Store

#: KPIs measured as a ratio 0..1: written x100 into percent fields.
RATIO_KPIS = frozenset([*(k.name for k in KPIS if k.unit.startswith("ratio")),
                        *(n for n, unit in STATUS_FIELDS.items() if unit.startswith("ratio"))])


@dataclass(frozen=True)
class Target:
    """One configured KPI -> field, with the field's type as the CRM describes it.

    Attributes:
        kpi: the KPI name (``win_rate``).
        field: the CRM field / property name (``Partner_Win_Rate__c``).
        percent: the field is a percent field (values 0..100): ratio KPIs are multiplied by 100.
        scale: decimal places the field keeps (values are rounded half up to it); ``None``: as
            computed (``kpi_values`` keeps 10 places).
    """

    kpi: str
    field: str
    percent: bool = False
    scale: int | None = None

    def convert(self, value: Decimal | None) -> Decimal | None:
        """A KPI value as the field will hold it (``None`` stays ``None``)."""
        if value is None:
            return None
        if self.percent and self.kpi in RATIO_KPIS:
            value = value * 100
        if self.scale is not None:
            value = value.quantize(Decimal(1).scaleb(-self.scale), rounding=ROUND_HALF_UP)
        return value


@dataclass
class PlanCell:
    """One (record, field) of the plan.

    Attributes:
        record_id: the CRM record id (``partners.partner_id``).
        name: the partner's name.
        field / kpi: the target field and the KPI written into it.
        kpi_value: the KPI in the period (``None``: no value).
        old: the value last written (``None``: cleared, or never written: see ``was_pushed``).
        new: ``kpi_value`` converted to the field's type.
        was_pushed: a value was written before (``old`` is known).
        action: ``write``, ``unchanged`` or ``keep``.
    """

    record_id: str
    name: str | None
    field: str
    kpi: str
    kpi_value: Decimal | None
    old: Decimal | None
    new: Decimal | None
    was_pushed: bool
    action: str


@dataclass
class CellResult:
    """What the CRM said about one record of a batch (all its cells share it).

    Attributes:
        ok: written.
        error_code: the CRM's code (``FIELD_CUSTOM_VALIDATION_EXCEPTION``, ``VALIDATION_ERROR``).
        message: the CRM's message.
    """

    ok: bool
    error_code: str | None = None
    message: str | None = None


def _sql(name: str) -> str:
    return (resources.files("kpi_engine") / "sql" / "writeback" / name).read_text(encoding="utf-8")


def plan(
    store: Store,
    source: str,
    crm_object: str,
    targets: Sequence[Target],
    grain: str,
    period_start: date | None,
    *,
    clear_on_null: bool = False,
) -> list[PlanCell]:
    """The plan for every live partner of ``source`` and every target field.

    Args:
        store: the store.
        source: ``salesforce`` or ``hubspot`` (only partners synced from it are planned).
        crm_object: ``Account`` / ``companies`` (``push_state`` is kept per object).
        targets: the fields, converted per their describe.
        grain: the period's grain.
        period_start: the period (``None``: no KPI values; every cell has none).
        clear_on_null: a missing KPI value clears the field (else the field is kept).

    Returns:
        Cells ordered by record id, then the configured field order.
    """
    con = store.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE wb_targets (position INTEGER, kpi VARCHAR, field VARCHAR)"
    )
    if targets:
        con.executemany(
            "INSERT INTO wb_targets VALUES (?, ?, ?)",
            [[i, t.kpi, t.field] for i, t in enumerate(targets)],
        )
    rows = con.execute(
        _sql("plan.sql"),
        {"source": source, "object": crm_object, "grain": grain, "period_start": period_start},
    ).fetchall()
    by_field = {t.field: t for t in targets}
    cells = []
    for record_id, name, field, kpi, kpi_value, old, was_pushed in rows:
        new = by_field[field].convert(kpi_value)
        if new is None and not clear_on_null:
            action = "keep"
        elif was_pushed and old == new:
            action = "unchanged"
        else:
            action = "write"
        cells.append(PlanCell(record_id, name, field, kpi, kpi_value, old, new, was_pushed, action))
    return cells


def start_push_run(
    store: Store, source: str, crm_object: str, grain: str, period_start: date | None
) -> int:
    """Record the start of a push; returns its run id."""
    (run_id,) = store.con.execute(
        "INSERT INTO push_runs (source, object, grain, period_start, started_at, status) "
        "VALUES (?, ?, ?, ?, ?, 'running') RETURNING run_id",
        [source, crm_object, grain, period_start, datetime.now(UTC)],
    ).fetchall()[0]
    return int(run_id)


def record_results(
    store: Store,
    run_id: int,
    source: str,
    crm_object: str,
    results: Iterable[tuple[PlanCell, CellResult]],
) -> None:
    """Log one batch's results in one transaction: every cell in ``push_log``; written cells
    also become the field's ``push_state`` (failed ones keep theirs, so they are sent again)."""
    now = datetime.now(UTC)
    log_rows, state_rows = [], []
    for cell, result in results:
        log_rows.append({
            "run_id": run_id, "source": source, "object": crm_object,
            "record_id": cell.record_id, "field": cell.field, "kpi": cell.kpi,
            "old_value": cell.old, "new_value": cell.new, "pushed_at": now,
            "status": "written" if result.ok else "failed",
            "error_code": result.error_code, "message": result.message,
        })
        if result.ok:
            state_rows.append({"source": source, "object": crm_object,
                               "record_id": cell.record_id, "field": cell.field,
                               "value": cell.new, "pushed_at": now, "run_id": run_id})
    with store.transaction():
        _insert(store, "push_log", log_rows)
        _insert(store, "push_state", state_rows,
                "ON CONFLICT (source, object, record_id, field) DO UPDATE SET "
                "value = excluded.value, pushed_at = excluded.pushed_at, run_id = excluded.run_id")


def _insert(store: Store, table: str, rows: Sequence[Mapping[str, object]],
            conflict: str = "") -> None:
    """Insert rows in one statement (a registered Arrow table: ``executemany`` costs ~50 ms a
    row with a primary key)."""
    if not rows:
        return
    info = store.table_info(table)
    page = pa.table({c: pa.array([r[c] for r in rows], type=info.arrow[c]) for c in info.columns})
    store.con.register("_wb_rows", page)
    try:
        store.con.execute(f"INSERT INTO {table} SELECT * FROM _wb_rows {conflict}")
    finally:
        store.con.unregister("_wb_rows")


def finish_push_run(
    store: Store,
    run_id: int,
    status: str,
    *,
    written: int,
    failed: int,
    write_calls: int,
    error: str | None = None,
) -> None:
    """Record the end of a push: status ``ok``, ``partial`` or ``failed``, counts, error."""
    store.con.execute(
        "UPDATE push_runs SET finished_at = ?, status = ?, records_written = ?, "
        "records_failed = ?, write_calls = ?, error = ? WHERE run_id = ?",
        [datetime.now(UTC), status, written, failed, write_calls, error, run_id],
    )
