"""The report's pipeline waterfall chart and year-over-year changes (docs/kpis.md, "Pipeline
waterfall" and "Period over period").

:func:`waterfall_series` reads the period's nine buckets for the overall member and each
leaderboard member; :func:`waterfall_chart` draws them as one plotly waterfall with a menu to
pick the member (overall first). :func:`year_over_year` reads each leaderboard member's change
against the same period a year earlier from ``kpi_value_changes``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from kpi_engine.store import Store
from kpi_engine.waterfall import BUCKETS, SUBTRACTED, WATERFALL_KPIS

#: Bucket labels on the chart's axis.
LABELS = {"start": "start", "created": "created", "pulled_in": "pulled in",
          "increased": "increased", "decreased": "decreased", "pushed_out": "pushed out",
          "lost": "lost", "won": "won", "end": "end"}


def waterfall_series(
    store: Store, grain: str, start: date, dimension: str, members: list[tuple[str, str]]
) -> dict[str, dict[str, tuple[Decimal, int]]]:
    """Series name -> bucket -> (amount, deals) of the period's waterfall.

    Args:
        store: the store.
        grain: the period's grain.
        start: the period's first day.
        dimension: the report's dimension.
        members: (member id, member name) to include after ``All`` (the overall member).

    Returns:
        ``{"All": {...}, "<member name>": {...}}`` in that order; buckets in :data:`BUCKETS`
        order, amounts in the reporting currency (0 where the member has none).
    """
    rows = store.con.execute(
        "SELECT dimension, member, kpi, value, n FROM kpi_values WHERE grain = ? "
        "AND period_start = ? AND (dimension = 'overall' OR dimension = ?) AND kpi IN ("
        + ", ".join("?" for _ in WATERFALL_KPIS) + ")",
        [grain, start, dimension, *WATERFALL_KPIS]).fetchall()
    found: dict[tuple[str, str], dict[str, tuple[Decimal, int]]] = {}
    for dim, member, kpi, value, n in rows:
        found.setdefault((dim, member), {})[kpi.removeprefix("waterfall_")] = (
            value or Decimal(0), int(n))
    series = {}
    for (dim, member), name in [(("overall", "all"), "All"),
                                *(((dimension, m), nm) for m, nm in members)]:
        values = found.get((dim, member), {})
        series[name] = {b: values.get(b, (Decimal(0), 0)) for b in BUCKETS}
    return series


def waterfall_chart(series: dict[str, dict[str, tuple[Decimal, int]]], currency: str) -> Any:
    """A plotly figure: one waterfall trace per series, the first shown, a menu to switch.

    Start is an absolute bar, the buckets relative ones (decreased, pushed out, lost and won
    down), end the total plotly sums them to (equal to the stored end: the buckets balance).
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    names = list(series)
    for i, (name, buckets) in enumerate(series.items()):
        peak = max((abs(v) for v, _ in buckets.values()), default=Decimal(0))
        values = [float(-buckets[b][0] if b in SUBTRACTED else buckets[b][0])
                  for b in BUCKETS[:-1]]
        fig.add_trace(go.Waterfall(
            name=name, visible=i == 0, orientation="v",
            measure=["absolute", *["relative"] * (len(BUCKETS) - 2), "total"],
            x=[LABELS[b] for b in BUCKETS], y=[*values, 0.0],
            text=[f"{buckets[b][0]:,.0f}<br>{buckets[b][1]} deals" for b in BUCKETS],
            # inside the bars tall enough to hold it, above (below) the others
            textposition=["inside" if abs(buckets[b][0]) * 6 > peak else "outside"
                          for b in BUCKETS],
            cliponaxis=False, textangle=0,
            hovertemplate="%{x}<br>%{text}<extra>" + name + "</extra>",
            increasing={"marker": {"color": "#2ca02c"}},
            decreasing={"marker": {"color": "#d62728"}},
            totals={"marker": {"color": "#1f77b4"}}))
    ranges = [_axis_range(buckets) for buckets in series.values()]
    if len(names) > 1:
        fig.update_layout(updatemenus=[{
            "buttons": [{"label": name, "method": "update",
                         "args": [{"visible": [j == i for j in range(len(names))]},
                                  {"yaxis.range": ranges[i]}]}
                        for i, name in enumerate(names)],
            "direction": "down", "x": 1, "xanchor": "right", "y": 1.22, "yanchor": "top"}])
    fig.update_layout(height=400, showlegend=False, uniformtext={"minsize": 10, "mode": "show"})
    if ranges:
        fig.update_yaxes(range=ranges[0])
    fig.update_yaxes(title_text=f"pipeline ({currency})", tickformat=",.0f")
    return fig


def _axis_range(buckets: dict[str, tuple[Decimal, int]]) -> list[float]:
    """The y range of one series: its running total's low and high, with room for the labels."""
    total, low, high = Decimal(0), Decimal(0), Decimal(0)
    for b in BUCKETS[:-1]:
        total += -buckets[b][0] if b in SUBTRACTED else buckets[b][0]
        low, high = min(low, total), max(high, total)
    span = (high - low) or Decimal(1)
    return [float(low - span * Decimal("0.15")) if low < 0 else 0.0,
            float(high + span * Decimal("0.2"))]


def year_over_year(
    store: Store, grain: str, start: date, dimension: str, kpis: tuple[str, ...]
) -> dict[str, dict[str, tuple[Decimal | None, Decimal | None]]]:
    """Member -> KPI -> (value minus its value in the period starting a year earlier, that
    change / the earlier value) from ``kpi_value_changes``; None where unknown (either value
    unknown, the earlier period not computed, or the earlier value 0 for the ratio)."""
    rows = store.con.execute(
        "SELECT member, kpi, yoy_change, yoy_ratio FROM kpi_value_changes WHERE grain = ? "
        "AND period_start = ? AND dimension = ? AND kpi IN (" + ", ".join("?" for _ in kpis)
        + ")", [grain, start, dimension, *kpis]).fetchall()
    out: dict[str, dict[str, tuple[Decimal | None, Decimal | None]]] = {}
    for member, kpi, change, ratio in rows:
        out.setdefault(member, {})[kpi] = (change, ratio)
    return out
