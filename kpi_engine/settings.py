"""KPI settings: the ``kpis:`` section of the config plus the reporting currency.

Validated with pydantic so that every problem is reported at once, one line each.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kpi_engine.target_settings import TargetSettings, TierSettings

#: Metrics a quality score may rank on; for each, a higher value is better.
QUALITY_METRICS = (
    "won_amount",
    "deals_won",
    "win_rate",
    "average_deal_size",
    "deal_success_rate",
    "deals_created",
    "pipeline_open_amount",
)


def check_timezone(name: str) -> str:
    """Validate an IANA time zone name (``UTC``, ``Europe/Berlin``).

    Raises:
        ValueError: not a known time zone, in one line.
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Berlin"
        raise ValueError(msg) from None
    return name


def check_optional_timezone(name: str | None) -> str | None:
    """:func:`check_timezone`, None allowed (the sources' own zone)."""
    return None if name is None else check_timezone(name)


def check_channels(channels: dict[str, list[str]]) -> dict[str, list[str]]:
    """Validate a channel map: no channel named ``unknown``, no lead source in two channels.

    Raises:
        ValueError: the first problem found, in one line.
    """
    seen: dict[str, str] = {}
    for channel, sources in channels.items():
        if channel == "unknown":
            msg = "'unknown' is the channel of unmapped lead sources; do not map to it"
            raise ValueError(msg)
        for source in sources:
            other = seen.setdefault(source.lower(), channel)
            if other != channel:
                msg = f"lead source {source!r} is mapped to both {other!r} and {channel!r}"
                raise ValueError(msg)
    return channels


class QualityScoreSettings(BaseModel):
    """``kpis.quality_score``: who is ranked and on what.

    ``weights`` maps a metric of :data:`QUALITY_METRICS` to a weight > 0; weights sum to 1.
    """

    model_config = ConfigDict(extra="forbid")

    min_closed_deals: int = Field(default=5, ge=0)
    weights: dict[str, float] = Field(default_factory=lambda: {"won_amount": 0.5, "deals_won": 0.5})

    @field_validator("weights")
    @classmethod
    def _check_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(QUALITY_METRICS))
        if unknown:
            msg = f"unknown metric(s) {', '.join(unknown)}; use {', '.join(QUALITY_METRICS)}"
            raise ValueError(msg)
        if not weights:
            msg = "give at least one metric"
            raise ValueError(msg)
        if any(w <= 0 for w in weights.values()):
            msg = "weights must be > 0"
            raise ValueError(msg)
        if not math.isclose(sum(weights.values()), 1.0, abs_tol=1e-9):
            msg = f"weights must sum to 1 (they sum to {sum(weights.values()):g})"
            raise ValueError(msg)
        return weights


#: The categories every store has besides the configured ones.
PARTNER, DIRECT = "partner", "direct"
#: The default role / label map (matched case-insensitively).
DEFAULT_ROLES = {
    "sourced": "sourced", "sourced by": "sourced", "referral": "sourced",
    "referred by": "sourced", "deal registration": "sourced",
    "influenced": "influenced", "influenced by": "influenced", "influencer": "influenced",
    "reseller": "influenced", "co-sell": "influenced", "distributor": "influenced",
    "consultant": "influenced", "system integrator": "influenced",
    # Salesforce's standard partner roles (Setup > Partner Roles)
    "var/reseller": "influenced", "agency": "influenced", "broker": "influenced",
    "dealer": "influenced", "developer": "influenced", "supplier": "influenced",
    "contractor": "influenced",
}
_CATEGORY = r"^[a-z][a-z0-9_-]*$"


