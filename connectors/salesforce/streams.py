"""The Salesforce streams, declared as data, and the SOQL that reads them.

============== ==================== ================= ======================================
stream         sObject              replication key   notes
============== ==================== ================= ======================================
currency_rates CurrencyType         (none: re-read)   multi-currency orgs only
stages         OpportunityStage     SystemModstamp    won / closed from IsWon / IsClosed
owners         User                 SystemModstamp    team / unit from configured fields
partners       Account              SystemModstamp    filtered by ``partner_filter``
deals          Opportunity          SystemModstamp    + CurrencyIsoCode when multi-currency
stage_history  OpportunityHistory   CreatedDate       rows never change once written
leads          Lead                 SystemModstamp
targets        ForecastingQuota     (none: re-read)   ``quotas: true``; + Period (quotas.py)
deal_partners  OpportunityPartner   SystemModstamp    reverse rows left out (rows.py)
partner_junction  (partner_junction.object)  SystemModstamp  only when configured
partner_changes   OpportunityFieldHistory    CreatedDate     only with ``partner_history``
============== ==================== ================= ======================================

A deal's partner (``partner_field``) must name a partner Account synced by the ``partners``
stream (this run or an earlier one), and its ``StageName`` an ``OpportunityStage`` synced by
``stages``; :func:`deal_references` declares both checks, which the sync loop runs against the
store (``on_bad_record`` says what happens to a deal that fails one). A check is only declared
when its stream is selected: without it there is nothing to check against.

Queries go to ``queryAll`` (deleted records included, ``IsDeleted = true``) as
``SELECT ... FROM X WHERE <filter> AND <key> >= <watermark - lookback> ORDER BY <key>, Id``.
Values enter SOQL only through simple-salesforce's ``format_soql``; field names come from the
settings (checked against a pattern) and are checked against ``describe`` before any query.
SOQL reference: https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from simple_salesforce import format_soql

from connectors.base import Reference, Stream
from connectors.salesforce.settings import SalesforceSettings


@dataclass(frozen=True)
class StreamSpec:
    """One stream: what to read and how.

    Attributes:
        name: our stream (and canonical table) name.
        sobject: the sObject queried.
        primary_key: the id field (``Id``).
        replication_key: the field the watermark follows; None: re-read whole each run.
        fields: the fields (or relationship paths) selected.
        settings_of: field -> the setting naming it (for configuration errors).
        deletable: the sObject has ``IsDeleted`` (deleted rows come through ``queryAll``).
        where: a SOQL condition from the settings, or None.
    """

    name: str
    sobject: str
    primary_key: str
    replication_key: str | None
    fields: tuple[str, ...]
    settings_of: tuple[tuple[str, str], ...] = ()
    deletable: bool = True
    where: str | None = None

    @property
    def stream(self) -> Stream:
        """The connector-neutral declaration."""
        return Stream(self.name, self.sobject, self.primary_key, self.replication_key, self.fields)

    def with_fields(self, *extra: str) -> StreamSpec:
        """A copy selecting ``extra`` fields too."""
        fields = tuple(dict.fromkeys((*self.fields, *extra)))
        return StreamSpec(
            self.name,
            self.sobject,
            self.primary_key,
            self.replication_key,
            fields,
            self.settings_of,
            self.deletable,
            self.where,
        )


def _fields(*names: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in names if n))


def declare_streams(settings: SalesforceSettings) -> list[StreamSpec]:
    """The streams ``settings.streams`` selects, in pull order.

    Returns:
        One :class:`StreamSpec` per selected stream (rates, stages, owners, partners, deals,
        history, leads).
    """
    s = settings
    stamps = ("SystemModstamp",)
    all_specs = [
        StreamSpec(
            "currency_rates",
            "CurrencyType",
            "Id",
            None,
            ("Id", "IsoCode", "ConversionRate", "IsCorporate", "IsActive"),
            deletable=False,
        ),
        StreamSpec(
            "stages",
            "OpportunityStage",
            "Id",
            "SystemModstamp",
            (
                "Id",
                "ApiName",
                "MasterLabel",
                "IsActive",
                "IsClosed",
                "IsWon",
                "DefaultProbability",
                "SortOrder",
                *stamps,
            ),
            deletable=False,
        ),
        StreamSpec(
            "owners",
            "User",
            "Id",
            "SystemModstamp",
            _fields("Id", "Name", "IsActive", s.owner_team_field, s.owner_unit_field, *stamps),
            (("owner_team_field", s.owner_team_field), ("owner_unit_field", s.owner_unit_field)),
            deletable=False,
        ),
        StreamSpec(
            "partners",
            "Account",
            "Id",
            "SystemModstamp",
            _fields("Id", "Name", "Type", s.partner_tier_field, "IsDeleted", *stamps),
            (("partner_tier_field", s.partner_tier_field or ""),),
            where=s.partner_filter,
        ),
        StreamSpec(
            "deals",
            "Opportunity",
            "Id",
            "SystemModstamp",
            _fields(
                "Id",
                "Name",
                "AccountId",
                "Account.Name",
                "OwnerId",
                "StageName",
                "Amount",
                "Probability",
                "IsClosed",
                "IsWon",
                "CloseDate",
                "CreatedDate",
                "LeadSource",
                s.partner_field,
                "IsDeleted",
                *stamps,
            ),
            (("partner_field", s.partner_field),),
        ),
        StreamSpec(
            "stage_history",
            "OpportunityHistory",
            "Id",
            "CreatedDate",
            ("Id", "OpportunityId", "StageName", "Amount", "CloseDate", "CreatedDate",
             "IsDeleted"),
        ),
        StreamSpec(
            "leads",
            "Lead",
            "Id",
            "SystemModstamp",
            _fields(
                "Id",
                "CreatedDate",
                "LeadSource",
                s.lead_partner_field,
                "OwnerId",
                "IsConverted",
                "ConvertedDate",
                "ConvertedOpportunityId",
                "IsDeleted",
                *stamps,
            ),
            (("lead_partner_field", s.lead_partner_field),),
        ),
        StreamSpec(
            "deal_partners",
            "OpportunityPartner",
            "Id",
            "SystemModstamp",
            ("Id", "OpportunityId", "Opportunity.AccountId", "AccountToId", "Role", "IsPrimary",
             "ReversePartnerId", "IsDeleted", *stamps),
        ),
    ]
    j = s.partner_junction
    if j is not None:
        all_specs.append(StreamSpec(
            "partner_junction", j.object, "Id", "SystemModstamp",
            _fields("Id", j.deal_field, j.partner_field, j.role_field, j.share_field,
                    j.primary_field, "IsDeleted", *stamps),
            tuple((f"partner_junction.{k}", v) for k, v in (
                ("object", j.object), ("deal_field", j.deal_field),
                ("partner_field", j.partner_field), ("role_field", j.role_field or ""),
                ("share_field", j.share_field or ""), ("primary_field", j.primary_field or "")
            )),
        ))
    if s.partner_history:
        field_name = s.partner_field.split(".")[0]
        all_specs.append(StreamSpec(
            "partner_changes", "OpportunityFieldHistory", "Id", "CreatedDate",
            ("Id", "OpportunityId", "Field", "OldValue", "NewValue", "CreatedDate", "IsDeleted"),
            where=format_soql("Field IN {}", sorted({field_name, _history_name(field_name)})),
        ))
    specs = [spec for spec in all_specs if spec.name in s.streams]
    if s.quotas:
        specs.append(StreamSpec(
            "targets", "ForecastingQuota", "Id", None,
            ("Id", "QuotaOwnerId", "QuotaAmount", "QuotaQuantity", "IsAmount", "IsQuantity",
             "StartDate", "PeriodId", "SystemModstamp"),
            deletable=False,
        ))
    return specs


def _history_name(field_name: str) -> str:
    """The name ``OpportunityFieldHistory.Field`` gives a standard lookup: its relationship
    (``PartnerAccountId`` -> ``PartnerAccount``); a custom field keeps its API name."""
    return field_name[:-2] if field_name.endswith("Id") and "__" not in field_name else field_name


def build_soql(spec: StreamSpec, since: datetime | None) -> str:
    """The SOQL reading ``spec`` from ``since`` (None: everything).

    ``since`` is an aware datetime; ``format_soql`` writes it as a UTC datetime literal
    (seconds precision, rounded down: the query can only start earlier, never later).
    """
    conditions = []
    if spec.where:
        conditions.append(f"({spec.where})")
    if since is not None and spec.replication_key:
        conditions.append(format_soql(spec.replication_key + " >= {}", since))
    soql = f"SELECT {', '.join(spec.fields)} FROM {spec.sobject}"
    if conditions:
        soql += " WHERE " + " AND ".join(conditions)
    if spec.replication_key:
        soql += f" ORDER BY {spec.replication_key}, Id"
    return soql


def deal_references(settings: SalesforceSettings) -> tuple[Reference, ...]:
    """The references the ``deals`` pages carry (see the module docstring)."""
    s = settings
    refs = []
    if "partners" in s.streams:
        refs.append(Reference(
            "deals", "deal_id", ("partner_id",), "partners", "deal", s.partner_field,
            "is not a partner Account synced from this org (not matched by partner_filter, or "
            "deleted)", s.on_bad_record, nullable=True,
        ))
    if "stages" in s.streams:
        refs.append(Reference(
            "deals", "deal_id", ("pipeline", "stage"), "stages", "deal", "StageName",
            "is not a stage in the org's OpportunityStage list",
            s.on_bad_record, nullable=False,
        ))
    return tuple(refs)


def link_references(settings: SalesforceSettings, stream: str) -> tuple[Reference, ...]:
    """The checks of a ``deal_partners`` page (OpportunityPartner or the junction object): its
    partner must be a synced partner Account (a link to another Account is rejected)."""
    s = settings
    if "partners" not in s.streams:
        return ()
    field = "AccountToId" if stream == "deal_partners" else (
        s.partner_junction.partner_field if s.partner_junction else "partner")
    return (Reference(
        "deal_partners", "link_id", ("partner_id",), "partners", "deal partner", field,
        "is not a partner Account synced from this org (not matched by partner_filter, or "
        "deleted)", s.on_bad_record, nullable=False,
    ),)
