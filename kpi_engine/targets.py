"""Targets: read the target file, check every target's member, roll targets up to coarser
grains, and measure each against its KPI (attainment, gap, pace) into ``target_results``.

Targets come from three sources, all in the ``targets`` table (migration 013): the file named by
``targets.file`` (CSV or YAML, re-read by every compute: :func:`read_target_file`), Salesforce
``ForecastingQuota`` and HubSpot ``goal_targets`` (synced as the ``targets`` stream). Where two
sources give a target for the same member, KPI and period, the file wins; between two CRMs the
one updated last (counted in a note).

A target whose member the store does not know (a partner id no partner, deal or lead has) is
never dropped silently: it goes to the ``rejects`` table (source ``targets``, stream = the
target's source) under a ``sync_runs`` row of source ``targets``, and compute prints the count.

Definitions (docs/kpis.md, "Targets and tiers"): for a target T of KPI k, member m and period
P, with A = k's value of m in P (kpi_wide; a member without a row has k's empty value):
attainment = A / T (lower-is-better KPIs: T / A), gap = T - A (lower-is-better: A - T),
elapsed share s = days of P before the as-of day / days of P, pace = A / (T x s) for the
additive KPIs (:data:`~kpi_engine.target_settings.ADDITIVE`). Ratios are rounded half up to 10
decimal places (exact fractions before that).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from kpi_engine.errors import ComputeError
from kpi_engine.registry import KPIS
from kpi_engine.store import Store
from kpi_engine.target_settings import ADDITIVE, DIRECTION

#: Months per period of each grain (as kpi_engine.kpis.GRAINS).
GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}
#: The grain a grain's targets roll up from, and how many of its periods make one.
ROLLUP_FROM = {"quarter": ("month", 3), "year": ("quarter", 4)}
DIMENSIONS = ("overall", "partner", "owner", "team", "unit", "channel")
#: The ``sync_runs`` / ``rejects`` source of the targets a compute rejects.
TARGETS_SOURCE = "targets"
#: KPIs in the reporting currency (a target of one is in it too).
MONEY_KPIS = frozenset(k.name for k in KPIS if k.unit.startswith("reporting currency"))
#: The value of a KPI for a member without a kpi_wide row (0 for counts and sums, None = NULL).
EMPTY = {k.name: k.empty for k in KPIS}
FILE_COLUMNS = ("dimension", "member", "kpi", "grain", "period_start", "target")
_PLACES = Decimal(1).scaleb(-10)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_start_of(day: date, months: int, fiscal_offset: int) -> date:
    """The first day of the period of ``months`` months holding ``day`` (quarters and years
    start ``fiscal_offset`` months after January, like the engine's ``period_start_of``)."""
    index = day.year * 12 + day.month - 1 - fiscal_offset
    start = index // months * months + fiscal_offset
    return date(start // 12, start % 12 + 1, 1)


def insert_rows(store: Store, table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows (values in the table's column order) in one statement through a registered
    Arrow table (``executemany`` costs milliseconds a row)."""
    if not rows:
        return
    info = store.table_info(table)
    schema = pa.schema([(c, info.arrow[c]) for c in info.columns])
    page = pa.Table.from_pylist([dict(zip(info.columns, r, strict=True)) for r in rows],
                                schema=schema)
    store.con.register("_insert_rows", page)
    try:
        store.con.execute(f"INSERT INTO {table} SELECT * FROM _insert_rows")
    finally:
        store.con.unregister("_insert_rows")


def ratio(value: Fraction) -> Decimal:
    """A fraction rounded half up to 10 decimal places."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        _PLACES, rounding=ROUND_HALF_UP)


@dataclass
class TargetSummary:
    """What a compute made of the targets.

    Attributes:
        loaded: target rows read from the target file.
        results: ``target_results`` rows written, by grain.
        rejected: targets left out and written to ``rejects``, by reason.
        notes: one line each, as ``compute`` prints them.
        run_id: the ``sync_runs`` row (source ``targets``) the rejects belong to.
    """

    loaded: int = 0
    results: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    run_id: int | None = None

    def lines(self) -> list[str]:
        """The summary as compute prints it (after the KPI warnings)."""
        out = []
        for reason, count in self.rejected.items():
            out.append(f"{count} target{'' if count == 1 else 's'} rejected: {reason} "
                       f"(SELECT * FROM rejects WHERE run_id = {self.run_id})")
        return out + self.notes


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def read_target_file(path: Path, fiscal_offset: int = 0) -> tuple[list[dict[str, Any]],
                                                                   list[tuple[str, str, Any, str]]]:
    """Read a target file: CSV with a header, or YAML (a list of mappings, or ``targets:`` one).

    Columns: ``dimension`` (partner, owner, team, unit, channel, overall), ``member`` (the
    member as in kpi_wide: a partner's CRM record id, an owner's id, a team...), ``kpi`` (a KPI
    with a direction), ``grain`` (month, quarter, year), ``period_start`` (YYYY-MM-DD, the
    first day of a period of that grain, fiscal quarters and years per
    ``fiscal_year_start_month``), ``target`` (a number in the KPI's unit: money in the
    reporting currency, ratios 0..1); optional ``name``.

    Returns:
        (rows for the ``targets`` table, rejects ``(record_id, field, value, reason)``); a row
        with a bad value is rejected whole. Record ids: ``<file>:<line>`` for a rejected row,
        ``dimension|member|kpi|grain|period_start`` for a row kept.

    Raises:
        ComputeError: the file cannot be read, is not CSV/YAML of rows, or lacks a column.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"targets.file {path}: cannot read it ({exc}); fix the path in the config"
        raise ComputeError(msg) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text) or []
        except yaml.YAMLError as exc:
            msg = f"targets.file {path}: not YAML ({str(exc).splitlines()[0]})"
            raise ComputeError(msg) from None
        if isinstance(data, Mapping):
            data = data.get("targets") or []
        if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
            msg = (f"targets.file {path}: give a list of targets (mappings with "
                   f"{', '.join(FILE_COLUMNS)})")
            raise ComputeError(msg)
        records = [(i + 1, dict(r)) for i, r in enumerate(data)]
        where = "item"
    else:
        reader = csv.DictReader(io.StringIO(text))
        records = [(i + 2, dict(r)) for i, r in enumerate(reader)]
        missing = [c for c in FILE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            msg = f"targets.file {path}: no column(s) {', '.join(missing)} in the header"
            raise ComputeError(msg)
        where = "line"
    rows: list[dict[str, Any]] = []
    rejects: list[tuple[str, str, Any, str]] = []
    seen: dict[str, int] = {}
    for line, record in records:
        row, problem = _file_row(record, fiscal_offset)
        rid = f"{path.name}:{where} {line}"
        if problem is not None:
            rejects.append((rid, problem[0], _text(record.get(problem[0])), problem[1]))
            continue
        assert row is not None
        if row["target_id"] in seen:
            rejects.append((rid, "period_start", str(row["period_start"]),
                            f"the same target as {where} {seen[row['target_id']]}: give each "
                            "member, KPI and period once"))
            continue
        seen[row["target_id"]] = line
        rows.append(row)
    return rows, rejects


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _file_row(record: Mapping[str, Any], fiscal_offset: int) -> tuple[
        dict[str, Any] | None, tuple[str, str] | None]:
    get = {k: (str(record[k]).strip() if record.get(k) is not None else "") for k in FILE_COLUMNS}
    if get["dimension"] not in DIMENSIONS:
        return None, ("dimension", f"not a dimension (one of {', '.join(DIMENSIONS)})")
    if not get["member"]:
        return None, ("member", "empty: name the member (a partner's CRM record id, ...)")
    if get["kpi"] not in DIRECTION:
        return None, ("kpi", "not a KPI with a direction (one of " + ", ".join(DIRECTION) + ")")
    if get["grain"] not in GRAIN_MONTHS:
        return None, ("grain", "not a grain (month, quarter, year)")
    try:
        start = date.fromisoformat(get["period_start"])
    except ValueError:
        return None, ("period_start", "not a date YYYY-MM-DD")
    months = GRAIN_MONTHS[get["grain"]]
    if period_start_of(start, months, fiscal_offset) != start:
        return None, ("period_start", f"not the first day of a {get['grain']} (fiscal year "
                                      f"starting in month {fiscal_offset + 1})")
    target = _decimal(record.get("target"))
    if target is None:
        return None, ("target", "not a number")
    key = "|".join((get["dimension"], get["member"], get["kpi"], get["grain"], str(start)))
    return {
        "source": "file", "target_id": key, "dimension": get["dimension"],
        "member": get["member"], "kpi": get["kpi"], "grain": get["grain"],
        "period_start": start, "period_end": add_months(start, months), "target": target,
        "currency": None, "name": _text(record.get("name")) or None, "updated_at": None,
        "is_deleted": False,
    }, None


def _known_members(store: Store, channels: Sequence[str]) -> dict[str, set[str]]:
    con = store.con
    known: dict[str, set[str]] = {d: set() for d in DIMENSIONS}
    known["overall"] = {"all"}
    known["channel"] = {*channels, "unknown"}
    for dimension, sql in (
        ("partner", "SELECT partner_id FROM partners WHERE NOT is_deleted UNION "
                    "SELECT partner_id FROM deals WHERE NOT is_deleted UNION "
                    "SELECT partner_id FROM leads WHERE NOT is_deleted"),
        ("owner", "SELECT owner_id FROM owners UNION SELECT owner_id FROM deals "
                  "WHERE NOT is_deleted UNION SELECT owner_id FROM leads WHERE NOT is_deleted"),
        ("team", "SELECT team FROM owners"),
        ("unit", "SELECT unit FROM owners"),
    ):
        known[dimension] = {r[0] for r in con.execute(sql).fetchall() if r[0] is not None}
        known[dimension].add("none")
    return known


def _load_file(store: Store, path: Path, fiscal_offset: int,
               rejects: list[tuple[str, str, str, Any, str]]) -> int:
    rows, bad = read_target_file(path, fiscal_offset)
    rejects.extend(("file", *r) for r in bad)
    store.con.execute("DELETE FROM targets WHERE source = 'file'")
    if rows:
        store.upsert("targets", rows)
    return len(rows)


def _resolve(store: Store, known: Mapping[str, set[str]],
             rejects: list[tuple[str, str, str, Any, str]], summary: TargetSummary,
             currency: str, fiscal_offset: int,
             ) -> dict[tuple[str, str, str, str, date], tuple[Decimal, str, date]]:
    """The live targets of known members, one per (grain, dimension, member, kpi, start); a
    money target in another currency than the reporting one, or whose period is not one of the
    engine's (a CRM's custom fiscal year), is rejected."""
    chosen: dict[tuple[str, str, str, str, date], tuple[Decimal, str, date]] = {}
    overridden = 0
    rows = store.con.execute(
        "SELECT source, target_id, dimension, member, kpi, grain, period_start, period_end, "
        "target, currency FROM targets WHERE NOT is_deleted "
        "ORDER BY source <> 'file', updated_at DESC NULLS LAST, source, target_id").fetchall()
    for source, tid, dimension, member, kpi, grain, start, end, target, cur in rows:
        if member not in known.get(dimension, set()):
            rejects.append((source, tid, "member", member,
                            f"{dimension} {member!r} is not in the store (no {dimension} record, "
                            f"deal or lead has it): check the id"))
            continue
        if kpi not in DIRECTION or grain not in GRAIN_MONTHS:
            rejects.append((source, tid, "kpi", kpi, "not a KPI with a direction"))
            continue
        months = GRAIN_MONTHS[grain]
        if period_start_of(start, months, fiscal_offset) != start \
                or add_months(start, months) != end:
            rejects.append((source, tid, "period_start", str(start),
                            f"{start} .. {end} is not a {grain} of the fiscal year starting in "
                            f"month {fiscal_offset + 1}: set kpis.fiscal_year_start_month to "
                            "the CRM's"))
            continue
        if kpi in MONEY_KPIS and cur is not None and cur != currency:
            rejects.append((source, tid, "currency", cur,
                            f"a {kpi} target in {cur}, the KPIs are in {currency} "
                            "(reporting_currency): give the target in the reporting currency"))
            continue
        key = (grain, dimension, member, kpi, start)
        if key in chosen:
            overridden += 1
            continue
        chosen[key] = (Decimal(target), source, end)
    if overridden:
        summary.notes.append(
            f"{overridden} target{'s' if overridden > 1 else ''} given by two sources: the "
            "file's are used, else the one updated last")
    return chosen


def _roll_up(chosen: dict[tuple[str, str, str, str, date], tuple[Decimal, str, date]],
             fiscal_offset: int, summary: TargetSummary) -> None:
    """Add the quarter targets summed from three monthly ones, then the year targets summed
    from four quarterly ones (given or rolled up), where none is given for the period."""
    refused: dict[str, int] = {}
    partial = 0
    for grain, (finer, count) in ROLLUP_FROM.items():
        months = GRAIN_MONTHS[grain]
        groups: dict[tuple[str, str, str, str, date], list[Decimal]] = {}
        for (g, dimension, member, kpi, start), (target, _, _) in chosen.items():
            if g != finer:
                continue
            key = (grain, dimension, member, kpi, period_start_of(start, months, fiscal_offset))
            groups.setdefault(key, []).append(target)
        for key, targets in groups.items():
            if key in chosen:
                continue  # a target given for the period itself wins
            kpi = key[3]
            if kpi not in ADDITIVE:
                refused[kpi] = refused.get(kpi, 0) + 1
                continue
            if len(targets) != count:
                partial += 1
                continue
            chosen[key] = (sum(targets, Decimal(0)), f"{finer}s",
                           add_months(key[4], months))
    for kpi, n in refused.items():
        one = n == 1
        summary.notes.append(
            f"{kpi}: targets of a finer grain not rolled up to {n} period{'' if one else 's'} "
            f"({kpi} is not a sum over periods): give {'that' if one else 'those'} "
            f"period{'' if one else 's'}' target{'' if one else 's'} directly".replace(
                "period' target", "period's target"))
    if partial:
        one = partial == 1
        summary.notes.append(
            f"{partial} period{'' if one else 's'} with targets for only some of "
            f"{'its' if one else 'their'} months or quarters: not rolled up")


def _actuals(store: Store, grain: str,
             keys: Sequence[tuple[str, str, str, date]]) -> tuple[
        dict[tuple[str, str, str, date], tuple[Any, str | None]],
        dict[date, tuple[date, date, bool]]]:
    """kpi_wide values of ``grain`` for the (kpi, dimension, member, start) ``keys``:
    key -> (value, name), and per period start (period_end, as_of, complete)."""
    values: dict[tuple[str, str, str, date], tuple[Any, str | None]] = {}
    con = store.con
    page = pa.table({"dimension": [k[1] for k in keys], "member": [k[2] for k in keys],
                     "period_start": pa.array([k[3] for k in keys], pa.date32())})
    con.register("_target_keys_page", page)
    con.execute("CREATE OR REPLACE TEMP TABLE _target_keys AS "
                "SELECT DISTINCT * FROM _target_keys_page")
    con.unregister("_target_keys_page")
    for kpi in sorted({k[0] for k in keys}):  # names from DIRECTION: known identifiers
        for dimension, member, start, value, name in con.execute(
                f"SELECT w.dimension, w.member, w.period_start, w.{kpi}, w.member_name "
                "FROM kpi_wide w JOIN _target_keys k USING (dimension, member, period_start) "
                "WHERE w.grain = ?", [grain]).fetchall():
            values[(kpi, dimension, member, start)] = (value, name)
    con.execute("DROP TABLE _target_keys")
    periods = {r[0]: (r[1], r[2], r[3]) for r in con.execute(
        "SELECT period_start, any_value(period_end), max(as_of), bool_and(complete) "
        "FROM kpi_wide WHERE grain = ? GROUP BY period_start", [grain]).fetchall()}
    return values, periods


def _measure(kpi: str, target: Decimal, actual: Decimal | None, elapsed: int,
             days: int) -> tuple[Decimal | None, Decimal | None, Decimal, Decimal | None]:
    """(attainment, gap, elapsed_share, pace) of one target."""
    share = Fraction(max(0, min(elapsed, days)), days)
    if actual is None:
        return None, None, ratio(share), None
    a, t = Fraction(actual), Fraction(target)
    if DIRECTION[kpi] > 0:
        attainment = ratio(a / t) if t else None
        gap = target - actual
    else:
        attainment = ratio(t / a) if a else None
        gap = actual - target
    pace = ratio(a / (t * share)) if kpi in ADDITIVE and t and share else None
    return attainment, gap, ratio(share), pace


def _names(store: Store) -> dict[tuple[str, str], str]:
    return {(d, m): n for d, m, n in store.con.execute(
        "SELECT 'partner', partner_id, any_value(name) FROM partners GROUP BY partner_id "
        "UNION ALL SELECT 'owner', owner_id, any_value(name) FROM owners GROUP BY owner_id"
    ).fetchall() if n is not None}


def apply_targets(
    store: Store, *, file: Path | None, fiscal_offset: int, channels: Sequence[str],
    grains: Sequence[str], computed_at: datetime, currency: str = "USD",
) -> TargetSummary:
    """Load the target file, check and resolve every target, and replace ``target_results``
    of ``grains`` (run by :func:`kpi_engine.kpis.compute` inside its transaction, after
    ``kpi_wide`` is written).

    Args:
        store: the writable store.
        file: the target file (None: CRM targets only).
        fiscal_offset: ``fiscal_year_start_month - 1``.
        channels: the configured channel names.
        grains: the grains just computed.
        computed_at: the compute's instant (UTC).
        currency: the reporting currency (money targets in another one are rejected).

    Returns:
        A :class:`TargetSummary`.

    Raises:
        ComputeError: the target file cannot be read (see :func:`read_target_file`).
    """
    summary = TargetSummary()
    rejects: list[tuple[str, str, str, Any, str]] = []
    if file is not None:
        summary.loaded = _load_file(store, file, fiscal_offset, rejects)
    else:  # no file configured: no file targets
        store.con.execute("DELETE FROM targets WHERE source = 'file'")
    if not rejects and not store.con.execute(
            "SELECT count(*) FROM targets WHERE NOT is_deleted").fetchall()[0][0]:
        for grain in grains:
            store.con.execute("DELETE FROM target_results WHERE grain = ?", [grain])
            summary.results[grain] = 0
        return summary
    known = _known_members(store, channels)
    chosen = _resolve(store, known, rejects, summary, currency, fiscal_offset)
    _roll_up(chosen, fiscal_offset, summary)
    names = _names(store)
    not_computed = 0
    for grain in grains:
        store.con.execute("DELETE FROM target_results WHERE grain = ?", [grain])
        mine = {k: v for k, v in chosen.items() if k[0] == grain}
        if not mine:
            summary.results[grain] = 0
            continue
        values, periods = _actuals(store, grain, [(k[3], k[1], k[2], k[4]) for k in mine])
        out = []
        for (_, dimension, member, kpi, start), (target, source, _end) in sorted(mine.items()):
            if start not in periods:
                not_computed += 1
                continue
            period_end, as_of, complete = periods[start]
            value, name = values.get((kpi, dimension, member, start), (None, None))
            empty = EMPTY[kpi]
            if (kpi, dimension, member, start) not in values and empty is not None:
                value = Decimal(empty)  # a member without a row: the count over nothing
            actual = None if value is None else Decimal(value)
            attainment, gap, share, pace = _measure(
                kpi, target, actual, (as_of - start).days, (period_end - start).days)
            out.append([grain, start, period_end, dimension, member,
                        name or names.get((dimension, member)), kpi, target, source, actual,
                        attainment, gap, share, pace, as_of, complete, computed_at])
        insert_rows(store, "target_results", out)
        summary.results[grain] = len(out)
    if not_computed:
        summary.notes.append(f"{not_computed} target{'s' if not_computed > 1 else ''} for "
                             "periods not computed yet (no KPI rows): no result")
    if rejects:
        summary.run_id = store.start_run(TARGETS_SOURCE)
        for source in sorted({r[0] for r in rejects}):
            mine_rejects = [r[1:] for r in rejects if r[0] == source]
            store.add_rejects(TARGETS_SOURCE, source, summary.run_id, mine_rejects)
        for r in rejects:
            reason = ("member not in the store" if r[2] == "member"
                      else "not in the reporting currency" if r[2] == "currency"
                      else f"bad {r[2]}")
            summary.rejected[reason] = summary.rejected.get(reason, 0) + 1
        store.finish_run(summary.run_id, "ok", {"targets": {
            "inserted": summary.loaded, "rejected": len(rejects)}})
    return summary

