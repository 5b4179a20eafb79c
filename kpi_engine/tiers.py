"""Partner tiers: which tier each partner's numbers over a trailing window qualify for, against
the tier the CRM gives it (``partners.tier``: Salesforce ``partner_tier_field``, HubSpot
``tier_property``), into ``partner_tiers``.

Definitions (docs/kpis.md, "Tiers"): for each period P of ``tiers.window.grain`` in kpi_wide
and each partner, the window is P and the ``periods - 1`` periods before it; over it
won_amount, deals_won, deals_created and pipeline_created_amount are the sums of the periods'
values, win_rate = sum(deals_won) / sum(deals_closed) and average_deal_size = sum(won_amount) /
sum(average_deal_size_n) -- exact, like the grain's own values. The qualified tier is the
highest of ``tiers.levels`` whose every minimum the window reaches (the lowest tier when none).
With c the current tier's position and q the qualified one's: meets = q >= c, eligible (for
the next tier) = q > c, at risk (of demotion) = q < c. The percentile in the tier is the share
of the other partners of the same tier (the current one; the qualified one without) whose
``rank_by`` value is lower: 0 = last, 1 = first, NULL for a tier of one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from kpi_engine.store import Store
from kpi_engine.target_settings import TierSettings
from kpi_engine.targets import GRAIN_MONTHS, add_months, insert_rows, ratio

_SUMMED = ("won_amount", "deals_won", "deals_closed", "deals_created", "pipeline_created_amount",
           "average_deal_size_n")


@dataclass
class TierSummary:
    """What a compute made of the tiers.

    Attributes:
        rows: ``partner_tiers`` rows written.
        status: partners per status in the latest evaluated period.
        notes: one line each, as ``compute`` prints them.
    """

    rows: int = 0
    status: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def window_values(sums: dict[str, Fraction]) -> dict[str, Fraction | None]:
    """The tier KPIs of a window from the sums of its periods' values."""
    return {
        "won_amount": sums["won_amount"],
        "deals_won": sums["deals_won"],
        "deals_created": sums["deals_created"],
        "pipeline_created_amount": sums["pipeline_created_amount"],
        "win_rate": sums["deals_won"] / sums["deals_closed"] if sums["deals_closed"] else None,
        "average_deal_size": (sums["won_amount"] / sums["average_deal_size_n"]
                              if sums["average_deal_size_n"] else None),
    }


def qualified_level(settings: TierSettings, values: dict[str, Fraction | None]) -> int:
    """The position (0 = lowest) of the highest tier whose every minimum ``values`` reach."""
    best = 0
    for i, level in enumerate(settings.levels):
        if all(values[k] is not None and values[k] >= Fraction(str(v))  # type: ignore[operator]
               for k, v in level.min.items()):
            best = i
    return best


def _decimal(value: Fraction | None) -> Decimal | None:
    if value is None:
        return None
    if value.denominator == 1:
        return Decimal(value.numerator)
    return ratio(value)


def apply_tiers(store: Store, settings: TierSettings, computed_at: datetime) -> TierSummary:
    """Replace ``partner_tiers`` from kpi_wide's partner rows of the window's grain.

    Runs inside :func:`kpi_engine.kpis.compute`'s transaction, after ``kpi_wide`` is written.
    A window grain not computed gives no rows and a note.
    """
    summary = TierSummary()
    grain, count = settings.window.grain, settings.window.periods
    months = GRAIN_MONTHS[grain]
    store.con.execute("DELETE FROM partner_tiers")
    periods = [r[0] for r in store.con.execute(
        "SELECT DISTINCT period_start FROM kpi_wide WHERE grain = ? ORDER BY 1", [grain]
    ).fetchall()]
    if not periods:
        summary.notes.append(f"tiers: no {grain} KPIs computed: no tier status")
        return summary
    by_member: dict[str, dict[date, dict[str, Fraction]]] = defaultdict(dict)
    names: dict[str, str | None] = {}
    for member, name, start, *summed in store.con.execute(
            f"SELECT member, member_name, period_start, {', '.join(_SUMMED)} FROM kpi_wide "
            "WHERE grain = ? AND dimension = 'partner' AND member <> 'none'", [grain]).fetchall():
        by_member[member][start] = {k: Fraction(v or 0) for k, v in zip(_SUMMED, summed,
                                                                           strict=True)}
        names[member] = name
    crm: dict[str, str | None] = {}
    for partner_id, name, tier in store.con.execute(
            "SELECT partner_id, any_value(name), max(tier) FROM partners WHERE NOT is_deleted "
            "GROUP BY partner_id").fetchall():
        crm[partner_id] = tier
        names.setdefault(partner_id, name)
    level_of = {level.name.casefold(): i for i, level in enumerate(settings.levels)}
    unknown: set[str] = set()
    rows: list[list[Any]] = []
    for start in periods:
        window_start = add_months(start, -months * (count - 1))
        end = add_months(start, months)
        evaluated = []
        for partner in sorted(set(by_member) | set(crm)):
            sums = dict.fromkeys(_SUMMED, Fraction(0))
            for p, vals in by_member.get(partner, {}).items():
                if window_start <= p <= start:
                    for k in _SUMMED:
                        sums[k] += vals[k]
            values = window_values(sums)
            q = qualified_level(settings, values)
            tier = (crm.get(partner) or "").strip()
            c = level_of.get(tier.casefold()) if tier else None
            if tier and c is None:
                unknown.add(tier)
            evaluated.append((partner, tier or None, c, q, values))
        groups: dict[int, list[Fraction]] = defaultdict(list)
        for _, _, c, q, values in evaluated:
            value = values[settings.rank_by]
            if value is not None:
                groups[q if c is None else c].append(value)
        for partner, tier, c, q, values in evaluated:
            if tier is None:
                status, meets, eligible, at_risk = "no_tier", None, None, None
            elif c is None:
                status, meets, eligible, at_risk = "unknown_tier", None, None, None
            else:
                meets, eligible, at_risk = q >= c, q > c, q < c
                status = "eligible" if eligible else "at_risk" if at_risk else "meets"
            mine = values[settings.rank_by]
            group = groups[q if c is None else c]
            percentile = None
            if mine is not None and len(group) > 1:
                percentile = ratio(Fraction(sum(1 for v in group if v < mine), len(group) - 1))
            next_tier = None
            if c is not None and c + 1 < len(settings.levels):
                next_tier = settings.levels[c + 1].name
            rows.append([
                grain, start, end, window_start, partner, names.get(partner),
                None if c is None else settings.levels[c].name, tier, settings.levels[q].name,
                next_tier, meets, eligible, at_risk, status, _decimal(mine), percentile,
                json.dumps({k: (None if v is None else str(_decimal(v)))
                            for k, v in values.items()}),
                computed_at,
            ])
            if start == periods[-1]:
                summary.status[status] = summary.status.get(status, 0) + 1
    insert_rows(store, "partner_tiers", rows)
    summary.rows = len(rows)
    if unknown:
        summary.notes.append(
            f"tiers: CRM tier(s) {', '.join(sorted(unknown))} are not in tiers.levels: those "
            "partners have status unknown_tier (name the tier in tiers.levels)")
    return summary
