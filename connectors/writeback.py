"""The one push loop, mirror of :mod:`connectors.sync`: check the target fields -> take the plan
(``kpi_engine.writeback``, SQL in ``kpi_engine/sql/writeback/``) -> send the changed values in
batches through a CRM's :class:`Pusher` -> record each record's result in ``push_log``.

- Before planning, the target fields' current values are read from the CRM in batches
  (:meth:`Pusher.read_values`: Salesforce 2,000 records a call, HubSpot 100), so the plan
  compares against the CRM's truth: a value a person edited in the CRM shows as ``old`` and is
  rewritten (policy ``overwrite``), kept (``if_empty``, ``never``), or rewritten with everything
  else (``force``). Only cells whose value differs are sent, and only a record's changed
  fields: a push with nothing changed makes no write call.
- Both CRMs report failures per record inside a success status (Salesforce sObject Collections:
  HTTP 200 with ``success: false`` and no id; HubSpot batch update: HTTP 207 with ``errors``).
  The pushers return one :class:`RecordResult` per input record, attributed by input position
  (case C-10); a failed record keeps its old ``push_state`` and is sent again next push.
- Each batch's results commit in one transaction right after its call: a crash loses at most the
  bookkeeping of the batch in flight (re-sending it is harmless: updates are idempotent).
- Before anything is planned, every target field must exist, be updateable and numeric, and be a
  custom field unless ``allow_standard_fields`` lists it (:func:`check_targets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from connectors.base import FieldInfo, Pusher, RecordUpdate, WritebackTarget
from connectors.errors import ConfigError, ConnectorError
from kpi_engine.periods import CURRENT, LATEST, Period, choose_period, reporting_today
from kpi_engine.store import Store
from kpi_engine.writeback import (
    CellResult,
    PlanCell,
    Target,
    confirm_state,
    default_scale,
    finish_push_run,
    period_text,
    plan,
    record_results,
    start_push_run,
)


@dataclass
class PushFailure:
    """One record the CRM refused."""

    record_id: str
    name: str | None
    fields: list[str]
    error_code: str | None
    message: str | None


@dataclass
class PushResult:
    """The outcome of one push (or dry run) to one CRM.

    Attributes:
        period: the period written (:func:`kpi_engine.periods.choose_period`; ``period_start``
            is its start), None when none is computed.
        status: ``dry-run``, ``ok``, ``partial`` (some records refused) or ``failed``.
        cells: the plan.
        records_written / records_failed: records sent and accepted / refused.
        fields_written: cells written.
        write_calls: write requests sent (0 when nothing changed).
        read_calls: requests that read the fields' current values (``ceil(n / 2000)``
            Salesforce, ``ceil(n / 100)`` HubSpot for n partners).
        force: every value a policy allows was written, equal or not.
    """

    source: str
    crm_object: str
    grain: str
    period_start: date | None
    dry_run: bool
    period: Period | None = None
    run_id: int | None = None
    status: str = "running"
    cells: list[PlanCell] = field(default_factory=list)
    records_written: int = 0
    records_failed: int = 0
    fields_written: int = 0
    write_calls: int = 0
    read_calls: int = 0
    force: bool = False
    failures: list[PushFailure] = field(default_factory=list)
    created_fields: list[str] = field(default_factory=list)
    error: str | None = None

    def count(self, action: str) -> int:
        """Cells of the plan with this action (``write``, ``unchanged``, ``keep``, ``skip``)."""
        return sum(1 for c in self.cells if c.action == action)


def check_targets(
    pusher: Pusher,
    settings: WritebackTarget,
    *,
    create: bool = False,
    dry_run: bool = False,
    fields: dict[str, FieldInfo] | None = None,
) -> tuple[list[Target], list[str]]:
    """Check every configured field against the CRM's describe and build the plan's targets.

    Args:
        pusher: the CRM's push side.
        settings: ``writeback.<crm>``.
        create: create missing fields (HubSpot ``--create-properties``).
        dry_run: with ``create``, plan missing fields as they would be created, create nothing.
        fields: the describe, when the caller read it already (default: read here).

    Returns:
        The targets in configured order (each with its policy, percent and scale: the
        configured ones, else the field's, else :func:`kpi_engine.writeback.default_scale`),
        and the names of fields created (or to be created).

    Raises:
        ConfigError: one line per field that is missing, read-only, not numeric, or standard
            without ``allow_standard_fields``; a ``kpi_period`` field that holds no text or a
            ``kpi_as_of`` field that holds no date.
    """
    fields = fields if fields is not None else pusher.describe_fields()
    allowed = {f.lower() for f in settings.allow_standard_fields}
    where = f"writeback.{pusher.source}.fields"
    problems, targets, created = [], [], []
    for kpi, name in settings.fields.items():
        info = fields.get(name.lower())
        if info is None and create:
            created.append(name)
            if dry_run:
                targets.append(_target(settings, kpi, name, None))
                continue
            group = getattr(settings, "property_group", "partnerkpi")
            info = pusher.create_field(kpi, name, group)
        if info is None:
            problems.append(f"{pusher.source}: {pusher.crm_object} has no field {name} "
                            f"({where}.{kpi}); {pusher.missing_field_hint(kpi, name)}; if it "
                            "exists, field-level security on the integration user's profile or "
                            "permission set hides it (an admin sees it, the API user does not)")
            continue
        if not info.updateable:
            problems.append(f"{pusher.source}: {pusher.crm_object}.{info.name} is not updateable "
                            f"({where}.{kpi}); give the integration user edit access to it")
        elif not info.numeric:
            problems.append(f"{pusher.source}: {pusher.crm_object}.{info.name} is of type "
                            f"{info.type}; {kpi} needs a number field ({where}.{kpi})")
        elif not info.custom and info.name.lower() not in allowed:
            problems.append(f"{pusher.source}: {pusher.crm_object}.{info.name} is a standard "
                            f"field; list it in writeback.{pusher.source}.allow_standard_fields "
                            "to write it")
        else:
            targets.append(_target(settings, kpi, info.name, info))
    problems += _check_extras(pusher, settings, fields)
    if problems:
        raise ConfigError(problems)
    return targets, created


#: the field kinds (:attr:`FieldInfo.kind`) that may carry each extra cell
_EXTRA_KINDS = {"kpi_period": ("text",), "kpi_as_of": ("date", "datetime", "text")}


def _check_extras(pusher: Pusher, settings: WritebackTarget,
                  fields: dict[str, FieldInfo]) -> list[str]:
    problems = []
    for key, name in settings.extra_fields().items():
        info = fields.get(name.lower())
        where = f"writeback.{pusher.source}.{key}"
        if info is None:
            problems.append(f"{pusher.source}: {pusher.crm_object} has no field {name} ({where});"
                            f" create it as a {'text' if key == 'kpi_period' else 'date'} field")
        elif not info.updateable:
            problems.append(f"{pusher.source}: {pusher.crm_object}.{info.name} is not updateable "
                            f"({where}); give the integration user edit access to it")
        elif info.kind not in _EXTRA_KINDS[key]:
            problems.append(f"{pusher.source}: {pusher.crm_object}.{info.name} is of type "
                            f"{info.type}; {key} needs a {' or '.join(_EXTRA_KINDS[key])} field "
                            f"({where})")
    return problems


def _target(settings: WritebackTarget, kpi: str, name: str, info: FieldInfo | None) -> Target:
    """One KPI's target: configured options over the field's describe over the defaults."""
    opts = settings.field_options.get(kpi)
    percent = opts.percent if opts is not None and opts.percent is not None else (
        info.percent if info is not None else False)
    scale = opts.scale if opts is not None and opts.scale is not None else (
        info.scale if info is not None and info.scale is not None else default_scale(kpi))
    if info is not None and info.scale is not None:
        scale = min(scale, info.scale)  # the field keeps no more places than it has
    return Target(kpi, name, percent=percent, scale=scale, policy=settings.policy_of(kpi))


def _extras(settings: WritebackTarget, period: Period | None,
            fields: dict[str, FieldInfo]) -> list[tuple[str, str, str | date]]:
    """The ``kpi_period`` / ``kpi_as_of`` cells' (kind, field, value) for the chosen period:
    the as-of day as a day, midnight UTC in a datetime field, ``YYYY-MM-DD`` in a text one."""
    if period is None:
        return []
    as_of: str | date = period.as_of
    info = fields.get((settings.kpi_as_of or "").lower())
    if info is not None and info.kind == "datetime":
        as_of = datetime.combine(period.as_of, time(0), tzinfo=UTC)
    elif info is not None and info.kind == "text":
        as_of = period.as_of.isoformat()
    values: dict[str, str | date] = {
        "kpi_period": period_text(period.grain, period.start, period.complete),
        "kpi_as_of": as_of,
    }
    return [(k, f, values[k]) for k, f in settings.extra_fields().items()]


def _records(cells: Sequence[PlanCell]) -> list[list[PlanCell]]:
    """The ``write`` cells grouped by record, in plan order."""
    grouped: dict[str, list[PlanCell]] = {}
    for cell in cells:
        if cell.action == "write":
            grouped.setdefault(cell.record_id, []).append(cell)
    return list(grouped.values())


def run_push(
    store: Store,
    pusher: Pusher,
    settings: WritebackTarget,
    *,
    dry_run: bool = False,
    create_fields: bool = False,
    today: date | None = None,
    force: bool = False,
) -> PushResult:
    """Plan and (unless ``dry_run``) push the KPIs of one CRM's partners.

    Args:
        store: the open store (writable unless ``dry_run``).
        pusher: the CRM's push side.
        settings: ``writeback.<crm>``.
        dry_run: only plan: no write call, no ``push_log`` row.
        create_fields: create missing fields first (HubSpot).
        today: the date (reporting time zone) that decides the period (default: today in UTC):
            ``writeback.<crm>.period`` ``latest_complete`` or ``current``, chosen by
            :func:`kpi_engine.periods.choose_period`.
        force: write every value a field's policy allows, even where the CRM holds it.

    Returns:
        The :class:`PushResult`; ``status`` ``partial`` when the CRM refused some records.

    Raises:
        ConfigError: a target field problem (see :func:`check_targets`).
        ConnectorError: a batch call failed after its retries; batches before it stay recorded
            and the ``push_runs`` row says ``failed``.
    """
    described = pusher.describe_fields()
    targets, created = check_targets(pusher, settings, create=create_fields, dry_run=dry_run,
                                     fields=described)
    which = CURRENT if settings.period == "current" else LATEST
    chosen = choose_period(store, settings.grain, which, today=today or reporting_today())
    period = chosen.start if chosen else None
    result = PushResult(pusher.source, pusher.crm_object, settings.grain, period, dry_run,
                        period=chosen, created_fields=created, force=force)
    reads_before = pusher.read_calls
    missing = set(created) if dry_run else set()  # to be created: nothing to read yet

    def read_current(ids: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, Any]]:
        wanted = [n for n in names if n not in missing]
        found = pusher.read_values(ids, wanted) if wanted else {i: {} for i in ids}
        return {rid: {n: values.get(n) for n in names} for rid, values in found.items()}

    result.cells = plan(store, pusher.source, pusher.crm_object, targets, settings.grain, period,
                        clear_on_null=settings.clear_on_null, read_current=read_current,
                        extras=_extras(settings, chosen, described), force=force)
    result.read_calls = pusher.read_calls - reads_before
    if dry_run:
        result.status = "dry-run"
        return result
    result.run_id = start_push_run(store, pusher.source, pusher.crm_object, settings.grain, period)
    confirm_state(store, result.run_id, pusher.source, pusher.crm_object, result.cells)
    records = _records(result.cells)
    calls_before = pusher.write_calls
    try:
        for start in range(0, len(records), settings.batch_size):
            batch = records[start:start + settings.batch_size]
            updates = [RecordUpdate(cells[0].record_id, {c.field: c.new for c in cells})
                       for cells in batch]
            answers = pusher.push(updates)
            logged: list[tuple[PlanCell, CellResult]] = []
            for cells, answer in zip(batch, answers, strict=True):
                outcome = CellResult(answer.ok, answer.error_code, answer.message)
                logged.extend((c, outcome) for c in cells)
                if answer.ok:
                    result.records_written += 1
                    result.fields_written += len(cells)
                else:
                    result.records_failed += 1
                    result.failures.append(PushFailure(
                        cells[0].record_id, cells[0].name, [c.field for c in cells],
                        answer.error_code, answer.message))
            record_results(store, result.run_id, pusher.source, pusher.crm_object, logged)
    except ConnectorError as exc:
        result.write_calls = pusher.write_calls - calls_before
        result.status, result.error = "failed", str(exc).splitlines()[0] if str(exc) else repr(exc)
        _finish(store, result)
        raise
    result.write_calls = pusher.write_calls - calls_before
    result.status = "partial" if result.records_failed else "ok"
    _finish(store, result)
    return result


def _finish(store: Store, result: PushResult) -> None:
    assert result.run_id is not None
    finish_push_run(store, result.run_id, result.status, written=result.records_written,
                    failed=result.records_failed, write_calls=result.write_calls,
                    error=result.error)
