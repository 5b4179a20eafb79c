"""The KPI registry: every KPI the engine computes, and the SQL generated from it.

One :class:`Kpi` per KPI, in the order of ``docs/kpis.md`` (a test keeps the two equal, and
each KPI's family file in ``sql/kpis/`` names it in its header and creates its columns). From
this list come:

- the columns of the stored wide result ``kpi_wide`` (:func:`wide_columns`): per KPI a typed
  value column ``<kpi>`` and its ``<kpi>_n``;
- the per-grain joins of the family tables (:func:`base_wide_sql`, :func:`result_sql`, the
  generated ``wide`` and ``result`` steps of ``kpis.py``);
- the long form ``kpi_values`` (:func:`kpi_values_view_sql`): one row per KPI of each wide row,
  value ``DECIMAL(38, 10)``, n ``BIGINT``.

Adding a KPI: its columns in a family file (``sql/kpis/<family>.sql``, named in the header's
``creates`` table), one entry here, one ``### <kpi>`` section in ``docs/kpis.md``. The store
adds the new columns to ``kpi_wide`` and rebuilds the views when it is opened for writing.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The SQL type of a value column, by unit: counts are integers, money an exact decimal
#: (DECIMAL(38, 10): sums exact, averages rounded to 10 places), ratios, days and scores a
#: decimal rounded to 10 places that needs fewer digits (|value| < 10^8).
_COUNT_UNITS = ("deals",)
_MONEY_UNITS = ("reporting currency", "reporting currency per day")
VALUE_TYPE = "DECIMAL(38, 10)"
SMALL_TYPE = "DECIMAL(18, 10)"
COUNT_TYPE = "INTEGER"


@dataclass(frozen=True)
class Kpi:
    """One KPI.

    Attributes:
        name: the KPI's name: its ``kpi_values.kpi`` and its ``kpi_wide`` column.
        family: the ``sql/kpis`` file whose header defines it.
        table: the temporary table that family creates with columns ``<name>`` and ``<name>_n``
            (one row per period_start and member number ``mid``).
        unit: ``deals``, ``reporting currency``, ``ratio 0..1``, ``days``, ...
        empty: the value of a member the family has no row for (``0`` for counts and money
            sums; None = NULL for averages and rates); its n is then 0.
        overall: whether the ``overall`` member gets the KPI (the quality score ranks members
            against each other, so overall has none).
    """

    name: str
    family: str
    table: str
    unit: str
    empty: int | None = None
    overall: bool = True

    @property
    def sql_type(self) -> str:
        """The type of the KPI's ``kpi_wide`` column."""
        if self.unit in _COUNT_UNITS:
            return COUNT_TYPE
        return VALUE_TYPE if self.unit in _MONEY_UNITS else SMALL_TYPE


KPIS: tuple[Kpi, ...] = (
    Kpi("deals_won", "deal_count", "fam_closed", "deals", 0),
    Kpi("deals_lost", "deal_count", "fam_closed", "deals", 0),
    Kpi("deals_closed", "deal_count", "fam_closed", "deals", 0),
    Kpi("deals_created", "deal_count", "fam_created", "deals", 0),
    Kpi("won_amount", "deal_size", "fam_won_amount", "reporting currency", 0),
    Kpi("average_deal_size", "deal_size", "fam_won_amount", "reporting currency"),
    Kpi("median_deal_size", "deal_size", "fam_won_amount", "reporting currency"),
    Kpi("pipeline_open_count", "pipeline", "fam_pipeline_end", "deals", 0),
    Kpi("pipeline_open_amount", "pipeline", "fam_pipeline_end", "reporting currency", 0),
    Kpi("pipeline_weighted_amount", "pipeline", "fam_pipeline_end", "reporting currency", 0),
    Kpi("pipeline_created_amount", "pipeline", "fam_pipeline_created", "reporting currency", 0),
    Kpi("pipeline_change", "pipeline_change", "fam_pipeline_change", "reporting currency"),
    Kpi("won_amount_share", "channel_share", "fam_channel_share", "ratio 0..1"),
    Kpi("win_rate", "close_rate", "fam_win_rate", "ratio 0..1"),
    Kpi("lead_conversion_rate", "close_rate", "fam_leads", "ratio 0..1"),
    Kpi("sales_cycle_days", "velocity", "fam_cycle", "days"),
    Kpi("sales_velocity", "sales_velocity", "fam_sales_velocity", "reporting currency per day"),
    Kpi("quality_score", "quality_score", "fam_quality", "score 0..100", overall=False),
    Kpi("quality_score_change", "quality_score", "fam_quality", "score points", overall=False),
    Kpi("deal_success_rate", "deal_success", "fam_success", "ratio 0..1"),
    *(Kpi(f"waterfall_{bucket}", "pipeline_waterfall", "fam_waterfall", "reporting currency", 0)
      for bucket in ("start", "created", "pulled_in", "increased", "decreased", "pushed_out",
                     "lost", "won", "end")),
)
KPI_NAMES = tuple(k.name for k in KPIS)

