"""Settings of targets and tiers: the ``targets:`` and ``tiers:`` sections of the config.

Definitions and a worked example: docs/kpis.md, "Targets and tiers". The KPI facts they rely on
(which KPIs have a direction, which add up over periods) are here so that the config checks and
the engine agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: KPIs a target may be set on, with their direction: +1 higher is better, -1 lower is better.
DIRECTION: dict[str, int] = {
    "deals_won": 1, "deals_created": 1, "won_amount": 1, "average_deal_size": 1,
    "median_deal_size": 1, "pipeline_open_count": 1, "pipeline_open_amount": 1,
    "pipeline_weighted_amount": 1, "pipeline_created_amount": 1, "won_amount_share": 1,
    "win_rate": 1, "lead_conversion_rate": 1, "sales_velocity": 1, "quality_score": 1,
    "deal_success_rate": 1, "deals_lost": -1, "sales_cycle_days": -1,
}

#: KPIs whose period value is the sum of its months' values (flows counted or summed by the
#: period's dates): their targets roll up by summing and they have a pace.
ADDITIVE = frozenset({"deals_won", "deals_lost", "deals_created", "won_amount",
                      "pipeline_created_amount"})

#: KPIs a tier threshold may name, each exact over a window of periods from kpi_wide: the sum
#: of the periods' values, or (win_rate, average_deal_size) a ratio of such sums.
TIER_METRICS = ("won_amount", "deals_won", "deals_created", "pipeline_created_amount",
                "win_rate", "average_deal_size")


class TargetSettings(BaseModel):
    """``targets:``: where targets come from besides the CRMs, and which one is written back.

    Attributes:
        file: a CSV or YAML file of targets (relative to the config file), re-read by every
            compute; None: CRM targets only.
        writeback_kpi: the KPI whose partner attainment the write-back field
            ``partner_target_attainment`` holds.
    """

    model_config = ConfigDict(extra="forbid")

    file: Path | None = None
    writeback_kpi: str = "won_amount"

    @field_validator("writeback_kpi")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in DIRECTION:
            msg = f"unknown KPI {value!r} (a KPI with a direction: {', '.join(DIRECTION)})"
            raise ValueError(msg)
        return value


class TierLevel(BaseModel):
    """One tier: its name (as the CRM's tier field holds it) and its minimum values over the
    window (KPI -> minimum; ratios 0..1, money in the reporting currency). The lowest tier
    usually has none."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    min: dict[str, float] = Field(default_factory=dict)

    @field_validator("min")
    @classmethod
    def _metrics(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(TIER_METRICS))
        if unknown:
            msg = f"unknown tier KPI(s) {', '.join(unknown)}; use {', '.join(TIER_METRICS)}"
            raise ValueError(msg)
        return value


class TierWindow(BaseModel):
    """The window a tier is judged on: the evaluated period and the ``periods - 1`` before it,
    of ``grain`` (trailing four quarters by default)."""

    model_config = ConfigDict(extra="forbid")

    grain: Literal["month", "quarter", "year"] = "quarter"
    periods: int = Field(default=4, ge=1, le=36)


class TierSettings(BaseModel):
    """``tiers:``: the partner program's tiers, lowest first.

    Attributes:
        levels: the tiers in order, lowest first; a partner qualifies for the highest tier
            whose every minimum it reaches over the window.
        window: see :class:`TierWindow`.
        rank_by: the KPI (over the window) partners are ranked by within their tier.
    """

    model_config = ConfigDict(extra="forbid")

    levels: list[TierLevel] = Field(min_length=1)
    window: TierWindow = Field(default_factory=TierWindow)
    rank_by: str = "won_amount"

    @field_validator("rank_by")
    @classmethod
    def _rank_metric(cls, value: str) -> str:
        if value not in TIER_METRICS:
            msg = f"unknown KPI {value!r}; use {', '.join(TIER_METRICS)}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _distinct(self) -> TierSettings:
        names = [level.name.casefold() for level in self.levels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            msg = f"tier name(s) given twice: {', '.join(dupes)}"
            raise ValueError(msg)
        return self
