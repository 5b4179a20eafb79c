"""Partner credit: which partner gets which share of a deal (sourced vs influenced, several
partners per deal), and the direct baseline.

The links of a deal are its partner field (``deals.partner_id``) and its ``deal_partners`` rows
(Salesforce ``OpportunityPartner`` / a junction object, HubSpot labelled associations, CSV
influencers). The ``attribution:`` settings map each link's role to a category and choose the
credit rule; the SQL steps ``sql/steps/credit_links.sql`` (once) and ``credit_kpis.sql`` (per
grain) compute the KPIs per category, stored whole by each compute in ``credit_kpis``.
Definitions and a worked example: ``docs/kpis.md``, "Partner credit".
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kpi_engine.store import Store

#: The categories every store has besides the configured ones.
PARTNER, DIRECT = "partner", "direct"
#: What a compute's credit leaves out or guesses, by f_credit.flag.
FLAG_WARNINGS = {
    "bad_share": "deals_with_partner_shares_not_adding_up",
    "no_primary": "partner_deals_without_one_primary_partner",
    "unmapped": "partner_deals_with_a_role_not_in_attribution_roles",
}
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
        import re

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


#: The parameter tables the credit steps read (made by :func:`parameters`).
PARAMETERS = ("credit_params", "credit_roles", "credit_categories")
#: What the grain step leaves for :func:`store_grain`.
OUTPUT = "credit_grain_result"


def parameters(store: Store, settings: AttributionSettings) -> None:
    """Write the credit steps' parameter tables (temporary) for one compute."""
    con = store.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE credit_params AS SELECT ?::VARCHAR AS rule, "
        "?::VARCHAR AS primary_category, ?::VARCHAR AS partner_field_category, "
        "?::VARCHAR AS unmapped_category, ?::DECIMAL(18, 10) AS share_tolerance",
        [settings.credit, settings.primary_category, settings.partner_field_category,
         settings.unmapped_category, settings.share_tolerance],
    )
    con.execute("CREATE OR REPLACE TEMP TABLE credit_roles (role VARCHAR, category VARCHAR)")
    if settings.roles:
        con.executemany("INSERT INTO credit_roles VALUES (?, ?)",
                        [[r.lower(), c] for r, c in settings.roles.items()])
    con.execute("CREATE OR REPLACE TEMP TABLE credit_categories (category VARCHAR, rnk INTEGER)")
    con.executemany("INSERT INTO credit_categories VALUES (?, ?)",
                    [[c, i] for i, c in enumerate(settings.categories, 1)])


def warnings(store: Store) -> dict[str, int]:
    """Deals the credit left out or could not settle (read after the ``credit_links`` step):
    warning name -> count of deals (see :data:`FLAG_WARNINGS`)."""
    rows = store.con.execute(
        "SELECT flag, count(*) FROM f_credit WHERE flag IS NOT NULL GROUP BY flag"
    ).fetchall()
    return {FLAG_WARNINGS[flag]: int(n) for flag, n in rows}


def clear(store: Store, grain: str) -> None:
    """Drop the stored credit rows of ``grain`` (a compute replaces a grain's rows whole)."""
    store.con.execute("DELETE FROM credit_kpis WHERE grain = ?", [grain])


def store_grain(store: Store, grain: str, rule: str, computed_at: datetime) -> None:
    """Replace the ``credit_kpis`` rows of ``grain`` with :data:`OUTPUT`."""
    clear(store, grain)
    store.con.execute(
        f"INSERT INTO credit_kpis BY NAME SELECT ? AS grain, ? AS rule, ? AS computed_at, * "
        f"FROM {OUTPUT}", [grain, rule, computed_at],
    )