#: The columns of ``kpi_wide`` before the KPI columns: name -> type (the key is grain,
#: period_start, dimension, member).
KEY_COLUMNS: dict[str, str] = {
    "grain": "VARCHAR NOT NULL",
    "period_start": "DATE NOT NULL",
    "period_end": "DATE NOT NULL",
    "dimension": "VARCHAR NOT NULL",
    "member": "VARCHAR NOT NULL",
    "member_name": "VARCHAR",
    "as_of": "DATE NOT NULL",
    "complete": "BOOLEAN NOT NULL",
    "computed_at": "TIMESTAMPTZ NOT NULL",
}


def wide_columns() -> dict[str, str]:
    """The KPI columns of ``kpi_wide``, in order: ``<kpi>`` (its type), ``<kpi>_n`` (INTEGER)."""
    columns: dict[str, str] = {}
    for kpi in KPIS:
        columns[kpi.name] = kpi.sql_type
        columns[f"{kpi.name}_n"] = COUNT_TYPE
    return columns


def _empty(kpi: Kpi) -> str:
    return "NULL" if kpi.empty is None else str(kpi.empty)


def _aliases(kpis: list[Kpi]) -> dict[str, str]:
    # one alias per family table, in first-use order
    return {t: f"t{i}" for i, t in enumerate(dict.fromkeys(k.table for k in kpis))}


def base_wide_sql(base: list[Kpi]) -> str:
    """The generated ``wide`` step: ``kpi_base``, one row per ``members`` row with every base KPI.

    A member a family has no row for takes the KPI's empty value with n = 0 (a NULL value in a
    family's row stays NULL: unknown is not zero).
    """
    alias = _aliases(base)
    cols = []
    for k in base:
        a = alias[k.table]
        value = f"{a}.{k.name}" if k.empty is None else (
            f"CASE WHEN {a}.mid IS NULL THEN {_empty(k)} ELSE {a}.{k.name} END")
        cols.append(f"    CAST({value} AS {k.sql_type}) AS {k.name}")
        cols.append(f"    CAST(coalesce({a}.{k.name}_n, 0) AS {COUNT_TYPE}) AS {k.name}_n")
    joins = [
        f"LEFT JOIN {t} {a} ON {a}.period_start = m.period_start AND {a}.mid = m.mid"
        for t, a in alias.items()
    ]
    return (
        "CREATE OR REPLACE TEMP TABLE kpi_base AS\nSELECT\n    m.period_start, m.mid,\n"
        + ",\n".join(cols)
        + "\nFROM members m\n"
        + "\n".join(joins)
        + ";\n"
    )


def result_sql(base: list[Kpi], derived: list[Kpi]) -> str:
    """The generated ``result`` step: ``kpi_grain_result``, the grain's rows of ``kpi_wide``.

    ``kpi_base`` joined to the derived families' tables (into ``kpi_grain_all`` first: joined
    together with the periods and members, DuckDB's join order builds its hash tables on the
    wide rows), then the period's dates and the member's names; ``complete`` = the period was
    measured to its end (``as_of = period_end``) and ended on or before the compute day
    (``kpi_params.compute_date``). Columns: those of ``kpi_wide`` but ``grain`` and
    ``computed_at`` (``kpis.py`` adds them when inserting).
    """
    alias = _aliases(derived)
    derived_cols = [
        f"    CAST({alias[k.table]}.{k.name} AS {k.sql_type}) AS {k.name}, "
        f"CAST({alias[k.table]}.{k.name}_n AS {COUNT_TYPE}) AS {k.name}_n"
        for k in derived
    ]
    joins = [
        f"LEFT JOIN {t} {a} ON {a}.period_start = b.period_start AND {a}.mid = b.mid"
        for t, a in alias.items()
    ]
    columns = [f"x.{k.name}, x.{k.name}_n" for k in (*base, *derived)]
    return (
        "CREATE OR REPLACE TEMP TABLE kpi_grain_all AS\nSELECT\n    b.*,\n"
        + ",\n".join(derived_cols)
        + "\nFROM kpi_base b\n"
        + "\n".join(joins)
        + ";\n\n"
        "CREATE OR REPLACE TEMP TABLE kpi_grain_result AS\nSELECT\n"
        "    p.period_start, p.period_end, dm.dimension, dm.member, dm.member_name,\n"
        "    utc_day(p.t_end) AS as_of,\n"
        "    utc_day(p.t_end) = p.period_end AND p.period_end <= k.compute_date AS complete,\n"
        "    " + ",\n    ".join(columns)
        + "\nFROM kpi_grain_all x\n"
        "JOIN periods p ON p.period_start = x.period_start\n"
        "JOIN dim_members dm ON dm.mid = x.mid\n"
        "CROSS JOIN kpi_params k;\n\n"
        "DROP TABLE kpi_grain_all;\n"
    )


