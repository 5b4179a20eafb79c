"""Settings of the Salesforce source (``sources.salesforce``): login, objects, fields, limits.

Secrets never appear here: ``*_env`` settings name the environment variables (or keys of the
secrets file) that hold them. Example (the CRM sandbox)::

    sources:
      salesforce:
        auth: password
        login_url: https://127.0.0.1:8443
        ca_bundle: /tmp/crm-sandbox/sandbox-ca.pem
        username: sandbox@partnerkpi.example
        password_env: SF_PASSWORD
        security_token_env: SF_SECURITY_TOKEN
        client_id_env: SF_CLIENT_ID
        client_secret_env: SF_CLIENT_SECRET
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.bad_records import BadRecordSetting
from connectors.base import WritebackTarget
from connectors.secrets import env_name_problem
from connectors.setting_checks import existing_file

#: Every stream the connector can pull, in pull order.
STREAM_NAMES = ("currency_rates", "stages", "owners", "partners", "deals", "stage_history", "leads",
                "deal_partners", "partner_junction", "partner_changes")

_FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


class PartnerJunction(BaseModel):
    """``sources.salesforce.partner_junction``: a custom object with one record per deal ->
    partner link (fields are API names on that object).

    Attributes:
        object: the junction object (``Deal_Partner__c``).
        deal_field: its lookup to the Opportunity.
        partner_field: its lookup to the partner Account.
        role_field: its role picklist / text (mapped by ``attribution.roles``), or None.
        share_field: its share of the deal's credit (a percent field 0..100, or a number
            0..1 with ``share_scale: ratio``), or None.
        primary_field: its checkbox marking the primary partner, or None.
        share_scale: ``percent`` (0..100) or ``ratio`` (0..1).
    """

    model_config = ConfigDict(extra="forbid")

    object: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    deal_field: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    partner_field: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    role_field: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    share_field: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    primary_field: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    share_scale: Literal["percent", "ratio"] = "percent"


class SalesforceSettings(BadRecordSetting):
    """``sources.salesforce``.

    Attributes:
        auth: how to log in: ``password`` (username + password + security token; with
            ``client_id_env``/``client_secret_env`` through the OAuth 2.0 username-password flow,
            else through the SOAP login), ``jwt`` (OAuth 2.0 JWT bearer: connected app's consumer
            key + private key file + username), ``client_credentials`` (OAuth 2.0 client
            credentials: consumer key + secret), ``access_token`` (an existing access token +
            ``instance_url``).
        login_url: the login host: ``https://login.salesforce.com``, ``https://test.salesforce.com``
            for Salesforce sandboxes, a My Domain URL, or the CRM sandbox's URL.
        instance_url: the org's URL, only for ``auth: access_token``.
        ca_bundle: PEM file to verify TLS against (default: the system store). Relative to the
            config file.
        api_version: REST API version, e.g. ``"60.0"``.
        username: the Salesforce username (``password`` and ``jwt``); not a secret.
        password_env: env var holding the password (``password``).
        security_token_env: env var holding the security token (``password``; may be unset when
            the login IP is trusted).
        client_id_env: env var holding the connected app's consumer key (``password`` via OAuth,
            ``jwt``, ``client_credentials``).
        client_secret_env: env var holding the consumer secret (``password`` via OAuth,
            ``client_credentials``).
        private_key_file: the connected app's private key, PEM (``jwt``). Relative to the config.
        access_token_env: env var holding an access token (``access_token``).
        secrets_file: a ``KEY=value`` file (outside the repo) supplying the variables above
            when the environment lacks them. Relative to the config file.
        streams: which streams to pull (default: all of ``STREAM_NAMES``).
        partner_field: Opportunity field holding the partner Account id (``PartnerAccountId``,
            or a custom lookup such as ``Partner_Account__c``).
        lead_partner_field: Lead field holding the partner Account id.
        partner_filter: SOQL condition selecting partner Accounts (``IsPartner = true``,
            ``Type = 'Partner'``). It is the user's own SOQL, inserted as written.
        partner_tier_field: Account field holding the partner tier (optional).
        owner_team_field: User field (or relationship path) giving the owner's team.
        owner_unit_field: User field (or relationship path) giving the owner's unit.
        currency: currency of amounts when the org is single-currency (default: the reporting
            currency).
        lookback_seconds: each incremental query starts this many seconds before the watermark.
        page_size: REST query batch size asked for (``Sforce-Query-Options: batchSize``,
            200..2000); Salesforce may return fewer.
        bulk_threshold: when a query's ``totalSize`` exceeds this many records, the stream is read
            through Bulk API 2.0 instead of REST pages.
        sweep_interval_days: days between two hard-delete id sweeps (0: never).
        calculated_refresh_hours: hours between two re-reads of the streams holding a formula
            or cross-object field, whose values change without ``SystemModstamp`` (0: never;
            see ``calculated.py``).
        count_check: after deals and partners, compare the org's ``SELECT COUNT()`` over the
            window read with the store's count (one call per stream and run; a mismatch is
            re-read next run).
        max_api_share: stop before this share (0..1) of the org's daily API allowance is used
            (read from ``Sforce-Limit-Info`` on every response).
        timeout_seconds: HTTP timeout of one request, seconds.
        retry_attempts: tries per request on connection errors, timeouts and 5xx.
        partner_junction: a custom junction object linking opportunities to partner Accounts
            (several partners per deal), read by the ``partner_junction`` stream; None: off.
        partner_history: read the partner field's changes from ``OpportunityFieldHistory``
            (``partner_changes`` stream; field history tracking must be on for the field).
        on_bad_record: ``reject`` or ``stop`` (see :class:`BadRecordSetting`).
        quotas: also read the owners' Collaborative Forecasts quotas (``ForecastingQuota``,
            revenue quotas as ``won_amount`` targets) as the ``targets`` stream; an org without
            forecasting gets a one-line note, not a failure.
    """

    model_config = ConfigDict(extra="forbid")

    auth: Literal["password", "jwt", "client_credentials", "access_token"] = "password"
    login_url: str = Field(default="https://login.salesforce.com", pattern=r"^https://\S+$")
    instance_url: str | None = Field(default=None, pattern=r"^https://\S+$")
    ca_bundle: Path | None = None
    api_version: str = Field(default="60.0", pattern=r"^\d{2}\.0$")
    username: str | None = None
    password_env: str | None = None
    security_token_env: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    private_key_file: Path | None = None
    access_token_env: str | None = None
    secrets_file: Path | None = None
    streams: list[Literal[STREAM_NAMES]] = Field(default_factory=lambda: list(STREAM_NAMES))  # type: ignore[valid-type]
    partner_field: str = "PartnerAccountId"
    lead_partner_field: str = "PartnerAccountId"
    partner_filter: str = "IsPartner = true"
    partner_tier_field: str | None = None
    owner_team_field: str = "UserRole.Name"
    owner_unit_field: str = "Division"
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    lookback_seconds: int = Field(default=600, ge=0)
    page_size: int = Field(default=2000, ge=200, le=2000)
    bulk_threshold: int = Field(default=50000, ge=1)
    sweep_interval_days: int = Field(default=7, ge=0)
    calculated_refresh_hours: float = Field(default=24, ge=0)
    count_check: bool = True
    max_api_share: float = Field(default=0.8, gt=0, le=1)
    timeout_seconds: float = Field(default=120.0, gt=0)
    retry_attempts: int = Field(default=6, ge=1)
    quotas: bool = False
    partner_junction: PartnerJunction | None = None
    partner_history: bool = False

    _paths = field_validator("ca_bundle", "private_key_file", "secrets_file")(existing_file)

    @field_validator(
        "partner_field",
        "lead_partner_field",
        "partner_tier_field",
        "owner_team_field",
        "owner_unit_field",
    )
    @classmethod
    def _field_path(cls, value: str | None) -> str | None:
        if value is not None and not _FIELD_PATH.match(value):
            msg = f"{value!r} is not a Salesforce field API name or relationship path"
            raise ValueError(msg)
        return value

    @field_validator("partner_filter")
    @classmethod
    def _one_condition(cls, value: str) -> str:
        """The filter is inserted as ``(partner_filter) AND <watermark>``: a quote left open or
        a parenthesis closed early would let it change the rest of the query."""
        depth, quoted, escaped = 0, False, False
        for char in value:
            if quoted:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == "'":
                    quoted = False
                continue
            if char == "'":
                quoted = True
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                break
        if quoted or depth != 0:
            msg = (f"partner_filter {value!r} has an unbalanced quote or parenthesis; it must be "
                   "one SOQL condition (quotes inside values escaped as \\')")
            raise ValueError(msg)
        return value

    @field_validator(
        "password_env",
        "security_token_env",
        "client_id_env",
        "client_secret_env",
        "access_token_env",
    )
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        problem = env_name_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    def secret_settings(self) -> dict[str, str]:
        """Setting -> environment variable of every secret the login of ``auth`` reads (as
        :func:`connectors.salesforce.auth.login` does)."""
        names = {
            "password": ("password_env", "security_token_env", "client_id_env",
                         "client_secret_env"),
            "jwt": ("client_id_env",),
            "client_credentials": ("client_id_env", "client_secret_env"),
            "access_token": ("access_token_env",),
        }[self.auth]
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @model_validator(mode="after")
    def _auth_needs(self) -> SalesforceSettings:
        needs = {
            "password": ("username", "password_env"),
            "jwt": ("username", "client_id_env", "private_key_file"),
            "client_credentials": ("client_id_env", "client_secret_env"),
            "access_token": ("access_token_env", "instance_url"),
        }[self.auth]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            msg = f"auth {self.auth} needs {', '.join(missing)}"
            raise ValueError(msg)
        if self.auth == "password" and (self.client_id_env is None) != (
            self.client_secret_env is None
        ):
            msg = "auth password through OAuth needs both client_id_env and client_secret_env"
            raise ValueError(msg)
        return self


#: Standard Salesforce Account fields that mark or link partners: never written, even when
#: listed in ``allow_standard_fields`` (the partner filter and the KPIs depend on them).
SALESFORCE_PARTNER_FLAGS = frozenset(
    {"ispartner", "iscustomerportal", "isbuyer", "partneraccountid", "ispersonaccount", "id",
     "ownerid", "recordtypeid", "parentid", "masterrecordid", "type", "name"}
)
_SF_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class SalesforceWriteback(WritebackTarget):
    """``writeback.salesforce``: KPIs onto partner Accounts.

    Attributes:
        object: the sObject written (partners are Accounts).
        grain, period, clear_on_null: see :class:`~connectors.base.WritebackTarget`.
        fields: KPI name -> field API name (``win_rate: Partner_Win_Rate__c``).
        allow_standard_fields: standard (non-``__c``) fields that may be written; partner flags
            (``IsPartner``, ``IsCustomerPortal``, ...) never may.
        batch_size: records per ``PATCH /composite/sobjects`` call (at most 200).
    """

    object: Literal["Account"] = "Account"
    batch_size: int = Field(default=200, ge=1, le=200)

    @model_validator(mode="after")
    def _fields_allowed(self) -> SalesforceWriteback:
        allowed = {f.lower() for f in self.allow_standard_fields}
        for kpi, name in {**self.fields, **self.extra_fields()}.items():
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


def pulled_fields(settings: SalesforceSettings) -> frozenset[str]:
    """Account fields the pull reads as data (lower-cased): never a write-back target."""
    return frozenset(f.lower() for f in ("Name", "Type", settings.partner_tier_field) if f)
