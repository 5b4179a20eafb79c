"""The write-back plan and its bookkeeping: which partner KPI values go into which CRM fields,
what each field held when we last wrote it, and the ``push_log`` / ``push_state`` records.

The plan is ``sql/writeback/plan.sql`` (partners of one source x configured fields, joined to
``kpi_values`` of one period and to ``push_state``); this module converts each KPI value to the
target field's type (:class:`Target`) and decides per cell, against the value the CRM holds now
(read by the caller just before planning: a value a person edited in the CRM is seen):

- ``write``: the CRM's value differs (or the record was not found, or ``force``);
- ``unchanged``: the CRM already holds the value;
- ``keep``: no KPI value and ``clear_on_null`` off: the field is left alone;
- ``skip``: the field's policy forbids the write (``never``; ``if_empty`` and the CRM field
  holds a value). ``force`` rewrites unchanged cells, never a policy's ``skip``.

Without the CRM's values (``read_current=None``) the value last written (``push_state``) stands
in for them. Optional extra cells carry the period (``kpi_period``, compared like a value) and
the as-of day (``kpi_as_of``, written with a record's other written cells). Nothing here talks
to a CRM: ``connectors/writeback.py`` sends the ``write`` cells and reports each record's result
back through :func:`record_results`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from typing import Any

import pyarrow as pa

from kpi_engine.kpis import KPIS
from kpi_engine.partner_status import STATUS_FIELDS
from kpi_engine.periods import short_label
from kpi_engine.store import Store

#: KPIs measured as a ratio 0..1: written x100 into percent fields.
RATIO_KPIS = frozenset([*(k.name for k in KPIS if k.unit.startswith("ratio")),
                        *(n for n, unit in STATUS_FIELDS.items() if unit.startswith("ratio"))])
#: KPIs that count deals: written without decimals into a field of no scale.
COUNT_KPIS = frozenset([*(k.name for k in KPIS if k.unit == "deals"),
                        *(n for n, unit in STATUS_FIELDS.items() if unit.startswith("flag"))])
#: The extra cells a write-back may carry next to the KPI values.
EXTRA_CELLS = ("kpi_period", "kpi_as_of")
#: Reads the CRM's current values: record ids, fields -> record id -> field -> value.
ReadCurrent = Callable[[Sequence[str], Sequence[str]], Mapping[str, Mapping[str, Any]]]


def default_scale(kpi: str) -> int:
    """Decimal places written into a number field that keeps any scale (HubSpot number
    properties): 0 for deal counts, 2 for money, ratios, days and scores."""
    return 0 if kpi in COUNT_KPIS else 2


def period_text(grain: str, start: date, complete: bool = True) -> str:
    """The period as a CRM user reads it: ``2017-Q4``, ``2017-10``, ``2017``; a period in
    progress gets `` to date`` (``2026-Q4 to date``)."""
    text = short_label(grain, start)
    return text if complete else f"{text} to date"


@dataclass(frozen=True)
class Target:
    """One configured KPI -> field, with the field's type as the CRM describes it.

    Attributes:
        kpi: the KPI name (``win_rate``).
        field: the CRM field / property name (``Partner_Win_Rate__c``).
        percent: the field is a percent field (values 0..100): ratio KPIs are multiplied by 100.
        scale: decimal places the field keeps (values are rounded half up to it); ``None``: as
            computed (``kpi_values`` keeps 10 places).
        policy: ``overwrite``, ``if_empty`` or ``never`` (see the module docstring).
    """

    kpi: str
    field: str
    percent: bool = False
    scale: int | None = None
    policy: str = "overwrite"

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
        field / kpi: the target field and the KPI written into it (``kpi_period`` /
            ``kpi_as_of`` for the extra cells).
        kpi_value: the KPI in the period (``None``: no value, and for the extra cells).
        old: the value the CRM holds now (``None``: empty), or without a CRM read the value
            last written; a number as ``Decimal``, text as ``str``.
        new: ``kpi_value`` converted to the field's type; the period text; the as-of day.
        old_known: ``old`` is known (the CRM sent the record; or, without a CRM read, a value
            was written before).
        action: ``write``, ``unchanged``, ``keep`` or ``skip``.
        policy: the field's policy.
        state_stale: ``unchanged`` in the CRM, but ``push_state`` does not hold the value (a
            write that landed after its push was killed, say): :func:`confirm_state` records
            it without a write call.
    """

    record_id: str
    name: str | None
    field: str
    kpi: str
    kpi_value: Decimal | None
    old: Decimal | str | None
    new: Decimal | str | date | None
    old_known: bool
    action: str
    policy: str = "overwrite"
    state_stale: bool = False

    @property
    def extra(self) -> bool:
        """A ``kpi_period`` / ``kpi_as_of`` cell (not logged in ``push_log``)."""
        return self.kpi in EXTRA_CELLS


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
    read_current: ReadCurrent | None = None,
    extras: Sequence[tuple[str, str, str | date]] = (),
    force: bool = False,
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
        read_current: called once with the planned record ids and every field planned; its
            answer (record id -> field -> value) is what the cells compare against. ``None``:
            compare against ``push_state``.
        extras: ``(kind, field, value)`` for ``kpi_period`` (a text) / ``kpi_as_of`` (a day);
            planned only when ``period_start`` is set.
        force: write every cell a policy allows, equal or not.

    Returns:
        Cells ordered by record id, then the configured field order (extras last).
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
    extras = list(extras) if period_start is not None else []
    current: Mapping[str, Mapping[str, Any]] | None = None
    if read_current is not None:
        ids = list(dict.fromkeys(r[0] for r in rows))
        fields = [t.field for t in targets] + [f for _, f, _ in extras]
        current = read_current(ids, fields) if ids and fields else {}
    by_field = {t.field: t for t in targets}
    cells: list[PlanCell] = []
    names: dict[str, str | None] = {}
    for record_id, name, field, kpi, kpi_value, pushed, was_pushed in rows:
        target = by_field[field]
        names[record_id] = name
        new = target.convert(kpi_value)
        if current is None:
            old, known = pushed, bool(was_pushed)
        else:
            record = current.get(record_id)
            old, known = (_number(record.get(field)) if record else None), record is not None
        action = _action(target.policy, old, new, known, clear_on_null, force)
        stale = current is not None and action == "unchanged" and (not was_pushed
                                                                    or pushed != new)
        cells.append(PlanCell(record_id, name, field, kpi, kpi_value, old, new, known, action,
                              target.policy, stale))
    if extras:
        cells = _with_extras(cells, names, extras, current, force)
    return cells