def kpi_values_view_sql() -> str:
    """The ``kpi_values`` view: the long form of ``kpi_wide``, one row per (wide row, KPI).

    Columns as the ``kpi_values`` table had them: grain, period_start, period_end, dimension,
    member, member_name, kpi, value (DECIMAL(38, 10)), n (BIGINT), as_of, computed_at. A KPI
    whose n is NULL in a wide row has no row there (the overall member's quality score; a KPI
    added after the row was computed).
    """
    parts = []
    for k in KPIS:
        where = f" WHERE {k.name}_n IS NOT NULL"
        parts.append(
            "SELECT grain, period_start, period_end, dimension, member, member_name, "
            f"'{k.name}' AS kpi, CAST({k.name} AS {VALUE_TYPE}) AS value, "
            f"CAST({k.name}_n AS BIGINT) AS n, as_of, computed_at FROM kpi_wide{where}"
        )
    return "CREATE OR REPLACE VIEW kpi_values AS\n" + "\nUNION ALL\n".join(parts) + ";\n"


def long_rows_sql() -> str:
    """A SELECT of the ``kpi_values`` rows per grain held by ``kpi_wide`` (no view scan)."""
    terms = " + ".join(
        "count(*)" if k.overall else "count(*) FILTER (WHERE dimension <> 'overall')" for k in KPIS
    )
    return f"SELECT grain, CAST({terms} AS BIGINT) FROM kpi_wide GROUP BY grain"


#: The period-over-period columns of each KPI in ``bi.kpi_changes``: ``<prefix>_<kpi>``.
CHANGE_PREFIXES = ("previous", "change", "change_ratio", "year_ago", "yoy_change", "yoy_ratio")
CHANGE_RATIO_TYPE = "DECIMAL(38, 10)"


def change_columns() -> list[str]:
    """The KPI columns of ``bi.kpi_changes``, in order: per KPI ``<kpi>`` then its changes."""
    return [c for k in KPIS for c in (k.name, *(f"{s}_{k.name}" for s in CHANGE_PREFIXES))]


def _earlier_value(k: Kpi, alias: str, periods: str) -> str:
    # the member's value in the earlier period; without a row there, the KPI's empty value when
    # that period was computed (the member had nothing in it), else NULL (before the data)
    empty = _empty(k)
    return (f"CASE WHEN {alias}.member IS NOT NULL THEN {alias}.{k.name} "
            f"WHEN {periods}.grain IS NOT NULL THEN CAST({empty} AS {k.sql_type}) END")


