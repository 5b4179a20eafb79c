"""The members of a dimension ranked for one period: the leaderboard shared by the terminal
(``partnerkpi demo`` / ``status``) and the HTML report.

Ranking: quality score (high first; members without one — below ``min_closed_deals`` — last,
marked "insufficient data"), then won amount, then member id. Which period is shown by default
(the latest complete one) is :func:`kpi_engine.periods.choose_period`'s to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from kpi_engine.partner_status import partner_status
from kpi_engine.store import Store

LEADERBOARD_KPIS = (
    "quality_score",
    "won_amount",
    "deals_won",
    "win_rate",
    "average_deal_size",
    "sales_cycle_days",
    "deal_success_rate",
    "pipeline_open_amount",
    "quality_score_change",
)


@dataclass
class LeaderRow:
    """One ranked member: ``values`` maps each of :data:`LEADERBOARD_KPIS` to its value;
    ``status`` (partners with a target or a tier status in the period) holds
    ``partner_target_attainment`` (ratio) and ``partner_tier`` (text,
    :func:`kpi_engine.partner_status.tier_text`)."""

    rank: int
    member: str
    member_name: str
    values: dict[str, Decimal | None]
    status: dict[str, object] = field(default_factory=dict)


def leaderboard(
    store: Store, grain: str, period_start: date, dimension: str = "partner"
) -> list[LeaderRow]:
    """Rank the members of ``dimension`` in one period.

    Returns:
        Rows ranked 1..n; ``values`` hold Decimals (currency, ratios 0..1, days, score 0..100).
    """
    rows = store.con.execute(
        "SELECT member, any_value(member_name), "
        + ", ".join(f"max(value) FILTER (WHERE kpi = '{k}')" for k in LEADERBOARD_KPIS)
        + " FROM kpi_values WHERE grain = ? AND period_start = ? AND dimension = ? GROUP BY member "
        "ORDER BY 3 DESC NULLS LAST, 4 DESC NULLS LAST, member",
        [grain, period_start, dimension],
    ).fetchall()
    status = partner_status(store, grain, period_start) if dimension == "partner" else {}
    return [
        LeaderRow(
            rank=i,
            member=r[0],
            member_name=r[1],
            values=dict(zip(LEADERBOARD_KPIS, r[2:], strict=True)),
            status=status.get(r[0], {}),
        )
        for i, r in enumerate(rows, start=1)
    ]
