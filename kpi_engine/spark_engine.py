"""Compute the partner KPIs on Spark: the declared KPI steps as Spark SQL, on a SparkSession.

The steps are :func:`kpi_engine.kpis.steps` (whatever steps the engine declares), as
:func:`kpi_engine.dialects.statements` gives them for Spark: DuckDB SQL transpiled by sqlglot,
each macro of ``sql/macros/duckdb.sql`` expanded into its ``sql/macros/spark.sql`` definition.
Each statement is a ``CREATE OR REPLACE TEMPORARY VIEW t AS <query>`` or a ``DROP VIEW``; the
runner runs each query and keeps its result (``localCheckpoint``: computed once, lineage cut), as
DuckDB keeps a temporary table, so a later ``DROP`` of a scratch table never changes a table made
from it. The parameter tables (``kpi_engine.kpis.PARAMETERS``, the partner credit's too) are
the rows :func:`kpi_engine.kpis.parameter_tables` builds for DuckDB as well, made the same way.

Inputs are the tables a compute reads from the store (``kpi_engine.canonical.EXPORTED_TABLES``:
the canonical tables, ``deal_history``, ``pipeline_snapshots``, ``source_calendar``) as Spark
DataFrames:
Parquet written by ``partnerkpi export-canonical`` (:func:`read_canonical`) or tables a metastore
holds. The result is the wide KPI table: the rows ``kpi_wide`` holds in the store, with the
same columns (``grain``, ``computed_at`` and the rest), and with a ``tenant`` column first when
several tenants are computed (:func:`compute_tenants`).

Time zone: the session's ``spark.sql.session.timeZone`` is UTC (:func:`session` sets it and
refuses another), the store's: the ``facts`` step prices an open deal without close date at
``CURRENT_DATE``'s rate. The Spark macros bucket days in UTC only: a reporting time zone other
than UTC (``reporting_timezone``, else the one ``source_calendar`` records) is refused, never
computed in UTC. What Spark computes is ``kpi_wide``; the partner credit rows
(``credit_kpis``), targets and tiers are computed by the DuckDB compute only.
Sources: Spark SQL reference (https://spark.apache.org/docs/latest/sql-ref.html), sqlglot (https://sqlglot.com).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from kpi_engine import credit
from kpi_engine.calendar import ZONES_SQL, zone_of
from kpi_engine.canonical import CALENDAR, EXPORTED_TABLES
from kpi_engine.dialects import statements
from kpi_engine.errors import ComputeError
from kpi_engine.kpis import (
    GRAIN_COLUMNS,
    GRAINS,
    INPUTS,
    WARNINGS_SQL,
    ComputeSummary,
    Step,
    checked_request,
    parameter_tables,
    steps,
    summary_warnings,
)
from kpi_engine.parameters import ParameterTable
from kpi_engine.periods import default_as_of, reporting_today
from kpi_engine.registry import long_rows_sql
from kpi_engine.settings import KpiSettings
from kpi_engine.store import CANONICAL_TABLES, HISTORY_TABLES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkResult", "SparkSettings", "compute_spark", "compute_tenants", "read_canonical",
           "session"]

#: The session settings the KPI SQL needs, whatever the config says (time zone: see above).
REQUIRED_CONFIGS = {"spark.sql.session.timeZone": "UTC"}
#: Settings for a small local session (tests, one machine); a config's ``configs`` win.
LOCAL_DEFAULTS = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.sql.adaptive.enabled": "true",
}
#: The column that tells tenants apart in a multi-tenant input and result.
TENANT = "tenant"


@dataclass(frozen=True)
class SparkSettings:
    """How to reach Spark (``spark:`` in the config).

    Attributes:
        master: ``spark.master``: ``local[2]``, ``spark://host:7077``, ``yarn``, ...
        app_name: the application's name in the cluster's UI.
        configs: more Spark settings (``spark.executor.memory``: ``4g``, ...).
    """

    master: str = "local[*]"
    app_name: str = "partnerkpi"
    configs: Mapping[str, str] = field(default_factory=dict)


def session(settings: SparkSettings) -> SparkSession:
    """A SparkSession for ``settings`` (``getOrCreate``: an active one is reused).

    Raises:
        ComputeError: pyspark is not installed (the ``spark`` extra), Java cannot start, or
            ``configs`` sets ``spark.sql.session.timeZone`` to a zone other than UTC.
    """
    zone = settings.configs.get("spark.sql.session.timeZone", "UTC")
    if zone != "UTC":
        msg = (f"spark.configs: spark.sql.session.timeZone is {zone!r}; the KPI SQL runs in "
               "UTC, the store's time zone: remove the setting")
        raise ComputeError(msg)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        msg = "compute --engine spark needs pyspark: pip install 'partnerkpi[spark]'"
        raise ComputeError(msg) from exc
    builder = SparkSession.builder.master(settings.master).appName(settings.app_name)
    for key, value in {**LOCAL_DEFAULTS, **settings.configs, **REQUIRED_CONFIGS}.items():
        builder = builder.config(key, str(value))
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # py4j / JVM start-up errors have no common class
        msg = f"Spark did not start ({settings.master}): {str(exc).splitlines()[0]}"
        raise ComputeError(msg) from exc
    for key, value in REQUIRED_CONFIGS.items():
        spark.conf.set(key, value)
    return spark


def read_canonical(spark: SparkSession, directory: str | Path | None = None,
                   tables: Mapping[str, str] | None = None) -> dict[str, DataFrame]:
    """The tables a compute reads as DataFrames, by name: the canonical tables, the deals'
    history (``deal_history``, ``pipeline_snapshots``) and, when there, ``source_calendar``.

    Args:
        spark: the session.
        directory: where ``partnerkpi export-canonical --to`` wrote them: ``<table>/`` folders of
            Parquet files (a ``tenant=<name>/`` folder per tenant gives a ``tenant`` column).
        tables: canonical name -> a table the metastore holds (``crm.opportunities``); these
            win over ``directory``.

    Raises:
        ComputeError: a canonical table found in neither.
    """
    tables = dict(tables or {})
    unknown = sorted(set(tables) - set(EXPORTED_TABLES))
    if unknown:
        msg = (f"spark.input.tables: {unknown[0]!r} is not a canonical table (one of: "
               f"{', '.join(EXPORTED_TABLES)})")
        raise ComputeError(msg)
    frames: dict[str, DataFrame] = {}
    for name in EXPORTED_TABLES:
        if name in tables:
            frames[name] = spark.table(tables[name])
            continue
        path = Path(directory) / name if directory is not None else None
        if name == CALENDAR and (path is None or not path.exists()):
            continue  # optional: without it the reporting time zone is the configured one
        if path is None or not path.exists():
            msg = (f"canonical table {name!r}: no {path or name + '/'} (run partnerkpi "
                   "export-canonical --to DIR) and no spark.input.tables entry")
            raise ComputeError(msg)
        frames[name] = spark.read.parquet(str(path))
    return frames


@dataclass
class SparkResult:
    """A Spark compute's result.

    Attributes:
        wide: the wide KPI rows (``kpi_wide``'s columns; ``tenant`` first for several tenants).
        summaries: the compute summary of each tenant (key ``""`` for a single compute).
        computed_at: the instant every row carries (UTC).
    """

    wide: DataFrame
    summaries: dict[str, ComputeSummary]
    computed_at: datetime


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int | float):
        return repr(value)
    return exp.Literal.string(str(value)).sql("spark")


#: DuckDB type names of the parameter tables that Spark spells otherwise.
_SPARK_TYPES = {"VARCHAR": "STRING", "INTEGER": "INT", "TIMESTAMPTZ": "TIMESTAMP"}


def _table(spark: SparkSession, table: ParameterTable) -> None:
    # a parameter table as a kept temporary view: typed columns, literal rows
    name, rows = table.name, table.rows
    columns = [(c, _SPARK_TYPES.get(t, t)) for c, t in table.columns]
    selects = [", ".join(f"CAST({_literal(v)} AS {t}) AS {c}" for v, (c, t) in
                         zip(row, columns, strict=True)) for row in rows]
    if selects:
        text = " UNION ALL ".join(f"SELECT {s}" for s in selects)
    else:
        nulls = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns)
        text = f"SELECT {nulls} WHERE FALSE"
    _keep(spark, name, spark.sql(text))


def _keep(spark: SparkSession, name: str, frame: DataFrame) -> DataFrame:
    kept = frame.localCheckpoint(eager=True)
    kept.createOrReplaceTempView(name)
    return kept


def _run(spark: SparkSession, step: Step, trees: Sequence[exp.Expr]) -> None:
    for tree in trees:
        if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
            _keep(spark, tree.this.name, spark.sql(tree.expression.sql("spark")))
        elif isinstance(tree, exp.Drop):
            spark.sql(tree.sql("spark"))
        else:
            msg = (f"step {step.name} ({step.source}): Spark runs CREATE ... AS SELECT and DROP "
                   f"statements only, not {tree.sql('duckdb')[:60]!r}")
            raise ComputeError(msg)


def _spark_sql(duckdb_sql: str, **dates: date) -> str:
    text = duckdb_sql
    for name, value in dates.items():
        text = text.replace(f"${name}", f"DATE '{value.isoformat()}'")
    return sqlglot.transpile(text, read="duckdb", write="spark")[0]


def _period_start(day: date, grain: str, fiscal_year_start_month: int) -> date:
    # the first day of the grain's period holding day (the period_start_of macro, in Python)
    months, offset = GRAINS[grain], fiscal_year_start_month - 1
    index = (day.year * 12 + day.month - 1 - offset) // months * months + offset
    return date(index // 12, index % 12 + 1, 1)


def compute_spark(
    spark: SparkSession,
    tables: Mapping[str, DataFrame],
    settings: KpiSettings,
    grains: Iterable[str] = ("month", "quarter", "year"),
    *,
    as_of: date | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    sources: Sequence[str] | None = None,
    today: date | None = None,
    computed_at: datetime | None = None,
) -> SparkResult:
    """Compute every KPI on Spark: the rows a DuckDB compute would write into ``kpi_wide``.

    Arguments as :func:`kpi_engine.kpis.compute`, but the canonical tables come as ``tables``
    (canonical name -> DataFrame, :func:`read_canonical`) and nothing is written: the result's
    ``wide`` holds, for the grains asked and the periods in ``date_from``..``date_to``, the
    rows (money DECIMAL(38, 10) in the reporting currency, ratios 0..1, days) and the summary
    its warnings. The session's temporary views are the steps' tables afterwards.

    Args:
        spark: a session from :func:`session` (UTC).
        tables: every canonical table.
        settings: reporting currency, fiscal year, channel map, quality-score settings.
        grains: any of ``month``, ``quarter``, ``year``.
        as_of: compute as at the start of this day (UTC; default: today).
        date_from: only the periods from the one holding this date.
        date_to: only the periods up to the one holding this date.
        sources: only deals and leads of these sources (default: all).
        today: the date in the reporting time zone (default: the clock's).
        computed_at: the instant the rows carry (default: now, UTC).

    Raises:
        ComputeError: an unknown grain, ``date_from`` after ``date_to``, a missing canonical
            table, a reporting time zone other than UTC, or a statement Spark refuses (named
            with its step).
        PeriodError: ``as_of`` after today.
    """
    grains = checked_request(grains, date_from, date_to)
    missing = [t for t in (*CANONICAL_TABLES, *HISTORY_TABLES) if t not in tables]
    if missing:
        msg = f"no canonical table {missing[0]!r} for the Spark compute"
        raise ComputeError(msg)
    zone = settings.reporting_timezone or (
        zone_of(_rows(spark, tables[CALENDAR], ZONES_SQL)) if CALENDAR in tables else "UTC")
    if zone != "UTC":
        msg = (f"reporting_timezone is {zone}: compute --engine spark buckets in UTC only; "
               "compute this store with DuckDB (--engine duckdb) or set reporting_timezone: UTC")
        raise ComputeError(msg)
    today = today or reporting_today(zone)
    as_of = default_as_of(as_of, today)
    computed_at = computed_at or datetime.now(UTC)
    summary = ComputeSummary(today=today, as_of=as_of)
    fiscal = settings.fiscal_year_start_month
    for name in (*CANONICAL_TABLES, *HISTORY_TABLES):
        tables[name].createOrReplaceTempView(name)
    for table in parameter_tables(settings, grains, as_of, sources, today, zone):
        _table(spark, table)
    made = {t for s in steps() for t in s.creates}
    absent = [t for s in steps() for t in s.reads
              if t not in made and (t not in INPUTS or not spark.catalog.tableExists(t))]
    if absent:
        msg = f"the KPI steps read {absent[0]!r}, which the Spark compute does not make"
        raise ComputeError(msg)
    try:
        from pyspark.errors import PySparkException
    except ImportError:  # pragma: no cover - pyspark < 3.4
        PySparkException = Exception  # type: ignore[misc,assignment]
    step = None
    try:
        by_grain = {g: statements("spark", g, fiscal) for g in grains}
        for step, trees in by_grain[grains[0]] if grains else []:
            if not step.grain:
                _run(spark, step, trees)
            if step.name == "facts":
                _warnings(spark, summary, as_of)
            if step.name == "credit_links":
                summary.warnings.update(credit.flag_warnings(
                    spark.sql(_spark_sql(credit.WARNINGS_SQL)).collect()))
        wides = []
        for grain in grains:
            _table(spark, ParameterTable("kpi_grain", GRAIN_COLUMNS, [[grain, GRAINS[grain]]]))
            for step, trees in by_grain[grain]:
                if step.grain:
                    _run(spark, step, trees)
            step = None
            frame = spark.sql(
                f"SELECT {_literal(grain)} AS grain, "
                f"{_literal(computed_at)} AS computed_at, * FROM kpi_grain_result")
            if date_from:
                first = _period_start(date_from, grain, fiscal)
                frame = frame.where(f"period_start >= {_literal(first)}")
            if date_to:
                frame = frame.where(f"period_start <= {_literal(date_to)}")
            wides.append(_keep(spark, f"kpi_wide_{grain}", frame))
    except PySparkException as exc:
        where = f"step {step.name} ({step.source})" if step else "the KPI result"
        msg = f"{where} on Spark: {str(exc).splitlines()[0]}"
        raise ComputeError(msg) from exc
    wide = wides[0]
    for more in wides[1:]:
        wide = wide.unionByName(more)
    wide.createOrReplaceTempView("kpi_wide")
    counts: dict[str, int] = {r[0]: r[1] for r in spark.sql(_spark_sql(long_rows_sql())).collect()}
    summary.rows = {g: int(counts.get(g, 0)) for g in grains}
    return SparkResult(wide, {"": summary}, computed_at)


def _rows(spark: SparkSession, frame: DataFrame, duckdb_sql: str) -> list[Any]:
    frame.createOrReplaceTempView(CALENDAR)
    return [tuple(r) for r in spark.sql(_spark_sql(duckdb_sql)).collect()]


def _warnings(spark: SparkSession, summary: ComputeSummary, as_of: date) -> None:
    deals_sql, currencies_sql = WARNINGS_SQL
    counts = spark.sql(_spark_sql(deals_sql, as_of=as_of)).collect()[0]
    currencies = [r[0] for r in spark.sql(_spark_sql(currencies_sql)).collect()]
    (summary.deals, summary.warnings, summary.currencies_without_rate,
     summary.latest_close_open_at_as_of) = summary_warnings(tuple(counts), currencies)


def compute_tenants(
    spark: SparkSession,
    tables: Mapping[str, DataFrame],
    settings: Mapping[str, KpiSettings],
    grains: Iterable[str] = ("month", "quarter", "year"),
    **options: Any,
) -> SparkResult:
    """Compute every tenant's KPIs over the union of their canonical tables.

    Each canonical table holds every tenant's rows with a ``tenant`` column (the Parquet layout
    of ``export-canonical --tenant``). Each tenant is computed on its own rows with its own
    settings, one tenant after the other in the same session (each tenant's tables are kept
    before the next starts), so its rows equal its own DuckDB compute.

    Args:
        spark: a session from :func:`session`.
        tables: every canonical table, each with a ``tenant`` column.
        settings: tenant -> its KPI settings (its own config's ``kpis:``); tenants in the
            tables but not here are refused.
        grains: as :func:`compute_spark`.
        **options: ``as_of``, ``date_from``, ``date_to``, ``sources``, ``today`` as
            :func:`compute_spark`, the same for every tenant.

    Returns:
        A :class:`SparkResult` whose ``wide`` has ``tenant`` as its first column and whose
        ``summaries`` are by tenant.

    Raises:
        ComputeError: a table without a ``tenant`` column, a tenant of the data without
            settings, or as :func:`compute_spark` (named with the tenant).
    """
    from pyspark.sql import functions as F

    for name, frame in tables.items():
        if TENANT not in frame.columns:
            msg = f"canonical table {name!r} has no {TENANT!r} column (export-canonical --tenant)"
            raise ComputeError(msg)
    found = {r[0] for name in ("deals", "leads")
             for r in tables[name].select(TENANT).distinct().collect()}
    unknown = sorted(found - set(settings))
    if unknown:
        msg = f"tenant {unknown[0]!r} is in the canonical tables but not in spark.tenants"
        raise ComputeError(msg)
    computed_at = options.pop("computed_at", None) or datetime.now(UTC)
    parts = []
    summaries: dict[str, ComputeSummary] = {}
    for tenant in sorted(settings):
        mine = {n: f.where(F.col(TENANT) == tenant).drop(TENANT) for n, f in tables.items()}
        try:
            result = compute_spark(spark, mine, settings[tenant], grains, computed_at=computed_at,
                                   **options)
        except ComputeError as exc:
            msg = f"tenant {tenant}: {exc}"
            raise ComputeError(msg) from exc
        summaries[tenant] = result.summaries[""]
        parts.append(result.wide.select(F.lit(tenant).alias(TENANT), "*"))
    if not parts:
        msg = "spark.tenants is empty"
        raise ComputeError(msg)
    wide = parts[0]
    for more in parts[1:]:
        wide = wide.unionByName(more)
    return SparkResult(wide, summaries, computed_at)