def change_view_sql() -> str:
    """``bi.kpi_changes``: every ``kpi_wide`` row with each KPI's change against the previous
    period and against the same period a year earlier.

    Per KPI: ``<kpi>``, ``previous_<kpi>`` (its value in the previous period of the grain: the
    one ending where this one starts), ``change_<kpi>`` (value - previous), ``change_ratio_<kpi>``
    (change / previous, rounded to 10 places; NULL when previous is 0 or NULL),
    ``year_ago_<kpi>``, ``yoy_change_<kpi>`` and ``yoy_ratio_<kpi>`` (the same against the
    period starting a year earlier). A member without a row in the earlier period takes the
    KPI's empty value there (0 for counts and sums, NULL for rates) when that period was
    computed, else NULL.
    """
    cols = []
    for k in KPIS:
        prev = _earlier_value(k, "p", "pp")
        year = _earlier_value(k, "y", "yp")
        cols.append(f"    w.{k.name}")
        for name, earlier in (("previous", prev), ("year_ago", year)):
            cols.append(f"    {earlier} AS {name}_{k.name}")
        for change, earlier in (("change", prev), ("yoy_change", year)):
            ratio = "change_ratio" if change == "change" else "yoy_ratio"
            cols.append(f"    w.{k.name} - ({earlier}) AS {change}_{k.name}")
            cols.append(
                f"    CAST(CASE WHEN ({earlier}) <> 0 THEN (w.{k.name} - ({earlier})) / "
                f"({earlier}) END AS {CHANGE_RATIO_TYPE}) AS {ratio}_{k.name}")
    order = ", ".join(change_columns())
    return (
        "CREATE OR REPLACE VIEW bi.kpi_changes AS\n"
        "WITH computed AS (SELECT DISTINCT grain, period_start, period_end FROM main.kpi_wide),\n"
        "x AS (\nSELECT w.grain, w.period_start, w.period_end, w.dimension, w.member, "
        "w.member_name, w.as_of, w.complete,\n"
        + ",\n".join(cols)
        + ",\n    w.computed_at\n"
        "FROM main.kpi_wide w\n"
        "LEFT JOIN computed pp ON pp.grain = w.grain AND pp.period_end = w.period_start\n"
        "LEFT JOIN main.kpi_wide p ON p.grain = w.grain AND p.period_end = w.period_start\n"
        "     AND p.dimension = w.dimension AND p.member = w.member\n"
        "LEFT JOIN computed yp ON yp.grain = w.grain\n"
        "     AND yp.period_start = CAST(w.period_start - INTERVAL 1 YEAR AS DATE)\n"
        "LEFT JOIN main.kpi_wide y ON y.grain = w.grain\n"
        "     AND y.period_start = CAST(w.period_start - INTERVAL 1 YEAR AS DATE)\n"
        "     AND y.dimension = w.dimension AND y.member = w.member\n)\n"
        "SELECT grain, period_start, period_end, dimension, member, member_name, as_of, complete, "
        f"{order}, computed_at FROM x;\n"
    )


def value_changes_view_sql() -> str:
    """``kpi_value_changes``: ``kpi_values`` with each row's changes (what ``export --change``
    writes): its columns plus ``previous``, ``change``, ``change_ratio``, ``year_ago``,
    ``yoy_change``, ``yoy_ratio`` (DECIMAL(38, 10)), as in :func:`change_view_sql`."""
    empties = " ".join(f"WHEN '{k.name}' THEN {_empty(k)}" for k in KPIS if k.empty is not None)
    cols = []
    for name, alias, periods in (("previous", "p", "pp"), ("year_ago", "y", "yp")):
        cols.append(f"CASE WHEN {alias}.kpi IS NOT NULL THEN {alias}.value "
                    f"WHEN {periods}.grain IS NOT NULL THEN CAST(CASE v.kpi {empties} END "
                    f"AS {VALUE_TYPE}) END AS {name}")
    return (
        "CREATE OR REPLACE VIEW kpi_value_changes AS\n"
        "WITH computed AS (SELECT DISTINCT grain, period_start, period_end FROM main.kpi_wide),\n"
        "x AS (\nSELECT v.*, " + ", ".join(cols) + "\n"
        "FROM main.kpi_values v\n"
        "LEFT JOIN computed pp ON pp.grain = v.grain AND pp.period_end = v.period_start\n"
        "LEFT JOIN main.kpi_values p ON p.grain = v.grain AND p.period_end = v.period_start\n"
        "     AND p.dimension = v.dimension AND p.member = v.member AND p.kpi = v.kpi\n"
        "LEFT JOIN computed yp ON yp.grain = v.grain\n"
        "     AND yp.period_start = CAST(v.period_start - INTERVAL 1 YEAR AS DATE)\n"
        "LEFT JOIN main.kpi_values y ON y.grain = v.grain\n"
        "     AND y.period_start = CAST(v.period_start - INTERVAL 1 YEAR AS DATE)\n"
        "     AND y.dimension = v.dimension AND y.member = v.member AND y.kpi = v.kpi\n)\n"
        "SELECT *, value - previous AS change,\n"
        "       CAST(CASE WHEN previous <> 0 THEN (value - previous) / previous END "
        f"AS {VALUE_TYPE}) AS change_ratio,\n"
        "       value - year_ago AS yoy_change,\n"
        "       CAST(CASE WHEN year_ago <> 0 THEN (value - year_ago) / year_ago END "
        f"AS {VALUE_TYPE}) AS yoy_ratio\n"
        "FROM x;\n"
    )