def _action(policy: str, old: Any, new: Any, known: bool, clear_on_null: bool,
            force: bool) -> str:
    if new is None and not clear_on_null:
        return "keep"
    if policy == "never" or (policy == "if_empty" and known and old is not None):
        return "skip"
    if known and old == new and not force:
        return "unchanged"
    return "write"


def _with_extras(
    cells: list[PlanCell],
    names: Mapping[str, str | None],
    extras: Sequence[tuple[str, str, str | date]],
    current: Mapping[str, Mapping[str, Any]] | None,
    force: bool,
) -> list[PlanCell]:
    """Each record's cells followed by its extra cells: the period written when the CRM's text
    differs, the as-of day when anything else of the record is written."""
    by_record: dict[str, list[PlanCell]] = {}
    for cell in cells:
        by_record.setdefault(cell.record_id, []).append(cell)
    out: list[PlanCell] = []
    for record_id, own in by_record.items():
        record = current.get(record_id) if current is not None else None
        known = record is not None
        added: list[PlanCell] = []
        for kind, field, value in sorted(extras, key=lambda e: EXTRA_CELLS.index(e[0])):
            raw = record.get(field) if record else None
            old = None if raw in (None, "") else str(raw)
            if kind == "kpi_period":
                action = "unchanged" if known and old == value and not force else "write"
            else:
                written = any(c.action == "write" for c in own + added)
                action = "write" if written else "unchanged"
            added.append(PlanCell(record_id, names[record_id], field, kind, None, old, value,
                                  known, action))
        out += own + added
    return out


def _number(value: Any) -> Decimal | str | None:
    """A CRM's field value as a number (``""`` / None: empty); text that is no number stays
    text (it differs from every KPI value, so the cell is written)."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return str(value)


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
        if cell.extra:
            continue
        log_rows.append({
            "run_id": run_id, "source": source, "object": crm_object,
            "record_id": cell.record_id, "field": cell.field, "kpi": cell.kpi,
            "old_value": cell.old if isinstance(cell.old, Decimal) else None,
            "new_value": cell.new, "pushed_at": now,
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


def confirm_state(store: Store, run_id: int, source: str, crm_object: str,
                  cells: Iterable[PlanCell]) -> None:
    """Record in ``push_state`` the values the CRM was found to hold already (cells marked
    ``state_stale``), in one transaction; nothing is sent and nothing enters ``push_log``."""
    now = datetime.now(UTC)
    rows = [{"source": source, "object": crm_object, "record_id": c.record_id,
             "field": c.field, "value": c.new, "pushed_at": now, "run_id": run_id}
            for c in cells if c.state_stale and not c.extra]
    with store.transaction():
        _insert(store, "push_state", rows,
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
