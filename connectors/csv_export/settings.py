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
import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from connectors.bad_records import BadRecordSetting
from connectors.setting_checks import check_timezone, existing_file, positive_rates
from connectors.values import NumberFormat

#: strptime directives that read a time of day (a value with one needs a time zone).
TIME_DIRECTIVES = re.compile(r"%[HIMSpXcTRf]")

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
    "influencers": False,  # more partner ids of the deal, separated by deals.list_separator
}
DEAL_PARTNER_COLUMNS = {
    "deal_id": True, "partner_id": True, "role": False, "category": False, "share": False,
    "is_primary": False,
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
    """``sources.csv.deals``: the opportunity export and how to read its stages.

    ``partner_id`` is the deal's primary partner; ``influencers`` (optional) lists more partner
    ids, separated by ``list_separator``, each a link with role ``influencer_role``.
    """

    _columns = DEAL_COLUMNS
    won_stages: list[str]
    lost_stages: list[str] = Field(default_factory=list)
    list_separator: str = Field(default=";", min_length=1)
    influencer_role: str = Field(default="Influencer", min_length=1)


class CsvDealPartnersSettings(_FileSettings):
    """``sources.csv.deal_partners``: a file of deal -> partner links (one row per link).

    ``share`` is a ratio 0..1, or a percentage 0..100 with ``share_scale: percent``;
    ``is_primary`` true / false; ``category`` states the link's category outright (else it comes
    from ``role`` through ``attribution.roles``).
    """

    _columns = DEAL_PARTNER_COLUMNS
    share_scale: Literal["ratio", "percent"] = "ratio"


class CsvOwnersSettings(_FileSettings):
    """``sources.csv.owners``: the sales-team export (owner, team, unit)."""

    _columns = OWNER_COLUMNS


class CsvPartnersSettings(_FileSettings):
    """``sources.csv.partners``: the partner list (optional)."""

    _columns = PARTNER_COLUMNS


class CsvLeadsSettings(_FileSettings):
    """``sources.csv.leads``: the lead export (optional)."""

    _columns = LEAD_COLUMNS


def _check_date_format(value: str | None) -> str | None:
    if value is None:
        return None
    for directives, name in (("%Y %y", "year"), ("%m %b %B", "month"), ("%d", "day")):
        if not any(d in value for d in directives.split()):
            msg = f"{value!r} has no {name} ({' or '.join(directives.split())})"
            raise ValueError(msg)
    return value


class CsvSettings(BadRecordSetting):
    """``sources.csv``.

    Attributes:
        currency: currency of amounts when the deals file has no currency column (default: the
            reporting currency).
        stage_probability: stage -> probability 0..1 (weighted pipeline); every stage in the file
            must be listed here or in won_stages / lost_stages.
        currency_rates: ISO code -> units of that currency per one unit of the reporting currency.
        encoding: text encoding of the files (default utf-8-sig: a BOM is ignored).
        delimiter: the field separator (default ``,``; ``;`` for many European exports).
        decimal_separator: ``.`` or ``,`` in amounts. Unset: a point, with commas between groups
            of 3 digits (``1,800.00``); then, with delimiter ``;`` or a tab, a value whose
            meaning depends on the locale (``20.000``, ``1,500``) stops the import.
        thousands_separator: ``,``, ``.``, ``' '``, ``'`` or ``""`` (none); default ``,`` with a
            decimal point, ``.`` with a decimal comma.
        date_format: strptime pattern of close dates (``%d.%m.%Y``); default ``YYYY-MM-DD``.
        datetime_format: strptime pattern of created / converted date-times (``%d.%m.%Y
            %H:%M``); default ISO-8601 with an offset, a bare date, or epoch milliseconds.
        timezone: IANA zone of date-times written without an offset (a ``datetime_format``
            without ``%z``, ISO text without one); bare dates are always midnight UTC.
        deal_partners: a file of deal -> partner links (several partners per deal).
        max_delete_share: ratio 0..1: an import that would flag more than this share of a
            file's stored live rows deleted is refused (a truncated export); default 0.5.
        on_bad_record: ``keep`` / ``reject`` / ``stop`` (:class:`BadRecordSetting`): an
            unreadable value, an unknown stage, or a partner or owner id missing from the
            partners / owners file.
    """

    model_config = ConfigDict(extra="forbid")

    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    deals: CsvDealsSettings
    owners: CsvOwnersSettings | None = None
    partners: CsvPartnersSettings | None = None
    leads: CsvLeadsSettings | None = None
    deal_partners: CsvDealPartnersSettings | None = None
    stage_probability: dict[str, Decimal] = Field(default_factory=dict)
    currency_rates: dict[str, Decimal] = Field(default_factory=dict)
    encoding: str = "utf-8-sig"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    decimal_separator: Literal[".", ","] | None = None
    thousands_separator: Literal[",", ".", " ", "'", ""] | None = None
    date_format: str | None = None
    datetime_format: str | None = None
    timezone: str | None = None
    max_delete_share: float = Field(default=0.5, ge=0, le=1)

    _check_date_format = field_validator("date_format")(_check_date_format)

    @field_validator("datetime_format")
    @classmethod
    def _check_datetime_format(cls, value: str | None) -> str | None:
        return _check_date_format(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @model_validator(mode="after")
    def _check_formats(self) -> CsvSettings:
        if self.thousands_separator is not None and self.decimal_separator is None:
            msg = ("thousands_separator needs decimal_separator ('.' or ','): say both, the "
                   "pair is what makes a value unambiguous")
            raise ValueError(msg)
        if self.decimal_separator is not None and self.thousands_separator == (
                self.decimal_separator):
            msg = f"thousands_separator {self.thousands_separator!r} is the decimal separator"
            raise ValueError(msg)
        fmt = self.datetime_format
        if (fmt and "%z" not in fmt and TIME_DIRECTIVES.search(fmt)
                and self.timezone is None):
            msg = (f"datetime_format {fmt!r} has no %z: set sources.csv.timezone (e.g. "
                   "Europe/Berlin) to say which time zone its values are in")
            raise ValueError(msg)
        return self

    def number_format(self) -> NumberFormat | None:
        """The amounts' :class:`NumberFormat` when ``decimal_separator`` is set, else None."""
        if self.decimal_separator is None:
            return None
        thousands = self.thousands_separator
        if thousands is None:
            thousands = "," if self.decimal_separator == "." else "."
        return NumberFormat(self.decimal_separator, thousands)

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
