"""Compute the partner KPIs with the SQL in ``kpi_engine/sql/`` and store them in ``kpi_wide``.

For each grain (month, quarter, year; quarters and years follow the fiscal year's first month),
every dimension (overall, partner, owner, team, unit, channel) and every period from the first to
the last period holding a creation or close date. Definitions: ``docs/kpis.md`` (kept equal to
:data:`KPIS` by a test) and the header of each ``sql/kpis/*.sql`` file.

The SQL is a chain of declared steps (``sql/steps/*.sql``, ``sql/kpis/*.sql`` and two steps
generated from the KPI registry, ``wide`` and ``result``). Each step file's header says::

    -- step: <name>
    -- scope: grain            (run once per grain; without it, once per compute)
    -- reads: t1, t2, ...      (tables it reads: inputs or other steps' outputs)
    -- creates: t3, ...        (temporary tables it leaves for later steps)
    -- scratch: t4, ...        (temporary tables it makes for itself and drops)

and :func:`steps` orders them by those declarations. The DuckDB-only functions they call are
macros of ``sql/macros/duckdb.sql``. The result (one row per grain, period, dimension and member,
one column per KPI and its n) goes to ``kpi_wide``; ``kpi_values`` is its long form, a view.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from kpi_engine import credit
from kpi_engine.calendar import reporting_zone
from kpi_engine.errors import ComputeError
from kpi_engine.parameters import ParameterTable, write_duckdb
from kpi_engine.partner_status import write_partner_status
from kpi_engine.periods import default_as_of, reporting_today
from kpi_engine.registry import KPI_NAMES, KPIS, Kpi, base_wide_sql, long_rows_sql, result_sql
from kpi_engine.settings import KpiSettings
from kpi_engine.store import CANONICAL_TABLES, HISTORY_TABLES, Store
from kpi_engine.targets import TargetSummary, apply_targets
from kpi_engine.tiers import TierSummary, apply_tiers

__all__ = ["DIMENSIONS", "GRAINS", "KPIS", "KPI_NAMES", "WARNINGS_SQL", "ComputeSummary", "Kpi",
           "Step", "compute", "parameter_tables", "record_run", "steps", "store_grain_rows",
           "summary_warnings"]

#: Months per period of each grain.
GRAINS = {"month": 1, "quarter": 3, "year": 12}
#: The columns of ``kpi_grains`` and ``kpi_grain``.
GRAIN_COLUMNS = (("grain", "VARCHAR"), ("months", "INTEGER"))
DIMENSIONS = ("overall", "partner", "owner", "team", "unit", "channel")

#: Tables the steps may read that no step makes: the store's canonical tables and the
#: parameters :func:`compute` writes (kpi_grain is rewritten before each grain).
PARAMETERS = ("kpi_params", "kpi_sources", "channel_map", "quality_weights", "kpi_grains",
              "kpi_grain", *credit.PARAMETERS)
INPUTS = (*CANONICAL_TABLES, *HISTORY_TABLES, *PARAMETERS)
#: What the chain hands to :func:`compute`: the grain's rows of kpi_wide.
OUTPUT = "kpi_grain_result"
#: Every table the chain hands to :func:`compute` (the partner credit's rows too).
OUTPUTS = (OUTPUT, credit.OUTPUT)


@dataclass(frozen=True)
class Step:
    """One SQL step: its declared tables and its text.

    Attributes:
        name: the ``-- step:`` name.
        sql: the statements.
        reads: tables it reads (inputs or outputs of earlier steps).
        creates: temporary tables (or views) it leaves for later steps.
        scratch: temporary tables it makes for itself and drops before it ends.
        grain: True when it runs once per grain.
        source: the file it comes from (``sql/steps/facts.sql``), or ``registry`` for a
            generated step.
    """

    name: str
    sql: str
    reads: tuple[str, ...]
    creates: tuple[str, ...]
    scratch: tuple[str, ...] = ()
    grain: bool = False
    source: str = "registry"


_HEADER = re.compile(r"^--\s*(step|scope|reads|creates|scratch):(.*)$")
# a header's continuation line: only names and commas (``--          t5, t6``)
_CONTINUATION = re.compile(r"^--\s+([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*,?)\s*$")


def _parse(source: str, sql: str) -> Step:
    fields: dict[str, list[str]] = {}
    last: str | None = None
    for line in sql.splitlines():
        head = _HEADER.match(line)
        if head:
            last = head.group(1)
            fields.setdefault(last, []).extend(_names(head.group(2)))
            continue
        cont = _CONTINUATION.match(line)
        if last in ("reads", "creates", "scratch") and cont:
            fields[last].extend(_names(cont.group(1)))
            continue
        last = None
    if "step" not in fields:
        msg = f"{source}: no '-- step:' header"
        raise ComputeError(msg)
    return Step(
        name=fields["step"][0],
        sql=sql,
        reads=tuple(fields.get("reads", ())),
        creates=tuple(fields.get("creates", ())),
        scratch=tuple(fields.get("scratch", ())),
        grain=fields.get("scope", ["once"]) == ["grain"],
        source=source,
    )


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _sql(*parts: str) -> str:
    return (resources.files("kpi_engine") / "sql").joinpath(*parts).read_text(encoding="utf-8")


def _file_steps() -> list[Step]:
    root = resources.files("kpi_engine") / "sql"
    found = []
    for folder in ("steps", "kpis"):
        for entry in sorted((root / folder).iterdir(), key=lambda p: p.name):
            if entry.name.endswith(".sql"):
                found.append(_parse(f"sql/{folder}/{entry.name}", entry.read_text("utf-8")))
    return found


def _order(found: list[Step]) -> list[Step]:
    # Kahn's algorithm on the declared tables; of the steps ready, once-steps before grain
    # steps, then by name, so the order is stable.
    made_by = {t: s.name for s in found for t in s.creates}
    deps = {s.name: {made_by[t] for t in s.reads if t in made_by} - {s.name} for s in found}
    by_name = {s.name: s for s in found}
    ordered: list[Step] = []
    done: set[str] = set()
    while len(ordered) < len(found):
        ready = [s for s in found if s.name not in done and deps[s.name] <= done]
        if not ready:
            cycle = sorted(set(by_name) - done)
            msg = f"the SQL steps {', '.join(cycle)} read each other's tables in a cycle"
            raise ComputeError(msg)
        step = min(ready, key=lambda s: (s.grain, s.name))
        ordered.append(step)
        done.add(step.name)
    return ordered


def steps() -> list[Step]:
    """Every SQL step of a compute, in run order (once-per-compute steps, then per grain).

    The ``wide`` and ``result`` steps are generated from :data:`KPIS`: ``wide`` joins the base
    families' tables into ``kpi_base``; the families that read ``kpi_base`` are derived, and
    ``result`` joins their tables to it.

    Raises:
        ComputeError: a step file without a header, a KPI whose table no family step creates,
            or steps that depend on each other in a cycle.
    """
    found = _file_steps()
    creator = {t: s for s in found for t in s.creates}
    missing = [k.name for k in KPIS if k.table not in creator]
    if missing:
        msg = f"no SQL step creates the table of KPI(s) {', '.join(missing)}"
        raise ComputeError(msg)
    derived = [k for k in KPIS if "kpi_base" in creator[k.table].reads]
    base = [k for k in KPIS if k not in derived]
    base_tables = tuple(dict.fromkeys(k.table for k in base))
    derived_tables = tuple(dict.fromkeys(k.table for k in derived))
    found.append(Step("wide", base_wide_sql(base), ("members", *base_tables), ("kpi_base",),
                      grain=True))
    found.append(Step("result", result_sql(base, derived),
                      ("kpi_base", "periods", "dim_members", "kpi_params", *derived_tables),
                      (OUTPUT,), ("kpi_grain_all",), grain=True))
    return _order(found)


@dataclass
class ComputeSummary:
    """What one compute did and what it had to leave out.

    Attributes:
        rows: ``kpi_values`` rows (KPI values) the grain holds after the compute.
        deals: live (not deleted) deals considered.
        warnings: counts of records left out of some KPI, by reason (e.g.
            ``deals_without_created_at``, ``deals_without_rate``, ``won_deals_without_amount``,
            ``won_deals_cycle_skipped``, ``closed_deals_without_close_date``,
            ``closed_deals_open_at_as_of``: closed deals whose close date is on or after the
            ``as_of`` day, so open at the cut).
        currencies_without_rate: currency codes that had no rate to the reporting currency.
        today: the date in the reporting time zone the compute ran on.
        as_of: the cut: the ``--as-of`` day, else today (the start of the day, UTC).
        latest_close_open_at_as_of: the latest close date of ``closed_deals_open_at_as_of``.
        targets: what became of the targets (:mod:`kpi_engine.targets`).
        tiers: the tier status, when ``tiers:`` is configured (:mod:`kpi_engine.tiers`).
    """

    rows: dict[str, int] = field(default_factory=dict)
    deals: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    currencies_without_rate: list[str] = field(default_factory=list)
    today: date | None = None
    as_of: date | None = None
    latest_close_open_at_as_of: date | None = None
    targets: TargetSummary | None = None
    tiers: TierSummary | None = None

    def warning_lines(self) -> list[str]:
        """The warnings, one line each, as ``compute`` prints them (``run --json`` has them
        too): ``1 closed deal has a close date on or after today (2026-12-03; latest
        2027-02-15): ...``."""
        lines = []
        for reason, count in self.warnings.items():
            if reason == "closed_deals_open_at_as_of":
                one = count == 1
                day = "today" if self.as_of == self.today else "the --as-of day"
                lines.append(
                    f"{count} closed deal{'' if one else 's'} {'has' if one else 'have'} a close "
                    f"date on or after {day} ({self.as_of}; latest "
                    f"{self.latest_close_open_at_as_of}): {'it counts' if one else 'they count'} "
                    f"as open until then and never {'moves' if one else 'move'} the latest "
                    "period")
                continue
            lines.append(f"{count} {reason.replace('_', ' ')}")
        if self.currencies_without_rate:
            lines.append("no rate to the reporting currency for "
                         + ", ".join(self.currencies_without_rate))
        lines += self.targets.lines() if self.targets else []
        lines += self.tiers.notes if self.tiers else []
        return lines


#: The compute's warnings, read from ``f_deals`` (``facts``) once per compute: the counts
#: (with ``$as_of``, the cut day) and the currencies without a rate. Any engine runs them.
WARNINGS_SQL = (
    """
    SELECT count(*),
           count(*) FILTER (WHERE no_created_at),
           count(*) FILTER (WHERE no_rate),
           count(*) FILTER (WHERE is_won AND closed_by_cut AND amount IS NULL AND NOT no_rate),
           count(*) FILTER (WHERE is_won AND closed_by_cut
                            AND (created_date IS NULL OR close_date < created_date)),
           count(*) FILTER (WHERE is_closed AND close_date IS NULL),
           count(*) FILTER (WHERE is_closed AND close_date >= $as_of),
           max(close_date) FILTER (WHERE is_closed AND close_date >= $as_of)
    FROM f_deals
    """,
    "SELECT DISTINCT currency FROM f_deals WHERE no_rate ORDER BY 1",
)


def summary_warnings(
    counts: Sequence[Any], currencies: Sequence[str],
) -> tuple[int, dict[str, int], list[str], date | None]:
    """The summary's deals, warnings (non-zero counts by reason), currencies without a rate and
    latest close date open at the cut, from the rows of :data:`WARNINGS_SQL`."""
    (deals, no_created, no_rate, won_no_amount, cycle_skipped, closed_no_date, open_at_as_of,
     latest) = counts
    warnings = {
        "deals_without_created_at": no_created,
        "deals_without_rate": no_rate,
        "won_deals_without_amount": won_no_amount,
        "won_deals_cycle_skipped": cycle_skipped,
        "closed_deals_without_close_date": closed_no_date,
        "closed_deals_open_at_as_of": open_at_as_of,
    }
    return deals, {k: v for k, v in warnings.items() if v}, list(currencies), latest


def _warnings(store: Store, as_of: date) -> tuple[int, dict[str, int], list[str], date | None]:
    counts = store.con.execute(WARNINGS_SQL[0], {"as_of": as_of}).fetchall()[0]
    currencies = [r[0] for r in store.con.execute(WARNINGS_SQL[1]).fetchall()]
    return summary_warnings(counts, currencies)


def parameter_tables(
    settings: KpiSettings, grains: Sequence[str], as_of: date, sources: Sequence[str] | None,
    today: date, zone: str = "UTC",
) -> list[ParameterTable]:
    """The parameter tables of a compute (:data:`PARAMETERS`, ``kpi_grain`` empty: it is
    filled before each grain), built once for every engine.

    ``compute_date`` is today in the reporting time zone, the day ``kpi_wide.complete`` is
    judged on; ``t_cut`` the start of the ``as_of`` day in that zone (an aware instant).
    """
    t_cut = datetime.combine(as_of, time(), tzinfo=ZoneInfo(zone))
    return [
        ParameterTable("kpi_params", (
            ("reporting_currency", "VARCHAR"), ("t_cut", "TIMESTAMPTZ"), ("cut_date", "DATE"),
            ("all_sources", "BOOLEAN"), ("min_closed_deals", "BIGINT"),
            ("fiscal_offset", "INTEGER"), ("compute_date", "DATE")),
            [[settings.reporting_currency, t_cut, as_of, sources is None,
              settings.quality_score.min_closed_deals, settings.fiscal_year_start_month - 1,
              today]]),
        ParameterTable("kpi_sources", (("source", "VARCHAR"),), [[s] for s in sources or ()]),
        ParameterTable("channel_map", (("lead_source", "VARCHAR"), ("channel", "VARCHAR")),
                       [[src.lower(), ch] for ch, srcs in settings.channels.items()
                        for src in srcs]),
        ParameterTable("quality_weights", (("metric", "VARCHAR"), ("weight", "DOUBLE")),
                       [[m, w] for m, w in settings.quality_score.weights.items()]),
        ParameterTable("kpi_grains", GRAIN_COLUMNS, [[g, GRAINS[g]] for g in grains]),
        ParameterTable("kpi_grain", GRAIN_COLUMNS),
        *credit.parameter_tables(settings.attribution),
    ]


def _zone_macros(store: Store, zone: str) -> None:
    """Bucket in the reporting time zone: ``utc_day`` (an instant's date) and ``utc_midnight``
    (a date's first instant) are the UTC ones of ``sql/macros/duckdb.sql`` when the zone is UTC
    (the fast path); for another zone they become that zone's day and midnight, and every step
    calling them (created dates, stage-entered days, period ends, ``--as-of``) follows (C-19).
    The zone is a validated IANA name, written into the SQL text as a quoted literal."""
    if zone == "UTC":
        return
    literal = "'" + zone.replace("'", "''") + "'"
    store.con.execute(
        "CREATE OR REPLACE TEMP MACRO utc_day(ts) AS CASE WHEN isfinite(ts) "
        f"THEN CAST(timezone({literal}, ts) AS DATE) ELSE CAST(ts AS DATE) END")
    store.con.execute(
        "CREATE OR REPLACE TEMP MACRO utc_midnight(d) AS "
        f"timezone({literal}, CAST(d AS TIMESTAMP))")


def _grain_macros(store: Store, grain: str, settings: KpiSettings) -> None:
    # period_of(d): the start of the grain's period holding d (macro layer: period_start_of);
    # both numbers are validated integers, safe to write into the SQL text
    months, offset = int(GRAINS[grain]), int(settings.fiscal_year_start_month) - 1
    store.con.execute(
        f"CREATE OR REPLACE TEMP MACRO period_of(d) AS period_start_of(d, {months}, {offset})"
    )
    store.con.execute("DELETE FROM kpi_grain")
    store.con.execute("INSERT INTO kpi_grain VALUES (?, ?)", [grain, months])


def _store_grain(
    store: Store, grain: str, period_range: tuple[date | None, date | None], computed_at: datetime,
    table: str = OUTPUT,
) -> None:
    date_from, date_to = period_range
    # replace the grain's periods in the range (all of them without --from/--to)
    store.con.execute(
        "DELETE FROM kpi_wide WHERE grain = ? "
        "AND (?::DATE IS NULL OR period_start >= period_of(?::DATE)) "
        "AND (?::DATE IS NULL OR period_start <= ?::DATE)",
        [grain, date_from, date_from, date_to, date_to],
    )
    store.con.execute(
        f"""
        INSERT INTO kpi_wide BY NAME
        SELECT ? AS grain, ? AS computed_at, *
        FROM {table}
        WHERE (?::DATE IS NULL OR period_start >= period_of(?::DATE))
          AND (?::DATE IS NULL OR period_start <= ?::DATE)
        """,
        [grain, computed_at, date_from, date_from, date_to, date_to],
    )


def store_grain_rows(
    store: Store, settings: KpiSettings, grain: str, table: str,
    period_range: tuple[date | None, date | None], computed_at: datetime,
) -> None:
    """Replace a grain's rows of ``kpi_wide`` (the periods of ``period_range``, all when both
    are None) by those of ``table``: the columns of :data:`OUTPUT`, computed elsewhere (Spark,
    :mod:`kpi_engine.canonical`). Runs in the caller's transaction."""
    store.con.execute(_sql("macros", "duckdb.sql"))
    store.con.execute("CREATE TEMP TABLE IF NOT EXISTS kpi_grain (grain VARCHAR, months INTEGER)")
    _grain_macros(store, grain, settings)
    _store_grain(store, grain, period_range, computed_at, table)


def record_run(store: Store, settings: KpiSettings, grains: Sequence[str], summary: ComputeSummary,
               computed_at: datetime) -> None:
    """Count the grains' rows into ``summary.rows`` and record the run (``kpi_settings``,
    ``kpi_runs``), in the caller's transaction."""
    rows = dict(store.con.execute(long_rows_sql()).fetchall())
    store.con.execute("DELETE FROM kpi_settings")
    store.con.execute(
        "INSERT INTO kpi_settings VALUES (?, ?, ?)",
        [settings.reporting_currency, settings.fiscal_year_start_month, computed_at],
    )
    for grain in grains:
        summary.rows[grain] = int(rows.get(grain, 0))
        store.con.execute(
            "INSERT INTO kpi_runs VALUES (?, ?, ?, ?, ?)",
            [
                computed_at,
                grain,
                summary.as_of,
                summary.rows[grain],
                str(summary.warnings).replace("'", '"'),
            ],
        )


def _drop_temporaries(store: Store, chain: Sequence[Step]) -> None:
    for name in (*(t for s in chain for t in s.creates), *PARAMETERS):
        store.con.execute(f"DROP TABLE IF EXISTS {name}")


def checked_request(grains: Iterable[str], date_from: date | None,
                    date_to: date | None) -> list[str]:
    """The grains asked for, each once in the order given (both engines' compute).

    Raises:
        ComputeError: an unknown grain, or ``date_from`` after ``date_to``.
    """
    grains = list(dict.fromkeys(grains))
    unknown = [g for g in grains if g not in GRAINS]
    if unknown:
        msg = f"unknown grain {unknown[0]!r}: use {', '.join(GRAINS)}"
        raise ComputeError(msg)
    if date_from and date_to and date_from > date_to:
        msg = f"--from {date_from} is after --to {date_to}"
        raise ComputeError(msg)
    return grains


def compute(
    store: Store,
    settings: KpiSettings,
    grains: Iterable[str] = ("month", "quarter", "year"),
    *,
    as_of: date | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    sources: Sequence[str] | None = None,
    today: date | None = None,
) -> ComputeSummary:
    """Compute every KPI for the given grains and replace their rows in ``kpi_wide``.

    Args:
        store: an open, writable store.
        settings: reporting currency, fiscal year, channel map, quality-score settings.
        grains: any of ``month``, ``quarter``, ``year``.
        as_of: compute as at the start of this day (UTC): later creations, closes and conversions
            have not happened; the pipeline of the period holding it is measured at it.
            Default: today (the period in progress is computed to date). A closed deal dated
            on or after it counts as open until then, and is counted in a warning.
        date_from: compute only the periods from the one holding this date.
        date_to: compute only the periods up to the one holding this date. Rows of periods
            outside ``date_from``..``date_to`` stay in ``kpi_wide`` as they were.
        sources: only deals and leads of these sources (default: all).
        today: the date in the reporting time zone (default: the clock's,
            :func:`kpi_engine.periods.reporting_today`).

    Returns:
        A :class:`ComputeSummary` with rows written and warnings.

    Raises:
        ComputeError: an unknown grain, or ``date_from`` after ``date_to``.
        PeriodError: ``as_of`` after today.
    """
    grains = checked_request(grains, date_from, date_to)
    zone = reporting_zone(store, settings.reporting_timezone)
    today = today or reporting_today(zone)
    as_of = default_as_of(as_of, today)
    summary = ComputeSummary(today=today, as_of=as_of)
    computed_at = datetime.now(UTC)
    chain = steps()
    with store.transaction():
        store.con.execute(_sql("macros", "duckdb.sql"))
        _zone_macros(store, zone)
        write_duckdb(store, parameter_tables(settings, grains, as_of, sources, today, zone))
        for step in chain:
            if not step.grain:
                store.con.execute(step.sql)
            if step.name == "facts":
                (summary.deals, summary.warnings, summary.currencies_without_rate,
                 summary.latest_close_open_at_as_of) = _warnings(store, as_of)
            if step.name == "credit_links":
                summary.warnings.update(credit.warnings(store))
        for grain in grains:
            _grain_macros(store, grain, settings)
            for step in chain:
                if step.grain:
                    store.con.execute(step.sql)
            _store_grain(store, grain, (date_from, date_to), computed_at)
            credit.store_grain(store, grain, settings.attribution.credit, computed_at)
        summary.targets = apply_targets(
            store, file=settings.targets.file if settings.targets else None,
            fiscal_offset=settings.fiscal_year_start_month - 1, channels=list(settings.channels),
            grains=grains, computed_at=computed_at, currency=settings.reporting_currency)
        if settings.tiers is not None:
            summary.tiers = apply_tiers(store, settings.tiers, computed_at)
        else:
            store.con.execute("DELETE FROM partner_tiers")
        write_partner_status(
            store, settings.targets.writeback_kpi if settings.targets else "won_amount",
            computed_at)
        record_run(store, settings, grains, summary, computed_at)
        _drop_temporaries(store, chain)
    return summary
