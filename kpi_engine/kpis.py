"""Compute the partner KPIs with the SQL in ``kpi_engine/sql/`` and store them in ``kpi_values``.

For each grain (month, quarter, year; quarters and years follow the fiscal year's first month),
every dimension (overall, partner, owner, team, unit, channel) and every period from the first to
the last period holding a creation or close date. Definitions: ``docs/kpis.md`` (kept equal to
:data:`KPIS` by a test) and the header of each ``sql/kpis/*.sql`` file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from importlib import resources

from kpi_engine.errors import ComputeError
from kpi_engine.periods import default_as_of, reporting_today
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store

#: Months per period of each grain.
GRAINS = {"month": 1, "quarter": 3, "year": 12}
DIMENSIONS = ("overall", "partner", "owner", "team", "unit", "channel")


@dataclass(frozen=True)
class Kpi:
    """One KPI: its name, family (the ``sql/kpis`` file whose header defines it) and unit.

    The value a member with nothing to measure gets (0 for counts and money sums, NULL for
    averages and rates) is set in ``sql/prepare/wide.sql``.
    """

    name: str
    family: str
    unit: str


KPIS: tuple[Kpi, ...] = (
    Kpi("deals_won", "deal_count", "deals"),
    Kpi("deals_lost", "deal_count", "deals"),
    Kpi("deals_closed", "deal_count", "deals"),
    Kpi("deals_created", "deal_count", "deals"),
    Kpi("won_amount", "deal_size", "reporting currency"),
    Kpi("average_deal_size", "deal_size", "reporting currency"),
    Kpi("median_deal_size", "deal_size", "reporting currency"),
    Kpi("pipeline_open_count", "pipeline", "deals"),
    Kpi("pipeline_open_amount", "pipeline", "reporting currency"),
    Kpi("pipeline_weighted_amount", "pipeline", "reporting currency"),
    Kpi("pipeline_created_amount", "pipeline", "reporting currency"),
    Kpi("pipeline_change", "pipeline_change", "reporting currency"),
    Kpi("won_amount_share", "channel_share", "ratio 0..1"),
    Kpi("win_rate", "close_rate", "ratio 0..1"),
    Kpi("lead_conversion_rate", "close_rate", "ratio 0..1"),
    Kpi("sales_cycle_days", "velocity", "days"),
    Kpi("sales_velocity", "sales_velocity", "reporting currency per day"),
    Kpi("quality_score", "quality_score", "score 0..100"),
    Kpi("quality_score_change", "quality_score", "score points"),
    Kpi("deal_success_rate", "deal_success", "ratio 0..1"),
)
KPI_NAMES = tuple(k.name for k in KPIS)

# Families in run order: the base families read the facts and the per-grain totals of
# prepare/attribution.sql (members.sql reads those groups and pipeline's pipe_at); the derived
# ones read kpi_wide.
_BASE_FAMILIES = ("pipeline", "deal_count", "deal_size", "close_rate", "velocity", "deal_success")
_DERIVED_FAMILIES = ("pipeline_change", "sales_velocity", "channel_share", "quality_score")


@dataclass
class ComputeSummary:
    """What one compute did and what it had to leave out.

    Attributes:
        rows: kpi_values rows written, per grain.
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
    """

    rows: dict[str, int] = field(default_factory=dict)
    deals: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    currencies_without_rate: list[str] = field(default_factory=list)
    today: date | None = None
    as_of: date | None = None
    latest_close_open_at_as_of: date | None = None

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
        return lines


def _sql(*parts: str) -> str:
    return (resources.files("kpi_engine") / "sql").joinpath(*parts).read_text(encoding="utf-8")


def _period_macros(months: int, fiscal_year_start_month: int) -> str:
    # Absolute month index i = year*12 + month-1; a period starts at the index
    # floor((i - f) / months) * months + f, where f = fiscal_year_start_month - 1.
    # Both numbers are validated integers, so they are safe to write into the SQL text.
    f = int(fiscal_year_start_month) - 1
    m = int(months)
    return f"""
    CREATE OR REPLACE TEMP MACRO period_months() AS {m};
    CREATE OR REPLACE TEMP MACRO period_of(d) AS (
        make_date(
            CAST(((year(d) * 12 + month(d) - 1 - {f}) // {m} * {m} + {f}) // 12 AS BIGINT),
            CAST(((year(d) * 12 + month(d) - 1 - {f}) // {m} * {m} + {f}) % 12 + 1 AS BIGINT),
            1));
    """


def _setup(
    store: Store, settings: KpiSettings, as_of: date | None, sources: Sequence[str] | None,
    today: date | None = None,
) -> None:
    con = store.con
    t_cut = datetime.combine(as_of, time(), tzinfo=UTC) if as_of else None
    con.execute(
        "CREATE OR REPLACE TEMP TABLE kpi_params AS SELECT "
        "?::VARCHAR AS reporting_currency, "
        "coalesce(?::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ) AS t_cut, "
        "coalesce(?::DATE, 'infinity'::DATE) AS cut_date, "
        "?::BOOLEAN AS all_sources, ?::BIGINT AS min_closed_deals, "
        "?::DATE AS compute_date",
        [
            settings.reporting_currency,
            t_cut,
            as_of,
            sources is None,
            settings.quality_score.min_closed_deals,
            today,
        ],
    )
    con.execute("CREATE OR REPLACE TEMP TABLE kpi_sources (source VARCHAR)")
    if sources:
        con.executemany("INSERT INTO kpi_sources VALUES (?)", [[s] for s in sources])
    con.execute("CREATE OR REPLACE TEMP TABLE channel_map (lead_source VARCHAR, channel VARCHAR)")
    pairs = [[src.lower(), ch] for ch, srcs in settings.channels.items() for src in srcs]
    if pairs:
        con.executemany("INSERT INTO channel_map VALUES (?, ?)", pairs)
    con.execute("CREATE OR REPLACE TEMP TABLE quality_weights (metric VARCHAR, weight DOUBLE)")
    con.executemany(
        "INSERT INTO quality_weights VALUES (?, ?)",
        [[m, w] for m, w in settings.quality_score.weights.items()],
    )
    con.execute(_sql("prepare", "dimensions.sql"))
    con.execute(_sql("prepare", "facts.sql"))


def _warnings(store: Store, as_of: date) -> tuple[int, dict[str, int], list[str], date | None]:
    (deals, no_created, no_rate, won_no_amount, cycle_skipped, closed_no_date, open_at_as_of,
     latest) = store.con.execute(
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
        """, {"as_of": as_of}
    ).fetchall()[0]
    currencies = [
        r[0]
        for r in store.con.execute(
            "SELECT DISTINCT currency FROM f_deals WHERE no_rate ORDER BY 1"
        ).fetchall()
    ]
    warnings = {
        "deals_without_created_at": no_created,
        "deals_without_rate": no_rate,
        "won_deals_without_amount": won_no_amount,
        "won_deals_cycle_skipped": cycle_skipped,
        "closed_deals_without_close_date": closed_no_date,
        "closed_deals_open_at_as_of": open_at_as_of,
    }
    return deals, {k: v for k, v in warnings.items() if v}, currencies, latest


def _prepare_pipeline(store: Store, grains: Sequence[str], settings: KpiSettings) -> None:
    # The periods of every grain (kept as periods_<grain>; grain names are validated), then the
    # open pipeline at all their boundaries at once (pipe_all) and the monthly counts and sums
    # every grain sums up (attribution.sql).
    con = store.con
    for grain in grains:
        con.execute(_period_macros(GRAINS[grain], settings.fiscal_year_start_month))
        con.execute(_sql("prepare", "periods.sql"))
        con.execute(f"CREATE OR REPLACE TEMP TABLE periods_{grain} AS SELECT * FROM periods")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE kpi_boundaries AS "
        + " UNION ALL ".join(
            f"SELECT t_end AS t FROM periods_{g} UNION ALL SELECT t_start FROM periods_{g}"
            for g in grains
        )
    )
    con.execute(_sql("prepare", "open_pipeline.sql"))
    con.execute(_sql("prepare", "attribution.sql"))


def _compute_grain(
    store: Store,
    grain: str,
    settings: KpiSettings,
    period_range: tuple[date | None, date | None],
    computed_at: datetime,
) -> int:
    con = store.con
    con.execute(_period_macros(GRAINS[grain], settings.fiscal_year_start_month))
    con.execute(f"CREATE OR REPLACE TEMP TABLE periods AS SELECT * FROM periods_{grain}")
    con.execute(_sql("prepare", "grain_totals.sql"))
    for family in _BASE_FAMILIES:
        con.execute(_sql("kpis", f"{family}.sql"))
    con.execute(_sql("prepare", "members.sql"))
    con.execute(_sql("prepare", "wide.sql"))
    for family in _DERIVED_FAMILIES:
        con.execute(_sql("kpis", f"{family}.sql"))
    con.execute(_sql("prepare", "result.sql"))
    date_from, date_to = period_range
    # replace the grain's periods in the range (all of them without --from/--to)
    con.execute(
        "DELETE FROM kpi_values WHERE grain = ? "
        "AND (?::DATE IS NULL OR period_start >= period_of(?::DATE)) "
        "AND (?::DATE IS NULL OR period_start <= ?::DATE)",
        [grain, date_from, date_from, date_to, date_to],
    )
    con.execute(
        """
        INSERT INTO kpi_values
        SELECT ?, period_start, period_end, dimension, member, member_name, kpi, value, n,
               as_of, ?
        FROM kpi_result
        WHERE (?::DATE IS NULL OR period_start >= period_of(?::DATE))
          AND (?::DATE IS NULL OR period_start <= ?::DATE)
        """,
        [grain, computed_at, date_from, date_from, date_to, date_to],
    )
    (rows,) = con.execute("SELECT count(*) FROM kpi_values WHERE grain = ?", [grain]).fetchall()[0]
    return int(rows)


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
    """Compute every KPI for the given grains and replace their rows in ``kpi_values``.

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
            outside ``date_from``..``date_to`` stay in ``kpi_values`` as they were.
        sources: only deals and leads of these sources (default: all).
        today: the date in the reporting time zone (default: the clock's,
            :func:`kpi_engine.periods.reporting_today`).

    Returns:
        A :class:`ComputeSummary` with rows written and warnings.

    Raises:
        ComputeError: an unknown grain, or ``date_from`` after ``date_to``.
        PeriodError: ``as_of`` after today.
    """
    grains = list(dict.fromkeys(grains))
    unknown = [g for g in grains if g not in GRAINS]
    if unknown:
        msg = f"unknown grain {unknown[0]!r}: use {', '.join(GRAINS)}"
        raise ComputeError(msg)
    if date_from and date_to and date_from > date_to:
        msg = f"--from {date_from} is after --to {date_to}"
        raise ComputeError(msg)
    today = today or reporting_today(settings.reporting_timezone)
    as_of = default_as_of(as_of, today)
    summary = ComputeSummary(today=today, as_of=as_of)
    computed_at = datetime.now(UTC)
    with store.transaction():
        _setup(store, settings, as_of, sources, today)
        (summary.deals, summary.warnings, summary.currencies_without_rate,
         summary.latest_close_open_at_as_of) = _warnings(store, as_of)
        _prepare_pipeline(store, grains, settings)
        for grain in grains:
            summary.rows[grain] = _compute_grain(
                store, grain, settings, (date_from, date_to), computed_at
            )
            store.con.execute(
                "INSERT INTO kpi_runs VALUES (?, ?, ?, ?, ?)",
                [
                    computed_at,
                    grain,
                    as_of,
                    summary.rows[grain],
                    str(summary.warnings).replace("'", '"'),
                ],
            )
    return summary
