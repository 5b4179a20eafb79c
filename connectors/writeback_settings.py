"""``writeback:``: which KPIs are written onto which CRM fields (documented in
``config.example.yaml``; the push loop is :mod:`connectors.writeback`).

Example::

    writeback:
      salesforce:
        object: Account
        grain: quarter
        period: latest_complete
        fields:
          win_rate: Partner_Win_Rate__c
          average_deal_size: Partner_Avg_Deal_Size__c
          quality_score: Partner_Quality_Score__c
      hubspot:
        object: companies
        fields:
          win_rate: partner_win_rate
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kpi_engine.kpis import KPI_NAMES

#: Standard Salesforce Account fields that mark or link partners: never written, even when
#: listed in ``allow_standard_fields`` (the partner filter and the KPIs depend on them).
SALESFORCE_PARTNER_FLAGS = frozenset(
    {"ispartner", "iscustomerportal", "isbuyer", "partneraccountid", "ispersonaccount", "id",
     "ownerid", "recordtypeid", "parentid", "masterrecordid", "type", "name"}
)
#: HubSpot company properties that recognise partners (``sources.hubspot.partners``) or identify
#: the record: never written.
HUBSPOT_PARTNER_FLAGS = frozenset({"type", "hs_object_id", "name", "domain"})

_SF_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_HS_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grain: Literal["month", "quarter", "year"] = "quarter"
    period: Literal["latest_complete", "current"] = "latest_complete"
    fields: dict[str, str] = Field(min_length=1)
    clear_on_null: bool = False
    allow_standard_fields: list[str] = Field(default_factory=list)

    @field_validator("fields")
    @classmethod
    def _kpis_known(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [k for k in value if k not in KPI_NAMES]
        if unknown:
            msg = f"unknown KPI {unknown[0]!r} (one of: {', '.join(KPI_NAMES)})"
            raise ValueError(msg)
        seen: dict[str, str] = {}
        for kpi, target in value.items():
            if target.lower() in seen:
                msg = f"{seen[target.lower()]} and {kpi} both write the field {target}"
                raise ValueError(msg)
            seen[target.lower()] = kpi
        return value


class SalesforceWriteback(_Target):
    """``writeback.salesforce``: KPIs onto partner Accounts.

    Attributes:
        object: the sObject written (partners are Accounts).
        grain: the grain of the period written (``month``, ``quarter``, ``year``).
        period: ``latest_complete`` (the latest period of ``grain`` that ended on or before
            today and was computed to its end) or ``current`` (the period in progress, to
            date): :func:`kpi_engine.periods.choose_period`.
        fields: KPI name -> field API name (``win_rate: Partner_Win_Rate__c``).
        clear_on_null: write NULL when a partner has no value for a KPI in the period (default:
            leave the field as it is).
        allow_standard_fields: standard (non-``__c``) fields that may be written; partner flags
            (``IsPartner``, ``IsCustomerPortal``, ...) never may.
        batch_size: records per ``PATCH /composite/sobjects`` call (at most 200).
    """

    object: Literal["Account"] = "Account"
    batch_size: int = Field(default=200, ge=1, le=200)

    @model_validator(mode="after")
    def _fields_allowed(self) -> SalesforceWriteback:
        allowed = {f.lower() for f in self.allow_standard_fields}
        for kpi, name in self.fields.items():
            if not _SF_NAME.match(name):
                msg = f"fields.{kpi}: {name!r} is not a Salesforce field API name"
                raise ValueError(msg)
            if name.lower() in SALESFORCE_PARTNER_FLAGS:
                msg = f"fields.{kpi}: {name} is a partner or identity field and is never written"
                raise ValueError(msg)
            if not name.lower().endswith("__c") and name.lower() not in allowed:
                msg = (f"fields.{kpi}: {name} is a standard field; only custom (__c) fields are "
                       "written unless allow_standard_fields lists it")
                raise ValueError(msg)
        return self


class HubSpotWriteback(_Target):
    """``writeback.hubspot``: KPIs onto partner companies.

    Attributes:
        object: the object type written (partners are companies).
        grain, period, fields, clear_on_null: as for Salesforce (``fields`` names internal
            property names, ``win_rate: partner_win_rate``).
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
        for kpi, name in self.fields.items():
            if not _HS_NAME.match(name):
                msg = f"fields.{kpi}: {name!r} is not a HubSpot internal property name"
                raise ValueError(msg)
            if name in HUBSPOT_PARTNER_FLAGS:
                msg = f"fields.{kpi}: {name} identifies partners and is never written"
                raise ValueError(msg)
        return self


class WritebackSection(BaseModel):
    """``writeback:``: one entry per CRM to write KPIs into (none: nothing is pushed)."""

    model_config = ConfigDict(extra="forbid")

    salesforce: SalesforceWriteback | None = None
    hubspot: HubSpotWriteback | None = None

    def targets(self) -> list[str]:
        """The CRMs configured for write-back, in push order."""
        return [name for name in ("salesforce", "hubspot") if getattr(self, name)]

