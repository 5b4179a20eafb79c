"""The partner report's credit parts (partner dimension only): sourced / influenced won amount
per partner for the leaderboard, the partner-vs-direct chart, and the hygiene figures.

Values come from ``credit_kpis`` (kpi_engine/credit.py) for the report's grain and period, and
from :mod:`kpi_engine.hygiene`. Definitions quote the ``#### <name>`` entries of docs/kpis.md,
"Partner credit".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

from kpi_engine.hygiene import PartnerHygiene, hygiene_lines, partner_hygiene
from kpi_engine.store import Store

#: The baseline rows of the partner-vs-direct chart: category -> label.
BASELINE = {"partner": "deals with a partner", "direct": "direct (no partner)"}
#: The measures the chart compares: KPI -> (title, unit kind).
BASELINE_KPIS = {"win_rate": ("win rate", "ratio"),
                 "average_deal_size": ("average deal size", "money"),
                 "sales_cycle_days": ("sales cycle", "days")}


@dataclass
class CreditData:
    """What the report shows of the partner credit.

    Attributes:
        rule: the credit rule of the latest compute (``primary``, ``full``, ``even``,
            ``share``), None when the period has no credit rows.
        categories: the configured categories, in order.
        won: partner id -> category -> credited won amount in the period.
        names: partner id -> name.
        baseline: ``partner`` / ``direct`` -> KPI of :data:`BASELINE_KPIS` plus
            ``deals_won``, ``won_amount`` -> value (None: no deal to measure).
        hygiene: :class:`~kpi_engine.hygiene.PartnerHygiene` figures and their lines.
    """

    rule: str | None = None
    categories: list[str] = field(default_factory=list)
    won: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, dict[str, Decimal | None]] = field(default_factory=dict)
    hygiene: PartnerHygiene = field(default_factory=PartnerHygiene)
    hygiene_lines: list[str] = field(default_factory=list)


def credit_data(store: Store, grain: str, period_start: date,
                categories: list[str]) -> CreditData:
    """Read :class:`CreditData` for one period (read-only)."""
    data = CreditData(categories=list(categories))
    rows = store.con.execute(
        "SELECT category, member, rule, won_amount, deals_won, win_rate, average_deal_size, "
        "sales_cycle_days, member_name FROM credit_kpis WHERE grain = ? AND period_start = ?",
        [grain, period_start]).fetchall()
    for category, member, rule, won, deals, rate, size, cycle, name in rows:
        data.rule = rule
        if category in BASELINE and member == "all":
            data.baseline[category] = {"win_rate": rate, "average_deal_size": size,
                                       "sales_cycle_days": cycle, "deals_won": deals,
                                       "won_amount": won}
        elif member != "all":
            data.won.setdefault(member, {})[category] = won
            data.names[member] = name
    data.hygiene = partner_hygiene(store)
    data.hygiene_lines = hygiene_lines(data.hygiene)
    return data


def credit_columns(categories: list[str]) -> list[tuple[str, str, str]]:
    """The leaderboard's extra columns: (``<category>_won_amount``, heading, ``money``)."""
    return [(f"{c}_won_amount", f"{c} won", "money") for c in categories]


def credit_definitions(text: str | None = None) -> dict[str, str]:
    """The ``#### <name>`` entries of docs/kpis.md (the credit's measures), one line each."""
    if text is None:
        text = (resources.files("kpi_engine") / "kpis.md").read_text(encoding="utf-8")
    found = re.findall(r"^#### (\w+)\n(.*?)(?=^#|\Z)", text, flags=re.MULTILINE | re.DOTALL)
    return {name: " ".join(body.split()) for name, body in found}


def baseline_chart(data: CreditData, currency: str) -> Any:
    """The partner-vs-direct figure: win rate, average deal size and sales cycle, one panel
    each, a bar per baseline row (an empty panel says so)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(BASELINE_KPIS), subplot_titles=[
        f"{title} ({'%' if kind == 'ratio' else currency if kind == 'money' else 'days'})"
        for title, kind in BASELINE_KPIS.values()])
    colours = {"partner": "#1f77b4", "direct": "#9aa0a6"}
    for col, (kpi, (_, kind)) in enumerate(BASELINE_KPIS.items(), start=1):
        labels, values = [], []
        for category, label in BASELINE.items():
            value = data.baseline.get(category, {}).get(kpi)
            labels.append(label)
            values.append(None if value is None else
                          float(value) * (100 if kind == "ratio" else 1))
        fig.add_trace(go.Bar(x=labels, y=values, marker_color=[colours[c] for c in BASELINE],
                             showlegend=False, hovertemplate="%{x}<br>%{y:,.1f}<extra></extra>"),
                      row=1, col=col)
    fig.update_layout(height=340)
    return fig
