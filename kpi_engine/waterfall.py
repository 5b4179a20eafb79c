"""The pipeline waterfall's drill-down: the deals of each bucket of one period and member.

The waterfall KPIs (``waterfall_start`` ... ``waterfall_end``, docs/kpis.md "Pipeline
waterfall") are sums over deals; :func:`drilldown` lists those deals with their close date and
amount at both ends of the period, so each bucket can be checked deal by deal. It runs the KPI
steps that make ``wf_deals`` (and only those) for the one grain, at the cut of the grain's latest
compute (``kpi_runs.as_of``), so its deals sum exactly to the stored values of that compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO

from kpi_engine import kpis
from kpi_engine.calendar import reporting_zone
from kpi_engine.errors import EngineError
from kpi_engine.parameters import write_duckdb
from kpi_engine.periods import reporting_today
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store

BUCKETS = ("start", "created", "pulled_in", "increased", "decreased", "pushed_out", "lost", "won",
           "end")
#: The KPIs of the waterfall, in bucket order; ``export --kpi pipeline_waterfall`` selects them.
WATERFALL_KPIS = tuple(f"waterfall_{b}" for b in BUCKETS)
GROUP = "pipeline_waterfall"
#: The buckets subtracted in the balance.
SUBTRACTED = ("decreased", "pushed_out", "lost", "won")

_MEMBER_COLUMN = {"partner": "p_id", "owner": "o_id", "team": "t_id", "unit": "u_id",
                  "channel": "c_id"}
DEAL_COLUMNS = ("bucket", "source", "deal_id", "deal_name", "amount", "close_date_start",
                "close_date_end", "amount_start", "amount_end")


@dataclass(frozen=True)
class BucketDeal:
    """One deal in one bucket of a period's waterfall.

    Attributes:
        bucket: ``start``, ``created``, ... ``end`` (:data:`BUCKETS`).
        source, deal_id, deal_name: the deal.
        amount: what it adds to the bucket (reporting currency, >= 0; an unknown amount 0).
        close_date_start, close_date_end: its close date in force at the period's start and end.
        amount_start, amount_end: its amount in force then (reporting currency; None: unknown).
    """

    bucket: str
    source: str
    deal_id: str
    deal_name: str | None
    amount: Decimal
    close_date_start: date | None
    close_date_end: date | None
    amount_start: Decimal | None
    amount_end: Decimal | None


def _needed(chain: list[kpis.Step], table: str) -> list[kpis.Step]:
    made_by = {t: s for s in chain for t in s.creates}
    need: set[str] = set()
    todo = [made_by[table].name]
    while todo:
        name = todo.pop()
        if name in need:
            continue
        need.add(name)
        step = next(s for s in chain if s.name == name)
        todo += [made_by[t].name for t in step.reads if t in made_by]
    return [s for s in chain if s.name in need]


def drilldown(
    store: Store, settings: KpiSettings, grain: str, period_start: date, dimension: str,
    member: str, *, today: date | None = None,
) -> list[BucketDeal]:
    """The deals of every bucket of one period's waterfall for one member.

    Args:
        store: the store (read-only is enough: the work is in temporary tables).
        settings: the KPI settings of the compute (reporting currency, fiscal year).
        grain: ``month``, ``quarter`` or ``year``.
        period_start: the first day of the period.
        dimension: ``overall`` (member ``all``) or a dimension of :data:`kpis.DIMENSIONS`.
        member: the member id, as in ``kpi_values.member``.
        today: the date in the reporting time zone (default: the clock's).

    Returns:
        The deals, in bucket order then by source and deal id; per bucket their ``amount``
        sums to the stored ``waterfall_<bucket>`` and their count is its n.

    Raises:
        EngineError: the grain has never been computed, or the dimension is unknown.
    """
    if dimension not in kpis.DIMENSIONS:
        msg = f"unknown dimension {dimension!r}: use {', '.join(kpis.DIMENSIONS)}"
        raise EngineError(msg)
    runs = store.con.execute(
        "SELECT as_of FROM kpi_runs WHERE grain = ? ORDER BY computed_at DESC LIMIT 1", [grain]
    ).fetchall()
    if not runs:
        msg = f"no {grain} KPIs computed yet: run partnerkpi compute first"
        raise EngineError(msg)
    chain = _needed(kpis.steps(), "wf_deals")
    zone = reporting_zone(store, settings.reporting_timezone)
    today = today or reporting_today(zone)
    store.con.execute(kpis._sql("macros", "duckdb.sql"))
    kpis._zone_macros(store, zone)
    write_duckdb(store, kpis.parameter_tables(settings, [grain], runs[0][0], None, today, zone))
    try:
        for step in chain:
            if not step.grain:
                store.con.execute(step.sql)
        kpis._grain_macros(store, grain, settings)
        for step in chain:
            if step.grain:
                store.con.execute(step.sql)
        where = "true" if dimension == "overall" else f"w.{_MEMBER_COLUMN[dimension]} = m.mid"
        buckets = " UNION ALL ".join(
            f"SELECT '{b}' AS bucket, {i} AS k, * FROM chosen WHERE b_{b} IS NOT NULL"
            for i, b in enumerate(BUCKETS))
        amount = "CASE bucket " + " ".join(f"WHEN '{b}' THEN b_{b}" for b in BUCKETS) + " END"
        rows = store.con.execute(
            f"""
            WITH chosen AS (
                SELECT w.* FROM wf_deals w
                JOIN dim_members m ON m.dimension = ? AND m.member = ?
                WHERE w.period_start = ? AND {where}
            ),
            listed AS ({buckets})
            SELECT l.bucket, l.source, l.deal_id, d.name, {amount}, l.close_start, l.close_end,
                   l.amount_start, l.amount_end
            FROM listed l
            JOIN deals d ON d.source = l.source AND d.deal_id = l.deal_id
            ORDER BY l.k, l.source, l.deal_id
            """,
            [dimension, "all" if dimension == "overall" else member, period_start],
        ).fetchall()
    finally:
        kpis._drop_temporaries(store, chain)
    return [BucketDeal(*row) for row in rows]


def export_deals(
    store: Store, settings: KpiSettings, fmt: str, output: str | Path | IO[str], *,
    grain: str, period: str | date, dimension: str, member: str, today: date | None = None,
) -> int:
    """Write the drill-down of one period's waterfall (:func:`drilldown`) as CSV or JSON.

    Columns :data:`DEAL_COLUMNS`. ``period``: ``latest``, ``current`` or a date (the period
    holding it), as for ``export``.

    Returns:
        The number of deals written (a deal in several buckets counts once per bucket).

    Raises:
        EngineError: parquet asked for, no such period computed, or the file cannot be written.
    """
    from kpi_engine.export import write_rows
    from kpi_engine.periods import choose_period

    if fmt not in ("csv", "json"):
        msg = f"--deals writes csv or json, not {fmt}"
        raise EngineError(msg)
    today = today or reporting_today(reporting_zone(store, settings.reporting_timezone))
    chosen = choose_period(store, grain, period, today=today)
    if chosen is None:
        msg = f"no {grain} period {period} computed: run partnerkpi compute first"
        raise EngineError(msg)
    deals = drilldown(store, settings, grain, chosen.start, dimension, member, today=today)
    rows = ([getattr(r, c) for c in DEAL_COLUMNS] for r in deals)
    return write_rows(fmt, rows, output, DEAL_COLUMNS)
