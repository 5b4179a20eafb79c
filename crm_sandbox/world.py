"""The sandbox's CRM-neutral model of one company's channel sales.

A :class:`World` is what both CRM facades of the sandbox serve: the Salesforce facade renders it as
Account / User / Opportunity / OpportunityStage / OpportunityHistory / Lead (and ForecastingQuota /
Period) records, the HubSpot facade as companies / owners / deals / pipelines / contacts (and
goal_targets). Loading a data set (the Maven CRM
data set, or the synthetic generator) produces a World; the facades never read files themselves.

All datetimes are timezone-aware UTC; amounts are ``Decimal`` in the deal's own currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass
class Partner:
    """A partner organisation (Salesforce partner Account / HubSpot company of type PARTNER).

    ``key`` is a stable text key inside the world (e.g. ``"P01"``); each facade derives its own
    record id from it (Salesforce 18-char ``001...`` id, HubSpot numeric id).
    """

    key: str
    name: str
    partner_type: str = "Reseller"  # Reseller | Referral | Agency
    tier: str | None = None  # e.g. Gold / Silver / Bronze
    is_deleted: bool = False


@dataclass
class Owner:
    """A sales rep (Salesforce User / HubSpot owner). ``team`` and ``unit`` are plain names."""

    key: str
    name: str
    email: str
    team: str | None
    unit: str | None
    is_active: bool = True


@dataclass
class Stage:
    """One stage of the (single) deal pipeline.

    ``key`` is the API name (Salesforce StageName / HubSpot stage id); ``probability`` is 0..1.
    Won and closed come from the flags, never from the name.
    """

    key: str
    label: str
    probability: Decimal
    is_closed: bool
    is_won: bool
    order: int


@dataclass
class Deal:
    """An opportunity / deal.

    ``created_at`` may be ``None`` only for data sets that lack it (the Maven data set's
    Prospecting rows); ``close_date`` is the CRM's date-only close date; ``stage_history`` is a
    list of ``(stage_key, entered_at)`` in time order; ``modified_at`` feeds SystemModstamp /
    hs_lastmodifieddate. ``partner_links`` are the deal's other partners as ``(partner_key,
    role, is_primary)``: Salesforce ``OpportunityPartner`` rows (with their automatic reverse
    rows), HubSpot deal -> company associations labelled ``role``.
    """

    key: str
    name: str
    partner_key: str | None
    owner_key: str | None
    account_name: str | None
    stage_key: str
    amount: Decimal | None
    currency: str
    created_at: datetime | None
    close_date: date | None
    lead_source: str | None
    modified_at: datetime
    stage_history: list[tuple[str, datetime]] = field(default_factory=list)
    is_deleted: bool = False
    partner_links: list[tuple[str, str, bool]] = field(default_factory=list)


@dataclass
class Lead:
    """A lead (Salesforce Lead / HubSpot contact in the lead lifecycle stage)."""

    key: str
    name: str
    partner_key: str | None
    owner_key: str | None
    created_at: datetime
    lead_source: str | None
    converted_at: datetime | None = None
    converted_deal_key: str | None = None
    is_deleted: bool = False


@dataclass
class Quota:
    """One owner's sales quota (goal) for one period: a Salesforce ``ForecastingQuota`` of a
    forecast ``Period``, a HubSpot ``goal_targets`` object.

    ``start`` is the period's first day, ``months`` its length (1, 3 or 12); ``amount`` is in
    the corporate currency (a revenue quota), ``quantity`` a quantity quota (Salesforce only);
    ``name`` is the HubSpot goal's name.
    """

    key: str
    owner_key: str
    start: date
    months: int
    amount: Decimal | None = None
    quantity: Decimal | None = None
    name: str = "Revenue"
    modified_at: datetime | None = None


@dataclass
class World:
    """Everything one sandbox serves.

    ``currency_rates`` maps ISO code -> units of that currency per one unit of
    ``corporate_currency`` (Salesforce ``CurrencyType.ConversionRate`` convention; the corporate
    currency has rate 1). ``dated_rates`` are the dated rates of advanced currency management
    (Salesforce ``DatedConversionRate``): ``(ISO code, start date, rate)``, each in force from its
    start date until the next start date of the same code; empty: the org does not use them.
    """

    partners: list[Partner]
    owners: list[Owner]
    stages: list[Stage]
    deals: list[Deal]
    leads: list[Lead] = field(default_factory=list)
    corporate_currency: str = "USD"
    currency_rates: dict[str, Decimal] = field(default_factory=lambda: {"USD": Decimal(1)})
    #: owners' quotas; ``forecasting`` False: the Salesforce org has no ForecastingQuota
    #: (Collaborative Forecasts off) and HubSpot no goals
    quotas: list[Quota] = field(default_factory=list)
    forecasting: bool = True
    dated_rates: list[tuple[str, date, Decimal]] = field(default_factory=list)
