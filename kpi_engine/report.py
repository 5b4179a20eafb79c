"""The partner report: one self-contained HTML page (``partnerkpi report``).

For one grain, period and dimension: the data's coverage (sources, last sync, as-of, deals,
compute warnings), the leaderboard (ranked by :func:`kpi_engine.leaderboard.leaderboard`, the
same code as the terminal) with the change against the previous period, and six charts: quality
score by member, win rate and average deal size over time, open and weighted pipeline at period
end, won amount by channel and the sales-cycle distribution of won deals.

Every value comes from ``kpi_values`` except the sales-cycle distribution, which reads the
canonical ``deals`` table (one row per won deal; its mean is the period's ``sales_cycle_days``).
Charts are plotly figures; plotly.js (about 4.8 MB) is embedded once, so the page opens with no
network. KPI definitions quote ``docs/kpis.md`` (shipped as package data, see
:data:`DEFINITIONS_FILE`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, TypedDict, Unpack

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

from kpi_engine.calendar import reporting_zone
from kpi_engine.errors import EngineError
from kpi_engine.leaderboard import LEADERBOARD_KPIS, LeaderRow, leaderboard
from kpi_engine.periods import (
    CURRENT,
    LATEST,
    Period,
    choose_period,
    reporting_today,
    short_label,
)
from kpi_engine.report_credit import (
    CreditData,
    baseline_chart,
    credit_columns,
    credit_data,
    credit_definitions,
)
from kpi_engine.report_waterfall import waterfall_chart, waterfall_series, year_over_year
from kpi_engine.settings import KpiSettings
from kpi_engine.status import store_status
from kpi_engine.store import Store

#: docs/kpis.md as shipped in the package: ``kpi_engine/kpis.md`` is a link to it, so there is
#: one copy (a wheel carries the linked file's text).
DEFINITIONS_FILE = "kpis.md"
#: Members drawn as their own line in the over-time charts; the rest are summed as "others".
TOP_MEMBERS = 5
#: Members drawn in the bar charts (all of them are in the table).
MAX_BARS = 25
#: Periods drawn in the over-time charts, ending with the report's period.
TREND_PERIODS = 8
#: The missing-value members (no partner, owner, team or unit; channel unknown): shown in the
#: table, never ranked, never in the over-time charts.
MISSING_MEMBERS = frozenset({"none", "unknown"})
CHANNEL_ORDER = ("paid", "earned", "owned", "partner", "unknown")
_OTHERS = "others"

_WARNINGS = {
    "deals_without_created_at": "{n} deals have no created date: left out of deals created, "
                                "the pipeline, the sales cycle and deal success",
    "deals_without_rate": "{n} deals are in a currency with no rate to {currency}: left out of "
                          "the amount KPIs",
    "won_deals_without_amount": "{n} won deals have no amount: left out of the amount KPIs",
    "won_deals_cycle_skipped": "{n} won deals have no created date or close before it: left out "
                               "of the sales cycle",
    "closed_deals_without_close_date": "{n} closed deals have no close date: left out of the "
                                       "outcome KPIs",
    "closed_deals_open_at_as_of": "{n} closed deal(s) have a close date on or after the day the "
                                  "pipeline was measured: counted as open until then",
    # the name of the same count in computes before it followed --as-of
    "closed_deals_after_today": "{n} closed deal(s) have a close date after the day of the "
                                "compute: counted as open until then",
}


class ReportError(EngineError):
    """The report cannot be built: nothing computed, or no such period."""


@dataclass
class SourceCoverage:
    """One source in the store: live deals, and its last sync run (UTC)."""

    source: str
    deals: int
    deleted: int
    last_sync: datetime | None
    status: str | None


@dataclass
class ReportData:
    """Everything the page shows, as plain values (Decimals for KPI values).

    Attributes:
        period_end: exclusive, like ``kpi_values.period_end``.
        as_of: the day the period's pipeline was measured (``kpi_values.as_of``).
        complete: the period ended on or before today and was computed to its end; else it is
            shown "to date" (:mod:`kpi_engine.periods`).
        period_label: ``quarter 2017-10-01 to 2017-12-31`` or ``quarter 2026-10-01 to date
            (as at 2026-12-03)``.
        overall: the ``overall`` member's KPI values in the period (deals won, closed, ...).
        open_with_amount: deals open at period end that have an amount (the n of the overall
            ``pipeline_open_amount``).
        changes: member -> KPI -> value(P) minus value(previous period); None when either is
            missing. ``quality_score`` is the stored ``quality_score_change``.
        trends: KPI (``win_rate``, ``average_deal_size``) -> series name -> one value per
            :attr:`trend_periods` (None where the member had no value).
        pipeline: (member name, open amount, weighted amount) at period end, largest open first.
        pipeline_counts: (member name, deals open) at period end, most first: the pipeline
            chart draws these when no open deal has an amount.
        channels: (channel, won amount) in :data:`CHANNEL_ORDER`, then any other channel.
        cycle_days: sales cycle in days of each won deal closed in P (sorted).
        definitions: KPI -> the wording of its ``docs/kpis.md`` section.
    """

    grain: str
    dimension: str
    period_start: date
    period_end: date
    previous_start: date | None
    as_of: date
    complete: bool
    period_label: str
    computed_at: datetime | None
    currency: str
    min_closed_deals: int
    quality_weights: dict[str, float]
    sources: list[SourceCoverage]
    deals_live: int
    overall: dict[str, Decimal | None]
    open_with_amount: int
    warnings: list[str]
    leaderboard: list[LeaderRow]
    changes: dict[str, dict[str, Decimal | None]]
    trend_periods: list[date]
    trends: dict[str, dict[str, list[Decimal | None]]]
    pipeline: list[tuple[str, Decimal, Decimal]]
    channels: list[tuple[str, Decimal]]
    cycle_days: list[int]
    definitions: dict[str, str] = field(default_factory=dict)
    pipeline_counts: list[tuple[str, int]] = field(default_factory=list)
    #: series (``All``, then the leaderboard's members) -> bucket -> (amount, deals)
    waterfall: dict[str, dict[str, tuple[Decimal, int]]] = field(default_factory=dict)
    #: member -> KPI of :data:`YOY_COLUMNS` -> (value minus the value a year earlier, that
    #: change / the earlier value); None: unknown
    yoy: dict[str, dict[str, tuple[Decimal | None, Decimal | None]]] = field(
        default_factory=dict)
    year_ago_start: date | None = None
    credit: CreditData | None = None  # the partner dimension only (kpi_engine/report_credit.py)


class ReportOptions(TypedDict, total=False):
    """What a report shows (the keyword arguments of :func:`report_data`, passed on by
    :func:`build_report` and :func:`write_report`)."""

    grain: str
    period: str | date
    dimension: str
    today: date | None


def kpi_definitions(text: str | None = None) -> dict[str, str]:
    """The ``### <kpi>`` sections of docs/kpis.md, one line each (whitespace collapsed).

    Args:
        text: the markdown; default: the copy shipped in the package.
    """
    if text is None:
        text = (resources.files("kpi_engine") / DEFINITIONS_FILE).read_text(encoding="utf-8")
    sections = re.findall(r"^### (\w+)\n(.*?)(?=^#|\Z)", text, flags=re.MULTILINE | re.DOTALL)
    return {name: " ".join(body.split()) for name, body in sections}


def _resolve_period(store: Store, grain: str, period: str | date, today: date) -> Period:
    chosen = choose_period(store, grain, period, today=today)
    if chosen is not None:
        return chosen
    which = period if period in (LATEST, CURRENT) or isinstance(period, date) else (
        date.fromisoformat(period))
    row = store.con.execute(
        "SELECT min(period_start), max(period_end) - 1 FROM kpi_values WHERE grain = ?", [grain],
    ).fetchone()
    assert row is not None  # an aggregate: always one row
    first, last = row
    if first is None:
        msg = f"no {grain} KPIs in the store: run partnerkpi compute first"
    elif which == LATEST:
        msg = (f"no complete {grain} in the store yet (computed: {first} to {last}; today is "
               f"{today}): pass --period current for the {grain} in progress, to date")
    elif which == CURRENT:
        ran = store.con.execute(
            "SELECT as_of FROM kpi_runs WHERE grain = ? ORDER BY computed_at DESC LIMIT 1",
            [grain]).fetchone()
        as_of = ran[0] if ran else None
        if as_of is not None and as_of >= today:  # computed to date: the period is empty
            msg = (f"no {grain} holding today ({today}) in the store: the last compute (as at "
                   f"{as_of}) found no deal created, closed or open in it (computed: {first} "
                   f"to {last}); pass --period latest for the latest complete {grain}")
        else:
            msg = (f"no {grain} holding today ({today}) in the store: the last compute was as "
                   f"at {as_of} (computed: {first} to {last}); run partnerkpi compute")
    else:
        msg = (f"no {grain} holding {which} in the store (computed: {first} to {last}); "
               "pick a date in that range or run partnerkpi compute")
    raise ReportError(msg)


def _coverage(store: Store) -> tuple[list[SourceCoverage], int]:
    status = store_status(store)
    last: dict[str, tuple[datetime | None, str | None]] = {}
    for stream in status.streams:
        last[stream["source"]] = (stream["last_run_finished"], stream["last_run_status"])
    sources = sorted({src for (_, src) in status.rows} | set(last))
    coverage = []
    for src in sources:
        total, gone = status.rows.get(("deals", src), (0, 0))
        finished, run_status = last.get(src, (None, None))
        coverage.append(SourceCoverage(src, total - gone, gone, finished, run_status))
    return coverage, sum(c.deals for c in coverage)


def _compute_warnings(store: Store, grain: str, currency: str) -> tuple[datetime | None, list[str]]:
    row = store.con.execute(
        "SELECT computed_at, warnings FROM kpi_runs WHERE grain = ? "
        "ORDER BY computed_at DESC LIMIT 1", [grain],
    ).fetchone()
    if row is None:
        return None, []
    counts = json.loads(row[1]) if row[1] else {}
    lines = []
    for reason, n in counts.items():
        template = _WARNINGS.get(reason, "{n} " + reason.replace("_", " "))
        lines.append(template.format(n=f"{n:,}", currency=currency))
    return row[0], lines


def _kpi_map(
    store: Store, grain: str, start: date, dimension: str, member: str
) -> dict[str, Decimal | None]:
    return dict(store.con.execute(
        "SELECT kpi, value FROM kpi_values "
        "WHERE grain = ? AND period_start = ? AND dimension = ? AND member = ?",
        [grain, start, dimension, member],
    ).fetchall())


def _open_with_amount(store: Store, grain: str, start: date) -> int:
    row = store.con.execute(
        "SELECT n FROM kpi_values WHERE grain = ? AND period_start = ? AND dimension = 'overall' "
        "AND kpi = 'pipeline_open_amount'", [grain, start],
    ).fetchone()
    return int(row[0]) if row else 0


def _changes(
    current: list[LeaderRow], previous: list[LeaderRow]
) -> dict[str, dict[str, Decimal | None]]:
    before = {row.member: row.values for row in previous}
    changes: dict[str, dict[str, Decimal | None]] = {}
    for row in current:
        old = before.get(row.member, {})
        delta: dict[str, Decimal | None] = {}
        for kpi in LEADERBOARD_KPIS:
            now, then = row.values.get(kpi), old.get(kpi)
            delta[kpi] = None if now is None or then is None else now - then
        delta["quality_score"] = row.values["quality_score_change"]
        changes[row.member] = delta
    return changes


def _trends(
    store: Store, grain: str, dimension: str, periods: list[date], board: list[LeaderRow]
) -> dict[str, dict[str, list[Decimal | None]]]:
    ranked = [r for r in board if r.member not in MISSING_MEMBERS]
    top = ranked[:TOP_MEMBERS]
    others = {r.member for r in ranked[TOP_MEMBERS:]}
    rows = store.con.execute(
        "SELECT period_start, member, any_value(member_name), "
        "max(value) FILTER (WHERE kpi = 'win_rate'), "
        "max(value) FILTER (WHERE kpi = 'average_deal_size'), "
        "max(value) FILTER (WHERE kpi = 'deals_won'), "
        "max(value) FILTER (WHERE kpi = 'deals_closed'), "
        "max(value) FILTER (WHERE kpi = 'won_amount'), "
        "max(n) FILTER (WHERE kpi = 'average_deal_size') "
        "FROM kpi_values WHERE grain = ? AND dimension = ? "
        "AND period_start >= ? AND period_start <= ? GROUP BY ALL",
        [grain, dimension, periods[0], periods[-1]],
    ).fetchall()
    by_key = {(r[0], r[1]): r for r in rows}
    index = {p: i for i, p in enumerate(periods)}
    trends: dict[str, dict[str, list[Decimal | None]]] = {"win_rate": {}, "average_deal_size": {}}
    for member in top:
        for k, col in (("win_rate", 3), ("average_deal_size", 4)):
            trends[k][member.member_name] = [
                by_key[(p, member.member)][col] if (p, member.member) in by_key else None
                for p in periods
            ]
    if others:
        won = [Decimal(0)] * len(periods)
        closed = [Decimal(0)] * len(periods)
        amount = [Decimal(0)] * len(periods)
        with_amount = [0] * len(periods)
        for r in rows:
            if r[1] in others:
                i = index[r[0]]
                won[i] += r[5] or 0
                closed[i] += r[6] or 0
                amount[i] += r[7] or 0
                with_amount[i] += r[8] or 0
        trends["win_rate"][_OTHERS] = [
            w / c if c else None for w, c in zip(won, closed, strict=True)
        ]
        trends["average_deal_size"][_OTHERS] = [
            a / n if n else None for a, n in zip(amount, with_amount, strict=True)
        ]
    return trends


def _pipeline(
    store: Store, grain: str, start: date, dimension: str
) -> list[tuple[str, Decimal, Decimal]]:
    return [tuple(r) for r in store.con.execute(
        "SELECT any_value(member_name), "
        "max(value) FILTER (WHERE kpi = 'pipeline_open_amount') AS open_amount, "
        "max(value) FILTER (WHERE kpi = 'pipeline_weighted_amount') "
        "FROM kpi_values WHERE grain = ? AND period_start = ? AND dimension = ? "
        "GROUP BY member ORDER BY open_amount DESC NULLS LAST, member",
        [grain, start, dimension],
    ).fetchall()]


def _pipeline_counts(store: Store, grain: str, start: date, dimension: str
                     ) -> list[tuple[str, int]]:
    return [(str(name), int(n)) for name, n in store.con.execute(
        "SELECT any_value(member_name), max(value) AS n FROM kpi_values WHERE grain = ? "
        "AND period_start = ? AND dimension = ? AND kpi = 'pipeline_open_count' "
        "GROUP BY member HAVING max(value) > 0 ORDER BY n DESC, member",
        [grain, start, dimension],
    ).fetchall()]


def _channels(store: Store, grain: str, start: date) -> list[tuple[str, Decimal]]:
    found = dict(store.con.execute(
        "SELECT member, value FROM kpi_values WHERE grain = ? AND period_start = ? "
        "AND dimension = 'channel' AND kpi = 'won_amount'", [grain, start],
    ).fetchall())
    names = [c for c in CHANNEL_ORDER] + sorted(set(found) - set(CHANNEL_ORDER))
    return [(name, found.get(name) or Decimal(0)) for name in names]


def sales_cycle_days(store: Store, start: date, end: date, as_of: date) -> list[int]:
    """Sales cycle (close date minus created date, UTC) of each won deal closed in [start, end).

    Reads the canonical ``deals`` table: live deals with a created date and a close date on or
    after it, closed before ``as_of`` — the deals ``sales_cycle_days`` averages for the overall
    member. All sources count.

    Returns:
        Days per deal, sorted.
    """
    return [r[0] for r in store.con.execute(
        "SELECT close_date - CAST(created_at AS DATE) AS days FROM deals "
        "WHERE NOT is_deleted AND is_won AND is_closed AND created_at IS NOT NULL "
        "AND close_date >= ? AND close_date < ? AND close_date < ? "
        "AND close_date >= CAST(created_at AS DATE) AND created_at < CAST(? AS TIMESTAMPTZ) "
        "ORDER BY days",
        [start, end, as_of, as_of],
    ).fetchall()]


def report_data(
    store: Store,
    settings: KpiSettings,
    *,
    grain: str = "quarter",
    period: str | date = "latest",
    dimension: str = "partner",
    today: date | None = None,
) -> ReportData:
    """Gather what the report shows (read-only queries).

    Args:
        store: an open store holding computed KPIs.
        settings: the reporting currency (every amount's unit), the reporting time zone and the
            quality-score settings.
        grain: month, quarter or year.
        period: ``"latest"`` (the latest complete period), ``"current"`` (the period in
            progress, to date) or a date inside the period
            (:func:`kpi_engine.periods.choose_period`).
        dimension: partner, owner, team, unit or channel.
        today: the date in the reporting time zone (default: the clock's).

    Raises:
        ReportError: no KPIs for ``grain``, or no such period.
    """
    chosen = _resolve_period(store, grain, period,
                             today or reporting_today(
                                 reporting_zone(store, settings.reporting_timezone)))
    start, end, as_of = chosen.start, chosen.end, chosen.as_of
    previous = store.con.execute(
        "SELECT max(period_start) FROM kpi_values WHERE grain = ? AND period_start < ?",
        [grain, start],
    ).fetchone()[0]  # type: ignore[index]  # an aggregate always answers one row
    board = leaderboard(store, grain, start, dimension)
    before = leaderboard(store, grain, previous, dimension) if previous else []
    periods = [r[0] for r in store.con.execute(
        "SELECT DISTINCT period_start FROM kpi_values WHERE grain = ? AND period_start <= ? "
        "ORDER BY 1 DESC LIMIT ?", [grain, start, TREND_PERIODS],
    ).fetchall()][::-1]
    sources, deals_live = _coverage(store)
    computed_at, warnings = _compute_warnings(store, grain, settings.reporting_currency)
    return ReportData(
        grain=grain, dimension=dimension, period_start=start, period_end=end,
        previous_start=previous, as_of=as_of, complete=chosen.complete,
        period_label=chosen.label, computed_at=computed_at,
        currency=settings.reporting_currency,
        min_closed_deals=settings.quality_score.min_closed_deals,
        quality_weights=dict(settings.quality_score.weights),
        sources=sources, deals_live=deals_live,
        overall=_kpi_map(store, grain, start, "overall", "all"),
        open_with_amount=_open_with_amount(store, grain, start), warnings=warnings,
        leaderboard=board, changes=_changes(board, before), trend_periods=periods,
        trends=_trends(store, grain, dimension, periods, board),
        pipeline=_pipeline(store, grain, start, dimension),
        pipeline_counts=_pipeline_counts(store, grain, start, dimension),
        channels=_channels(store, grain, start),
        cycle_days=sales_cycle_days(store, start, end, as_of),
        definitions={**kpi_definitions(), **_STATUS_DEFINITIONS, **credit_definitions()},
        waterfall=waterfall_series(store, grain, start, dimension,
                                   [(r.member, r.member_name) for r in board]),
        yoy=year_over_year(store, grain, start, dimension, tuple(c[0] for c in YOY_COLUMNS)),
        year_ago_start=_year_ago(store, grain, start),
        credit=credit_data(store, grain, start, settings.attribution.categories)
        if dimension == "partner" else None,
    )


def _year_ago(store: Store, grain: str, start: date) -> date | None:
    before = date(start.year - 1, start.month, 1)
    found = store.con.execute(
        "SELECT 1 FROM kpi_wide WHERE grain = ? AND period_start = ? LIMIT 1", [grain, before]
    ).fetchall()
    return before if found else None


# --- rendering ------------------------------------------------------------------------------

#: Leaderboard columns: KPI, heading, unit kind. Units: money (reporting currency), ratio
#: (shown as %), days, score (0..100), count.
_COLUMNS = (
    ("quality_score", "quality score", "score"),
    ("won_amount", "won amount", "money"),
    ("deals_won", "deals won", "count"),
    ("win_rate", "win rate", "ratio"),
    ("average_deal_size", "average deal size", "money"),
    ("sales_cycle_days", "sales cycle", "days"),
    ("deal_success_rate", "deal success", "ratio"),
)
#: Leaderboard year-over-year columns: the change against the same period a year earlier.
YOY_COLUMNS = (
    ("won_amount", "won amount", "money"),
    ("deals_won", "deals won", "count"),
    ("win_rate", "win rate", "ratio"),
)
#: The columns of the partners' target attainment and tier status, shown when a partner of the
#: period has one (targets or tiers configured: kpi_engine/partner_status.py).
_STATUS_COLUMNS = (
    ("partner_target_attainment", "target attainment", "ratio"),
    ("partner_tier", "tier", "text"),
)
#: The status columns' wording (table headings show it on hover): docs/kpis.md, "Targets and
#: tiers".
_STATUS_DEFINITIONS = {
    "partner_target_attainment": "The partner's actual against its target for the period "
    "(targets.writeback_kpi, default won_amount): actual / target; 100% = reached.",
    "partner_tier": "The partner's CRM tier against the tier its numbers over the tier window "
    "qualify for: meets, eligible (for the next tier) or at risk (of demotion).",
}
#: KPIs where a fall is the good direction.
_LOWER_IS_BETTER = frozenset({"sales_cycle_days"})
_OTHERS_COLOUR = "#9aa0a6"
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
_CHANNEL_COLOURS = {"paid": "#d62728", "earned": "#2ca02c", "owned": "#1f77b4",
                    "partner": "#9467bd", "unknown": _OTHERS_COLOUR}
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}


def _fmt(value: Decimal | int | float | None, kind: str, *, sign: bool = False) -> str:
    if value is None:
        return ""
    plus = "+" if sign else ""
    v = Decimal(value) if not isinstance(value, Decimal) else value
    if kind == "ratio":
        return f"{v * 100:{plus},.1f}" + (" pp" if sign else "%")
    if kind == "score":
        return f"{v:{plus},.2f}"
    if kind == "days":
        return f"{v:{plus},.1f}"
    if kind == "money":
        return f"{v:{plus},.0f}"
    return f"{v:{plus},.0f}"


def _change(kpi: str, kind: str, delta: Decimal | None) -> dict[str, str] | None:
    if delta is None:
        return None
    if delta == 0:
        return {"arrow": "●", "text": _fmt(delta, kind), "css": "flat"}
    good = (delta > 0) != (kpi in _LOWER_IS_BETTER)
    return {"arrow": "▲" if delta > 0 else "▼", "text": _fmt(delta, kind, sign=True),
            "css": "good" if good else "bad"}


def _number(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def _columns(data: ReportData) -> tuple[tuple[str, str, str], ...]:
    if any(row.status for row in data.leaderboard):
        return (*_COLUMNS, *_STATUS_COLUMNS)
    return _COLUMNS


def _table_rows(data: ReportData) -> list[dict[str, Any]]:
    rows = [_table_row(data, row) for row in data.leaderboard]
    if data.credit is not None:  # partners with credit only (influencers of others' deals)
        ranked = {row.member for row in data.leaderboard}
        for member in sorted(set(data.credit.won) - ranked):
            lone = LeaderRow(0, member, data.credit.names.get(member, member),
                             dict.fromkeys(LEADERBOARD_KPIS))
            cells = _table_row(data, lone)
            cells["rank"] = ""
            cells["cells"][0] = {"kpi": "quality_score", "text": "credit only",
                                 "missing": True, "change": None}
            rows.append(cells)
    return rows


def _table_row(data: ReportData, row: LeaderRow) -> dict[str, Any]:
    changes = data.changes.get(row.member, {})
    cells = []
    for kpi, _, kind in _columns(data):
        if kind == "text":
            text = row.status.get(kpi)
            cells.append({"kpi": kpi, "text": text or "\N{EN DASH}", "missing": not text,
                          "change": None})
            continue
        value = row.values[kpi] if kpi in row.values else _number(row.status.get(kpi))
        if kpi == "quality_score" and value is None:
            text = "not ranked" if row.member in MISSING_MEMBERS else "insufficient data"
            cells.append({"kpi": kpi, "text": text, "missing": True, "change": None})
            continue
        cells.append({"kpi": kpi, "text": _fmt(value, kind) or "\N{EN DASH}",
                      "missing": value is None, "change": _change(kpi, kind, changes.get(kpi))})
    if data.credit is not None:
        won = data.credit.won.get(row.member, {})
        for kpi, _, kind in credit_columns(data.credit.categories):
            value = won.get(kpi.removesuffix("_won_amount"))
            cells.append({"kpi": kpi, "text": _fmt(value, kind) or "\N{EN DASH}",
                          "missing": value is None, "change": None})
    yoy_cells = []
    for kpi, _, kind in YOY_COLUMNS:
        change, ratio = data.yoy.get(row.member, {}).get(kpi, (None, None))
        badge = _change(kpi, kind, change)
        if badge and ratio is not None and kind != "ratio":
            badge["text"] += f" ({ratio * 100:+,.1f}%)"
        yoy_cells.append({"kpi": kpi, "change": badge})
    return {"rank": row.rank, "member": row.member, "name": row.member_name, "cells": cells,
            "yoy": yoy_cells}


def _float(value: Decimal | int | str | None) -> float | None:
    return None if value is None else float(value)


def _figure_html(fig: Any, div_id: str) -> str:
    """The chart's HTML: the plotly figure, sized to its box by the page (``responsive`` and
    autosize here, a resize after layout in the template), or, for a figure marked by
    :func:`_say_empty`, the one line saying why there is nothing to draw."""
    empty = (fig.layout.meta or {}).get("empty") if isinstance(fig.layout.meta, dict) else None
    if empty:
        return str(Markup('<p class="chart-empty" id="{}" data-empty="true">{}</p>').format(
            div_id, empty))
    fig.update_layout(template="plotly_white", autosize=True,
                      margin={"l": 10, "r": 20, "t": 36, "b": 10},
                      font={"family": "system-ui, sans-serif", "size": 12},
                      legend={"orientation": "h", "x": 0, "y": 0, "yref": "container",
                              "yanchor": "bottom"},
                      hoverlabel={"align": "left"})
    fig.update_yaxes(automargin=True)
    fig.update_xaxes(automargin=True)
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config=_PLOTLY_CONFIG, default_width="100%")


def _say_empty(fig: Any, text: str) -> None:
    """Mark ``fig`` as having nothing to show: :func:`_figure_html` then writes ``text`` (one
    line: why, and what would fill the chart) instead of an empty frame."""
    fig.update_layout(meta={"empty": text})


def _period_axis(fig: Any, grain: str, periods: list[date]) -> list[str]:
    """Category x ticks for ``periods``: short labels (``2017-Q4``, ``2017-10``, ``2017``),
    level while they fit, turned 45 degrees past 8 of them; the margin grows to hold them.

    Returns:
        The labels (the traces' x values).
    """
    labels = [short_label(grain, p) for p in periods]
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels,
                     tickangle=0 if len(labels) <= 8 else -45, automargin=True,
                     title_text=grain)
    return labels


def _count_axis(fig: Any, axis: str, most: float, title: str) -> None:
    """An axis of counts (deals): whole-number ticks from zero (every 1 up to 10)."""
    update: dict[str, Any] = {"title_text": title, "tickformat": ",d", "rangemode": "tozero"}
    if most <= 10:
        update["dtick"] = 1
    (fig.update_xaxes if axis == "x" else fig.update_yaxes)(**update)


def _bar_height(n: int) -> int:
    return max(260, 26 * n + 110)


def _charts(data: ReportData) -> list[dict[str, Any]]:
    import plotly.graph_objects as go

    cur = data.currency
    dim = data.dimension
    charts: list[dict[str, Any]] = []

    ranked = [r for r in data.leaderboard if r.values["quality_score"] is not None]
    shown = ranked[:MAX_BARS]
    fig = go.Figure(go.Bar(
        y=[r.member_name for r in shown], x=[_float(r.values["quality_score"]) for r in shown],
        orientation="h", marker_color=_PALETTE[0],
        text=[_fmt(r.values["quality_score"], "score") for r in shown], textposition="auto",
        hovertemplate="%{y}<br>quality score %{x:.2f} of 100<extra></extra>"))
    fig.update_layout(height=_bar_height(len(shown)))
    fig.update_xaxes(title_text="quality score (0..100)", range=[0, 100])
    fig.update_yaxes(autorange="reversed")
    unranked = len(data.leaderboard) - len(ranked)
    if not shown:
        _say_empty(fig, f"No {dim} member has {data.min_closed_deals} or more closed deals in the "
                        "period, so none has a quality score (kpis.quality_score."
                        "min_closed_deals).")
    charts.append({
        "id": "chart-quality-score", "title": f"Quality score by {dim}",
        "kpis": ["quality_score"],
        "note": (f"Top {len(shown)} of {len(ranked)} ranked members. " if len(ranked) > len(shown)
                 else "") + (f"{unranked} member(s) with insufficient data (fewer than "
                             f"{data.min_closed_deals} closed deals) or not ranked are not drawn."
                             if unranked else ""),
        "html": _figure_html(fig, "chart-quality-score")})

    for kpi, div_id, title, axis, hover in (
        ("win_rate", "chart-win-rate", "Win rate over time", "win rate (%)",
         "%{fullData.name}<br>%{x}: win rate %{y:.1%}<extra></extra>"),
        ("average_deal_size", "chart-deal-size", "Average deal size over time",
         f"average deal size ({cur})",
         "%{fullData.name}<br>%{x}: average deal size %{y:,.0f} " + cur + "<extra></extra>"),
    ):
        fig = go.Figure()
        labels = _period_axis(fig, data.grain, data.trend_periods)
        for i, (name, values) in enumerate(data.trends[kpi].items()):
            colour = _OTHERS_COLOUR if name == _OTHERS else _PALETTE[i % len(_PALETTE)]
            fig.add_trace(go.Scatter(
                x=labels, y=[_float(v) for v in values], name=name, mode="lines+markers",
                line={"color": colour, "dash": "dot" if name == _OTHERS else "solid"},
                connectgaps=False, hovertemplate=hover))
        fig.update_layout(height=340)
        if not data.trends[kpi]:
            _say_empty(fig, f"Nothing to draw: the period's deals have no {dim} (or channel "
                            "unknown), and that member is not drawn over time.")
        fig.update_yaxes(title_text=axis, tickformat=".0%" if kpi == "win_rate" else ",.0f",
                         rangemode="tozero")
        charts.append({
            "id": div_id, "title": f"{title} ({'%' if kpi == 'win_rate' else cur})",
            "kpis": [kpi],
            "note": f"The top {TOP_MEMBERS} {dim} members of the period by quality score; "
                    "\u201cothers\u201d pools every other member but the unranked one "
                    f"(no {dim}, or channel unknown).",
            "html": _figure_html(fig, div_id)})

    charts.append(_pipeline_chart(data))

    fig = go.Figure(go.Bar(
        x=[c[0] for c in data.channels], y=[_float(c[1]) for c in data.channels],
        marker_color=[_CHANNEL_COLOURS.get(c[0], _OTHERS_COLOUR) for c in data.channels],
        text=[_fmt(c[1], "money") for c in data.channels], textposition="auto",
        hovertemplate="%{x}<br>won amount %{y:,.0f} " + cur + "<extra></extra>"))
    fig.update_layout(height=320)
    known = [c for c in data.channels if c[0] != "unknown" and c[1]]
    unknown = sum((c[1] for c in data.channels if c[0] == "unknown"), Decimal(0))
    if not known and unknown:
        amount = _fmt(unknown, "money")
        _say_empty(fig, f"Every won deal's lead source is empty or not mapped ({amount} {cur} "
                        "in channel unknown): map lead sources to channels under kpis.channels "
                        "to split it.")
    elif not known:
        _say_empty(fig, "No won deal with an amount closed in the period.")
    fig.update_xaxes(title_text="channel (lead source mapped by kpis.channels)")
    fig.update_yaxes(title_text=f"won amount ({cur})", tickformat=",.0f", rangemode="tozero")
    charts.append({
        "id": "chart-channels", "title": f"Won amount by channel ({cur})",
        "kpis": ["won_amount", "won_amount_share"],
        "note": "All won deals closed in the period; a lead source that is empty or not mapped "
                "counts as unknown.",
        "html": _figure_html(fig, "chart-channels")})

    if data.waterfall:
        all_ = data.waterfall["All"]
        charts.append({
            "id": "chart-waterfall", "title": f"Pipeline waterfall of the {data.grain} ({cur})",
            "kpis": ["waterfall_start", "waterfall_end"],
            "note": f"Deals expected to close in the period, from its start to {data.as_of}: "
                    f"{all_['start'][1]:,} deals at the start, {all_['end'][1]:,} at the end. "
                    f"Pick All or a {dim} member in the menu.",
            "html": _figure_html(waterfall_chart(data.waterfall, cur), "chart-waterfall")})

    days = data.cycle_days
    fig = go.Figure(go.Histogram(
        x=days, marker_color=_PALETTE[2], nbinsx=30,
        hovertemplate="%{x} days<br>%{y} won deals<extra></extra>"))
    mean = sum(days) / len(days) if days else None
    if mean is not None:
        fig.add_vline(x=mean, line_dash="dash", line_color="#333",
                      annotation_text=f"mean {mean:.1f} days", annotation_position="top right")
    fig.update_layout(height=320, bargap=0.05)
    fig.update_xaxes(title_text="sales cycle (days from created to close)")
    _count_axis(fig, "y", _most_in_a_bin(days, 30), "won deals")
    if not days:
        _say_empty(fig, "No won deal with a created date closed in the period.")
    charts.append({
        "id": "chart-sales-cycle", "title": "Sales cycle of the won deals closed in the period "
                                            "(days)",
        "kpis": ["sales_cycle_days"],
        "note": f"{len(days):,} won deals with a created date (all {dim} members)"
                + (f"; mean {mean:.1f} days, the overall sales_cycle_days." if days else "."),
        "html": _figure_html(fig, "chart-sales-cycle")})
    if data.credit is not None:
        base = data.credit.baseline
        counts = ", ".join(f"{base[c]['deals_won'] or 0:,.0f} won {c} deals"
                           for c in ("partner", "direct") if c in base)
        charts.append({
            "id": "chart-partner-direct", "title": "Deals with a partner against direct deals",
            "kpis": ["direct_baseline"],
            "note": f"Every deal counted once (credit rule {data.credit.rule or 'n/a'}); "
                    + (counts or "no deal closed in the period") + ".",
            "html": _figure_html(baseline_chart(data.credit, cur), "chart-partner-direct")})
    return charts


def _most_in_a_bin(values: list[int], bins: int) -> int:
    """An upper bound of the tallest histogram bar (``bins`` equal bins over the range)."""
    if not values:
        return 0
    width = max(1, -(-(values[-1] - values[0] + 1) // bins))
    counts: dict[int, int] = {}
    for v in values:
        counts[(v - values[0]) // width] = counts.get((v - values[0]) // width, 0) + 1
    return max(counts.values())


def _pipeline_chart(data: ReportData) -> dict[str, Any]:
    """Open and weighted pipeline by member; the open deals' count by member when no open deal
    has an amount; one line when nothing is open."""
    import plotly.graph_objects as go

    cur, dim = data.currency, data.dimension
    open_count = int(data.overall.get("pipeline_open_count") or 0)
    shown_p = data.pipeline[:MAX_BARS]
    fig = go.Figure()
    if any(p[1] or p[2] for p in shown_p) or not data.pipeline_counts:
        for idx, name, colour in ((1, "open pipeline", "#1f77b4"),
                                  (2, "weighted pipeline", "#aec7e8")):
            fig.add_trace(go.Bar(
                y=[p[0] for p in shown_p], x=[_float(p[idx]) for p in shown_p], name=name,
                orientation="h", marker_color=colour,
                hovertemplate="%{y}<br>" + name + " %{x:,.0f} " + cur + "<extra></extra>"))
        fig.update_layout(barmode="group", height=_bar_height(int(len(shown_p) * 1.6)))
        fig.update_xaxes(title_text=f"amount ({cur})", tickformat=",.0f", rangemode="tozero")
        fig.update_yaxes(autorange="reversed")
        if not any(p[1] or p[2] for p in shown_p):
            _say_empty(fig, f"No deal open at {data.as_of}.")
        return {
            "id": "chart-pipeline",
            "title": f"Open and weighted pipeline by {dim} at {data.as_of} ({cur})",
            "kpis": ["pipeline_open_amount", "pipeline_weighted_amount"],
            "note": (f"The {len(shown_p)} members with the largest open pipeline of "
                     f"{len(data.pipeline)}. " if len(data.pipeline) > len(shown_p) else "")
                    + f"{open_count:,} deals open at {data.as_of}, {data.open_with_amount:,} of "
                      "them with an amount (a deal with no amount adds nothing).",
            "html": _figure_html(fig, "chart-pipeline")}
    counts = data.pipeline_counts[:MAX_BARS]
    fig.add_trace(go.Bar(
        y=[c[0] for c in counts], x=[c[1] for c in counts], name="open deals", orientation="h",
        marker_color="#1f77b4", text=[f"{c[1]:,}" for c in counts], textposition="auto",
        hovertemplate="%{y}<br>%{x:,} deals open<extra></extra>"))
    fig.update_layout(height=_bar_height(len(counts)))
    _count_axis(fig, "x", max(c[1] for c in counts), "deals open")
    fig.update_yaxes(autorange="reversed")
    return {
        "id": "chart-pipeline", "title": f"Open deals by {dim} at {data.as_of} (count)",
        "kpis": ["pipeline_open_count"],
        "note": f"None of the {open_count:,} deals open at {data.as_of} has an amount, so the "
                "pipeline is drawn as counts of open deals"
                + (f" (the {len(counts)} members with the most of {len(data.pipeline_counts)})"
                   if len(data.pipeline_counts) > len(counts) else "") + ".",
        "html": _figure_html(fig, "chart-pipeline")}


def _markdown_inline(text: str) -> Markup:
    html = str(escape(text))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    html = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", html)
    return Markup(html)


def render(data: ReportData) -> str:
    """The page for ``data``: the jinja2 template with plotly.js and the figures inline."""
    from plotly.offline import get_plotlyjs

    env = Environment(loader=PackageLoader("kpi_engine", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["md"] = _markdown_inline
    env.filters["plain"] = lambda text: text.replace("`", "").replace("**", "")
    env.filters["num"] = _fmt
    columns = [*_columns(data), *(credit_columns(data.credit.categories) if data.credit else [])]
    return env.get_template("report.html.j2").render(
        data=data, period_label=data.period_label, columns=columns, rows=_table_rows(data),
        yoy_columns=YOY_COLUMNS,
        charts=_charts(data), plotly_js=Markup(get_plotlyjs()),
        column_kpis=[c[0] for c in columns],
    )


def build_report(store: Store, settings: KpiSettings, **options: Unpack[ReportOptions]) -> str:
    """The report as one self-contained HTML page (scripts and styles inline, no network).

    Args: as :func:`report_data` (``options``: its keyword arguments).

    Returns:
        The HTML text.
    """
    return render(report_data(store, settings, **options))


def write_report(
    store: Store, settings: KpiSettings, output: Path, **options: Unpack[ReportOptions]
) -> int:
    """Write :func:`build_report` to ``output`` (UTF-8).

    Returns:
        The file's size in bytes.
    """
    html = build_report(store, settings, **options)
    output.parent.mkdir(parents=True, exist_ok=True)
    data = html.encode("utf-8")
    output.write_bytes(data)
    return len(data)
