"""``sources.hubspot``: the HubSpot connector's settings (documented in ``config.example.yaml``).

Every setting has a default that works for a standard portal; only ``token_env`` must name a set
environment variable holding a private-app access token
(https://developers.hubspot.com/docs/apps/legacy-apps/private-apps/overview).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.bad_records import BadRecordSetting
from connectors.base import WritebackTarget
from connectors.setting_checks import existing_file, positive_rates
from kpi_engine.target_settings import DIRECTION

#: Deal properties always asked for (the issue's list); ``deal_properties`` adds to them.
BASE_DEAL_PROPERTIES = (
    "amount",
    "deal_currency_code",
    "amount_in_home_currency",
    "dealstage",
    "pipeline",
    "closedate",
    "createdate",
    "hs_lastmodifieddate",
    "hs_analytics_source",
    "hubspot_owner_id",
    "dealname",
    "hs_merged_object_ids",
)


class PartnerRule(BaseModel):
    """How partner companies are recognised (both ways may be on at once).

    Attributes:
        company_property: company property whose value marks a partner (``None``: off).
        company_values: the values that mean "partner" (HubSpot company ``type`` options).
        association_label: the deal -> company association label naming the deal's partner
            (``None``: off); read with the v4 associations batch endpoint.
        name_property: the company property holding the partner's name.
        tier_property: a company property holding the partner tier, if any.
        link_labels: the deal -> company association labels that link a deal to one of its
            partners (several partners per deal; ``attribution.roles`` maps them): ``None``
            every user-defined label (the ``association_label`` too when ``partner_property``
            names the partner), ``[]`` none.
    """

    model_config = ConfigDict(extra="forbid")

    company_property: str | None = "type"
    company_values: list[str] = Field(default_factory=lambda: ["PARTNER", "RESELLER"])
    association_label: str | None = "Partner"
    link_labels: list[str] | None = None
    name_property: str = "name"
    tier_property: str | None = None


class HubSpotSettings(BadRecordSetting):
    """``sources.hubspot``.

    Attributes:
        token_env: environment variable holding the private-app access token (Bearer).
        secrets_file: optional ``KEY=value`` (or ``export KEY=value``) file supplying
            ``token_env`` when unset; it must exist.
        host: API base URL (``https://api.hubapi.com``; the CRM sandbox's URL in tests).
        ca_bundle: PEM file of CAs to trust instead of the system store (a TLS proxy, the
            sandbox); relative to the config file.
        deal_properties: extra deal properties to ask for, on top of the required ones.
        partner_property: deal property holding the partner company id (e.g.
            ``partner_company_id``); when set, it wins over the association label.
        partners: how partner companies are recognised.
        lookback_minutes: minutes subtracted from the watermark before searching (the search
            index lags writes by seconds to minutes).
        page_size: deals per search page (HubSpot's maximum is 200).
        first_sync: how a sync without a watermark (first sync, ``--full-refresh``) reads
            deals: ``list`` (``GET /crm/v3/objects/deals``, 100 per page, id order, paced only
            by the general limit) or ``search`` (keyset search, 200 per page, 4 calls per
            second). ``bench/hubspot_pull.py`` measures both; ``list`` is the default.
        deals_per_commit: deals committed (with their watermark) per store transaction; a
            crash loses at most this many. Search pages are gathered up to it (a DuckDB
            commit costs about as much for 200 rows as for 1,000).
        search_requests_per_second: pace of search calls (HubSpot: 4 per second per token,
            https://developers.hubspot.com/changelog/crm-search-api-rate-limit-increase).
        retry_attempts: tries per request before a transient error (429, 5xx, dropped
            connection) stops the sync.
        timeout_seconds: per-request connect/read timeout.
        team_units: team name -> unit name (HubSpot has teams, not units).
        default_unit: unit of owners whose team is not in ``team_units``.
        won_stages / lost_stages: stage ids (or ``pipeline:stage``) forced won / lost whatever
            the pipeline metadata says (the metadata rule: closed with probability 1.0 = won,
            0.0 = lost).
        currency_rates: units of a currency per one unit of the reporting currency, for deals
            whose ``amount_in_home_currency`` cannot be used (home currency is not the reporting
            currency); each > 0.
        closedate_midnight_utc_is_date: read a close date at exactly 00:00 UTC as that calendar
            date (a date-only value written by the API or an import) instead of converting it
            to the portal's time zone.
        association_sweep_max_deals: the association sweep's size (:mod:`connectors.hubspot.sweep`):
            with at most this many live deals every deal's partner association is re-read on
            every run (1,000 deals a call); above it, a rotating slice of this many deals a run.
            0 turns the sweep off.
        partner_history: read the history of ``partner_property``
            (``propertiesWithHistory``) into ``partner_changes`` ("partner changed after close").
        on_bad_record: ``reject`` or ``stop`` (see :class:`BadRecordSetting`).
        goal_kpis: goal name (``hs_goal_name``) -> the KPI its targets are (``won_amount``,
            ``deals_won``, ...): the owners' goals (``goal_targets``) of these names are read
            as the ``targets`` stream (empty: no goals read; scope ``crm.objects.goals.read``).
    """

    model_config = ConfigDict(extra="forbid")

    token_env: str = "HUBSPOT_ACCESS_TOKEN"
    secrets_file: Path | None = None
    host: str = "https://api.hubapi.com"
    ca_bundle: Path | None = None
    deal_properties: list[str] = Field(default_factory=list)
    partner_property: str | None = None
    partners: PartnerRule = Field(default_factory=PartnerRule)
    lookback_minutes: float = Field(default=10, ge=0)
    page_size: int = Field(default=200, ge=1, le=200)
    deals_per_commit: int = Field(default=1000, ge=1)
    first_sync: Literal["list", "search"] = "list"
    search_requests_per_second: float = Field(default=4, gt=0)
    retry_attempts: int = Field(default=6, ge=1)
    timeout_seconds: float = Field(default=60, gt=0)
    team_units: dict[str, str] = Field(default_factory=dict)
    default_unit: str | None = None
    won_stages: list[str] = Field(default_factory=list)
    lost_stages: list[str] = Field(default_factory=list)
    currency_rates: dict[str, Decimal] = Field(default_factory=dict)
    closedate_midnight_utc_is_date: bool = True
    association_sweep_max_deals: int = Field(default=50_000, ge=0)
    goal_kpis: dict[str, str] = Field(default_factory=dict)
    partner_history: bool = False

    _files = field_validator("ca_bundle", "secrets_file")(existing_file)
    _check_rates = field_validator("currency_rates")(positive_rates)

    @field_validator("goal_kpis")
    @classmethod
    def _goal_kpis(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted({k for k in value.values() if k not in DIRECTION})
        if unknown:
            msg = (f"unknown KPI(s) {', '.join(unknown)}: a goal is a target of a KPI with a "
                   f"direction ({', '.join(DIRECTION)})")
            raise ValueError(msg)
        return value

    @field_validator("host")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            msg = f"host {value!r} must start with https://"
            raise ValueError(msg)
        return value.rstrip("/")

    def secret_settings(self) -> dict[str, str]:
        """Setting -> environment variable of every secret the connector reads."""
        return {"token_env": self.token_env}

    def properties(self) -> list[str]:
        """The deal properties a search asks for: the required ones, extras, the partner one."""
        extra = [*self.deal_properties, *([self.partner_property] if self.partner_property else [])]
        return list(dict.fromkeys([*BASE_DEAL_PROPERTIES, *extra]))


#: HubSpot company properties that recognise partners (``sources.hubspot.partners``) or identify
#: the record: never written.
HUBSPOT_PARTNER_FLAGS = frozenset({"type", "hs_object_id", "name", "domain"})
_HS_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class HubSpotWriteback(WritebackTarget):
    """``writeback.hubspot``: KPIs onto partner companies.

    Attributes:
        object: the object type written (partners are companies).
        grain, period, fields, clear_on_null: see :class:`~connectors.base.WritebackTarget`
            (``fields`` names internal property names, ``win_rate: partner_win_rate``).
        allow_standard_fields: HubSpot-defined properties that may be written (default: only
            custom properties); partner-recognition properties (``type``) never may.
        property_group: the group ``push --create-properties`` creates missing properties in.
        batch_size: records per ``batch/update`` call (at most 100).
    """

    object: Literal["companies"] = "companies"
    property_group: str = Field(default="partnerkpi", pattern=r"^[a-z][a-z0-9_]*$")
    batch_size: int = Field(default=100, ge=1, le=100)

    @model_validator(mode="after")
    def _fields_allowed(self) -> HubSpotWriteback:
        for kpi, name in {**self.fields, **self.extra_fields()}.items():
            if not _HS_NAME.match(name):
                msg = f"fields.{kpi}: {name!r} is not a HubSpot internal property name"
                raise ValueError(msg)
            if name in HUBSPOT_PARTNER_FLAGS:
                msg = f"fields.{kpi}: {name} identifies partners and is never written"
                raise ValueError(msg)
        return self


def pulled_fields(settings: HubSpotSettings) -> frozenset[str]:
    """Company properties the pull reads as data (lower-cased): never a write-back target."""
    rule = settings.partners
    return frozenset(f.lower() for f in (rule.name_property, rule.tier_property,
                                         rule.company_property, "hs_lastmodifieddate") if f)
