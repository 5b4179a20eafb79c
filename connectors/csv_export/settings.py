"""Settings of the CRM-export (CSV) source: files and column mappings (``sources.csv``).

Paths are relative to the config file. Example (the shared Maven data set)::

    sources:
      csv:
        currency: USD
        deals:
          path: fixtures/maven/sales_pipeline.csv
          columns: {deal_id: opportunity_id, owner_id: sales_agent, account_name: account,
                    stage: deal_stage, created_at: engage_date, close_date: close_date,
                    amount: close_value}
          won_stages: [Won]
          lost_stages: [Lost]
        owners:
          path: fixtures/maven/sales_teams.csv
          columns: {owner_id: sales_agent, name: sales_agent, team: manager, unit: regional_office}
        stage_probability: {Prospecting: 0.1, Engaging: 0.4, Won: 1.0, Lost: 0.0}
"""

from __future__ import annotations

import codecs
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from connectors.setting_checks import existing_file, positive_rates

DEAL_COLUMNS = {
    "deal_id": True,  # canonical column -> required in the mapping
    "stage": True,
    "name": False,
    "partner_id": False,
    "owner_id": False,
    "account_name": False,
    "amount": False,
    "currency": False,
    "created_at": False,
    "close_date": False,
    "lead_source": False,
    "pipeline": False,
}
OWNER_COLUMNS = {"owner_id": True, "name": False, "team": False, "unit": False, "is_active": False}
PARTNER_COLUMNS = {"partner_id": True, "name": False, "partner_type": False, "tier": False}
LEAD_COLUMNS = {
    "lead_id": True,
    "partner_id": False,
    "owner_id": False,
    "created_at": True,
    "converted_at": False,
    "converted_deal_id": False,
    "lead_source": False,
}


class _FileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _columns: dict[str, bool] = {}

    path: Path
    columns: dict[str, str]

    @field_validator("path")
    @classmethod
    def _check_path(cls, path: Path, info: ValidationInfo) -> Path | None:
        return existing_file(path, info)

    @model_validator(mode="after")
    def _check_columns(self) -> _FileSettings:
        allowed = self._columns
        unknown = sorted(set(self.columns) - set(allowed))
        if unknown:
            msg = f"unknown column mapping key(s) {', '.join(unknown)}; use {', '.join(allowed)}"
            raise ValueError(msg)
        missing = [c for c, required in allowed.items() if required and c not in self.columns]
        if missing:
            msg = f"columns must map {', '.join(missing)}"
            raise ValueError(msg)
        return self


class CsvDealsSettings(_FileSettings):
    """``sources.csv.deals``: the opportunity export and how to read its stages."""

    _columns = DEAL_COLUMNS
    won_stages: list[str]
    lost_stages: list[str] = Field(default_factory=list)


class CsvOwnersSettings(_FileSettings):
    """``sources.csv.owners``: the sales-team export (owner, team, unit)."""

    _columns = OWNER_COLUMNS


class CsvPartnersSettings(_FileSettings):
    """``sources.csv.partners``: the partner list (optional)."""

    _columns = PARTNER_COLUMNS


class CsvLeadsSettings(_FileSettings):
    """``sources.csv.leads``: the lead export (optional)."""

    _columns = LEAD_COLUMNS


class CsvSettings(BaseModel):
    """``sources.csv``.

    Attributes:
        currency: currency of amounts when the deals file has no currency column (default: the
            reporting currency).
        stage_probability: stage -> probability 0..1 (weighted pipeline); every stage in the file
            must be listed here or in won_stages / lost_stages.
        currency_rates: ISO code -> units of that currency per one unit of the reporting currency.
        encoding: text encoding of the files (default utf-8-sig: a BOM is ignored).
        delimiter: the field separator (default ``,``; ``;`` for many European exports).
    """

    model_config = ConfigDict(extra="forbid")

    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    deals: CsvDealsSettings
    owners: CsvOwnersSettings | None = None
    partners: CsvPartnersSettings | None = None
    leads: CsvLeadsSettings | None = None
    stage_probability: dict[str, Decimal] = Field(default_factory=dict)
    currency_rates: dict[str, Decimal] = Field(default_factory=dict)
    encoding: str = "utf-8-sig"
    delimiter: str = Field(default=",", min_length=1, max_length=1)

    @field_validator("encoding")
    @classmethod
    def _check_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            msg = f"unknown encoding {value!r} (e.g. utf-8, latin-1, utf-16)"
            raise ValueError(msg) from None
        return value

    @field_validator("stage_probability")
    @classmethod
    def _check_probability(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        bad = [k for k, p in value.items() if not Decimal(0) <= p <= Decimal(1)]
        if bad:
            msg = f"probability of stage(s) {', '.join(bad)} must be between 0 and 1"
            raise ValueError(msg)
        return value

    _check_rates = field_validator("currency_rates")(positive_rates)