class AttributionSettings(BaseModel):
    """``attribution:``: partner categories, the role map and the credit rule.

    Attributes:
        categories: the categories, in precedence order (a partner with rows of two categories
            on one deal counts in the first); ``partner`` and ``direct`` are taken.
        roles: CRM role / association label / CSV role -> category (case-insensitive).
        partner_field_category: the category of the deal's partner field / property.
        unmapped_category: the category of a role the map lacks (counted in a warning).
        primary_category: the category whose one partner is primary when a deal has none marked.
        credit: ``primary`` (the primary partner only), ``full`` (every partner in full; totals
            count each deal once), ``even`` (split equally) or ``share`` (the links' shares,
            renormalised to 1; a deal whose shares are missing or off 1 by more than
            ``share_tolerance`` gets no credit and is listed).
        share_tolerance: ratio 0..1.
    """

    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(default_factory=lambda: ["sourced", "influenced"], min_length=1)
    roles: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROLES))
    partner_field_category: str = "sourced"
    unmapped_category: str = "influenced"
    primary_category: str = "sourced"
    credit: Literal["primary", "full", "even", "share"] = "primary"
    share_tolerance: Decimal = Field(default=Decimal("0.01"), ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> AttributionSettings:
        problems = []
        for c in self.categories:
            if not re.match(_CATEGORY, c) or c in (PARTNER, DIRECT, "all"):
                problems.append(f"categories: {c!r} is not a category name (lower case, not "
                                f"{PARTNER!r}, {DIRECT!r} or 'all')")
        if len(set(self.categories)) != len(self.categories):
            problems.append("categories: a category is listed twice")
        known = set(self.categories)
        for name in ("partner_field_category", "unmapped_category", "primary_category"):
            if getattr(self, name) not in known:
                problems.append(f"{name}: {getattr(self, name)!r} is not one of categories "
                                f"({', '.join(self.categories)})")
        lowered: dict[str, str] = {}
        for role, category in self.roles.items():
            if category not in known:
                problems.append(f"roles: {role!r} maps to {category!r}, not one of categories "
                                f"({', '.join(self.categories)})")
            other = lowered.setdefault(role.lower(), category)
            if other != category:
                problems.append(f"roles: {role!r} is mapped to both {other!r} and {category!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def writeback_fields(self) -> tuple[str, ...]:
        """The write-back KPI names credit adds: ``<category>_won_amount`` per category."""
        return tuple(f"{c}_won_amount" for c in self.categories)



class KpiSettings(BaseModel):
    """How KPIs are computed.

    Attributes:
        reporting_currency: ISO 4217 code every amount KPI is expressed in.
        reporting_timezone: IANA time zone every calendar bucketing uses (created, closed,
            stage entered, period ends: :mod:`kpi_engine.calendar`) and whose date is "today"
            for the period rule (:mod:`kpi_engine.periods`) and the default ``--as-of``; None:
            the zone the sources keep (the HubSpot portal's), else UTC.
        fiscal_year_start_month: 1..12; 1 = calendar quarters and years; 2 = Q1 is Feb-Apr.
        channels: channel name -> lead source values mapped to it (matched case-insensitively);
            unmapped or empty lead sources fall in channel ``unknown``.
        quality_score: see :class:`QualityScoreSettings`.
        targets: the ``targets:`` section (None: CRM targets only, none written back).
        tiers: the ``tiers:`` section (None: no tier status).
        attribution: partner categories and the credit rule
            (:class:`AttributionSettings`; used by :mod:`kpi_engine.credit`).
    """

    model_config = ConfigDict(extra="forbid")

    reporting_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    reporting_timezone: str | None = None
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    channels: dict[str, list[str]] = Field(default_factory=dict)
    quality_score: QualityScoreSettings = Field(default_factory=QualityScoreSettings)
    targets: TargetSettings | None = None
    tiers: TierSettings | None = None
    attribution: AttributionSettings = Field(default_factory=AttributionSettings)

    @model_validator(mode="before")
    @classmethod
    def _flat_quality_args(cls, data: object) -> object:
        # KpiSettings(min_closed_deals=.., quality_weights=..) is accepted as a shortcut
        if isinstance(data, dict) and ("min_closed_deals" in data or "quality_weights" in data):
            data = dict(data)
            quality = dict(data.get("quality_score") or {})
            if "min_closed_deals" in data:
                quality["min_closed_deals"] = data.pop("min_closed_deals")
            if "quality_weights" in data:
                quality["weights"] = data.pop("quality_weights")
            data["quality_score"] = quality
        return data

    _check_channels = field_validator("channels")(check_channels)
    _check_timezone = field_validator("reporting_timezone")(check_optional_timezone)
