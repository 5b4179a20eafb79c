"""The Salesforce facade's sObject schema, record ids and value formats.

Schema: the standard objects partnerkpi reads (Account, User, UserRole, OpportunityStage,
Opportunity, OpportunityHistory, Lead, OpportunityPartner, CurrencyType, DatedConversionRate,
Period, ForecastingQuota) with the fields the
sandbox serves, their Salesforce types, and the custom KPI fields on Account that partnerkpi
writes back. :class:`SalesforceSchema` implements the schema protocol of
:mod:`crm_sandbox.soql` (``has_object`` / ``field_type`` / ``relationship``), case-insensitively
like SOQL.

Ids (:func:`make_id`): 18-character ids built like real ones: 3-character key prefix, the
2-character pod placeholder ``XX`` that Salesforce's own docs use, a 10-character base-62 serial
number (1-based, per object type, in World order; records created later continue the sequence),
then the real 3-character case-safety checksum (for each 5-character chunk of the 15-character
id, a 5-bit mask of which characters are upper-case letters, mapped onto ``A-Z0-5``). Example:
the first Opportunity is ``006XX0000000001`` + checksum = ``006XX0000000001YAA``.

Value formats: REST JSON writes dateTime as ``2017-03-01T09:30:00.000+0000`` (see
``fixtures/api-samples/salesforce-sobject-get-account.json``), dates as ``2024-02-15``, currency /
percent / double as JSON numbers, booleans as JSON booleans. Bulk API 2.0 CSV writes dateTime as
``2017-03-01T09:30:00.000Z`` and every value as text ("true"/"false", empty for null).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "KEY_PREFIXES",
    "SCHEMA",
    "FieldDef",
    "SObjectDef",
    "SalesforceSchema",
    "format_datetime",
    "json_value",
    "make_id",
]

# Key prefixes of the sandbox's objects. 001/005/006/00Q/00E/01J/008/04w are Salesforce's; 00I
# (OpportunityPartner) and 02H (CurrencyType) are the sandbox's choice.
KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "User": "005",
    "Opportunity": "006",
    "Lead": "00Q",
    "UserRole": "00E",
    "OpportunityStage": "01J",
    "OpportunityHistory": "008",
    "OpportunityPartner": "00I",
    "OpportunityFieldHistory": "017",
    "CurrencyType": "02H",
    "Period": "026",
    "ForecastingQuota": "0J9",
    "DatedConversionRate": "04w",
}

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


_PAIRS = [a + b for a in _B62 for b in _B62]  # 62**2 two-digit blocks
_UPPER_BITS = str.maketrans({c: "1" if "A" <= c <= "Z" else "0" for c in _B62})
# Upper-case mask of each two-digit block (bit 0: first character, bit 1: second).
_PAIR_BITS = [int(p.translate(_UPPER_BITS)[::-1], 2) for p in _PAIRS]
_HEAD_CHAR: dict[str, str] = {}


def _chunk_char(chunk: str) -> str:
    """Checksum character of a 5-character chunk: bit i set iff character i is upper case."""
    return _SUFFIX[int(chunk.translate(_UPPER_BITS)[::-1], 2)]


def make_id(prefix: str, serial: int, pod: str = "XX") -> str:
    """Build an 18-character Salesforce-style id.

    Args:
        prefix: the 3-character key prefix (``"006"``).
        serial: a serial number in ``1 .. 62**10 - 1``, unique per prefix.
        pod: the 2-character instance part.

    Returns:
        e.g. ``make_id("006", 1) == "006XX0000000001YAA"``.
    """
    if not 0 < serial < 62**10 or len(prefix) + len(pod) != 5:
        msg = f"cannot make an id from {prefix!r}, {pod!r}, {serial}"
        raise ValueError(msg)
    n, r0 = divmod(serial, 3844)
    n, r1 = divmod(n, 3844)
    n, r2 = divmod(n, 3844)
    n, r3 = divmod(n, 3844)
    head = prefix + pod
    first = _HEAD_CHAR.get(head) or _HEAD_CHAR.setdefault(head, _chunk_char(head))
    # chunk 2 = pair n, pair r3, first char of pair r2; chunk 3 = second char of r2, r1, r0
    second = _SUFFIX[_PAIR_BITS[n] | _PAIR_BITS[r3] << 2 | (_PAIR_BITS[r2] & 1) << 4]
    third = _SUFFIX[_PAIR_BITS[r2] >> 1 | _PAIR_BITS[r1] << 1 | _PAIR_BITS[r0] << 3]
    digits = _PAIRS[n] + _PAIRS[r3] + _PAIRS[r2] + _PAIRS[r1] + _PAIRS[r0]
    return head + digits + first + second + third


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject as ``describe`` reports it.

    ``type`` is the Salesforce field type (``id``, ``string``, ``boolean``, ``reference``,
    ``currency``, ``percent``, ``double``, ``int``, ``date``, ``datetime``, ``picklist``,
    ``email``, ``address``). ``reference_to`` / ``relationship_name`` are set for lookups.
    """

    name: str
    type: str
    label: str
    updateable: bool = False
    custom: bool = False
    nillable: bool = True
    reference_to: str | None = None
    relationship_name: str | None = None
    formula: str | None = None  # a formula field (describe ``calculated: true``)

    def describe(self) -> dict[str, Any]:
        """The field's entry in ``fields[]`` of a describe response."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "updateable": self.updateable,
            "createable": self.updateable,
            "custom": self.custom,
            "nillable": self.nillable,
            "filterable": self.type != "address",
            "sortable": self.type != "address",
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
            "length": 255 if self.type in ("string", "picklist", "email") else 0,
            "precision": 18 if self.type in ("currency", "percent", "double") else 0,
            "scale": 2 if self.type in ("currency", "percent", "double") else 0,
            "compoundFieldName": _COMPOUND_PARENT.get(self.name),
            "calculated": self.formula is not None,
            "calculatedFormula": self.formula,
        }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "double": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "address": "urn:address",
}

_BILLING_PARTS = (
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
    "BillingLatitude",
    "BillingLongitude",
    "BillingGeocodeAccuracy",
)
_COMPOUND_PARENT = dict.fromkeys(_BILLING_PARTS, "BillingAddress")


def _f(name: str, type_: str, label: str | None = None, **kw: Any) -> FieldDef:
    return FieldDef(name=name, type=type_, label=label or name, **kw)


def _ref(name: str, to: str, rel: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "reference", label, reference_to=to, relationship_name=rel, **kw)


_STAMPS = (
    _f("CreatedDate", "datetime", "Created Date", nillable=False),
    _f("LastModifiedDate", "datetime", "Last Modified Date", nillable=False),
    _f("SystemModstamp", "datetime", "System Modstamp", nillable=False),
)
#: The formula of Opportunity.Account_Partner__c (case C-14): the customer Account's partner.
ACCOUNT_PARTNER_FORMULA = "CASESAFEID(Account.Partner_Account__c)"
_DELETED = _f("IsDeleted", "boolean", "Deleted", nillable=False)
_ID = _f("Id", "id", "Record ID", nillable=False)


@dataclass(frozen=True)
class SObjectDef:
    """An sObject type: API name, label, plural label and fields in describe order."""

    name: str
    label: str
    label_plural: str
    fields: tuple[FieldDef, ...]

    @property
    def key_prefix(self) -> str:
        """The 3-character id prefix."""
        return KEY_PREFIXES[self.name]


SCHEMA: dict[str, SObjectDef] = {
    o.name: o
    for o in (
        SObjectDef(
            "Account",
            "Account",
            "Accounts",
            (
                _ID,
                _DELETED,
                _f("MasterRecordId", "reference", "Master Record ID", reference_to="Account"),
                _f("Name", "string", "Account Name", updateable=True, nillable=False),
                _f("Type", "picklist", "Account Type", updateable=True),
                _f("IsPartner", "boolean", "Partner Account", nillable=False),
                *(_f(p, "double" if "itude" in p else "string", p) for p in _BILLING_PARTS),
                _f("BillingAddress", "address", "Billing Address"),
                *_STAMPS,
                _f("LastActivityDate", "date", "Last Activity"),
                _ref(
                    "Partner_Account__c",
                    "Account",
                    "Partner_Account__r",
                    "Partner Account",
                    updateable=True,
                    custom=True,
                ),
                _f(
                    "Partner_Win_Rate__c",
                    "percent",
                    "Partner Win Rate",
                    updateable=True,
                    custom=True,
                ),
                _f(
                    "Partner_Avg_Deal_Size__c",
                    "currency",
                    "Partner Avg Deal Size",
                    updateable=True,
                    custom=True,
                ),
                _f(
                    "Partner_Quality_Score__c",
                    "double",
                    "Partner Quality Score",
                    updateable=True,
                    custom=True,
                ),
                _f(
                    "Partner_Deals_Won__c",
                    "double",
                    "Partner Deals Won",
                    updateable=True,
                    custom=True,
                ),
                _f(
                    "Partner_Won_Amount__c",
                    "currency",
                    "Partner Won Amount",
                    updateable=True,
                    custom=True,
                ),
                _f("Partner_KPI_Period__c", "string", "Partner KPI Period", updateable=True,
                   custom=True),
                _f("Partner_KPI_As_Of__c", "date", "Partner KPI As Of", updateable=True,
                   custom=True),
                # the partner program's tier (World Partner.tier) and the tier / target
                # write-back fields
                _f("Partner_Tier__c", "picklist", "Partner Tier", updateable=True, custom=True),
                _f(
                    "Partner_Target_Attainment__c",
                    "percent",
                    "Partner Target Attainment",
                    updateable=True,
                    custom=True,
                ),
                _f(
                    "Partner_Tier_Eligible__c",
                    "double",
                    "Partner Tier Eligible",
                    updateable=True,
                    custom=True,
                ),
            ),
        ),
        SObjectDef(
            "User",
            "User",
            "Users",
            (
                _ID,
                _f("Name", "string", "Full Name", nillable=False),
                _f("Email", "email", "Email", nillable=False),
                _f("Department", "string", "Department"),
                _f("Division", "string", "Division"),
                _ref("UserRoleId", "UserRole", "UserRole", "Role ID"),
                _f("IsActive", "boolean", "Active", nillable=False),
                *_STAMPS,
            ),
        ),
        SObjectDef(
            "UserRole",
            "Role",
            "Roles",
            (_ID, _f("Name", "string", "Name", nillable=False), _STAMPS[2]),
        ),
        SObjectDef(
            "OpportunityStage",
            "Opportunity Stage",
            "Opportunity Stages",
            (
                _ID,
                _f("ApiName", "string", "Api Name", nillable=False),
                _f("MasterLabel", "string", "Master Label", nillable=False),
                _f("IsActive", "boolean", "Is Active", nillable=False),
                _f("IsClosed", "boolean", "Closed", nillable=False),
                _f("IsWon", "boolean", "Won", nillable=False),
                _f("DefaultProbability", "percent", "Probability (%)"),
                _f("SortOrder", "int", "Sort Order"),
                *_STAMPS,
            ),
        ),
        SObjectDef(
            "Opportunity",
            "Opportunity",
            "Opportunities",
            (
                _ID,
                _DELETED,
                _f("Name", "string", "Name", updateable=True, nillable=False),
                _ref("AccountId", "Account", "Account", "Account ID", updateable=True),
                _ref(
                    "PartnerAccountId",
                    "Account",
                    "PartnerAccount",
                    "Partner Account ID",
                    updateable=True,
                ),
                _ref(
                    "Partner_Account__c",
                    "Account",
                    "Partner_Account__r",
                    "Partner Account",
                    updateable=True,
                    custom=True,
                ),
                _f(
                    "Account_Partner__c",
                    "string",
                    "Account Partner",
                    custom=True,
                    formula=ACCOUNT_PARTNER_FORMULA,
                ),
                _ref("OwnerId", "User", "Owner", "Owner ID", updateable=True, nillable=False),
                _f("StageName", "picklist", "Stage", updateable=True, nillable=False),
                _f("Amount", "currency", "Amount", updateable=True),
                _f(
                    "CurrencyIsoCode",
                    "picklist",
                    "Opportunity Currency",
                    updateable=True,
                    nillable=False,
                ),
                _f("Probability", "percent", "Probability (%)", updateable=True),
                _f("IsClosed", "boolean", "Closed", nillable=False),
                _f("IsWon", "boolean", "Won", nillable=False),
                _f("CloseDate", "date", "Close Date", updateable=True, nillable=False),
                _f("LeadSource", "picklist", "Lead Source", updateable=True),
                *_STAMPS,
                _f("LastActivityDate", "date", "Last Activity"),
            ),
        ),
        SObjectDef(
            "OpportunityHistory",
            "Opportunity History",
            "Opportunity History",
            (
                _ID,
                _DELETED,
                _ref(
                    "OpportunityId", "Opportunity", "Opportunity", "Opportunity ID", nillable=False
                ),
                _f("StageName", "picklist", "Stage", nillable=False),
                _f("Amount", "currency", "Amount"),
                _f("CloseDate", "date", "Close Date"),
                _f("Probability", "percent", "Probability (%)"),
                _STAMPS[0],
                _STAMPS[2],
            ),
        ),
        SObjectDef(
            "Lead",
            "Lead",
            "Leads",
            (
                _ID,
                _DELETED,
                _f("Name", "string", "Full Name", nillable=False),
                _f("Status", "picklist", "Lead Status", updateable=True, nillable=False),
                _f("LeadSource", "picklist", "Lead Source", updateable=True),
                _ref(
                    "PartnerAccountId",
                    "Account",
                    "PartnerAccount",
                    "Partner Account ID",
                    updateable=True,
                ),
                _ref("OwnerId", "User", "Owner", "Owner ID", updateable=True, nillable=False),
                _f("IsConverted", "boolean", "Converted", nillable=False),
                _f("ConvertedDate", "date", "Converted Date"),
                _ref(
                    "ConvertedOpportunityId",
                    "Opportunity",
                    "ConvertedOpportunity",
                    "Converted Opportunity ID",
                ),
                _ref("MasterRecordId", "Lead", "MasterRecord", "Master Record ID"),
                *_STAMPS,
            ),
        ),
        SObjectDef(
            "OpportunityPartner",
            "Opportunity Partner",
            "Opportunity Partners",
            (
                _ID,
                _DELETED,
                _ref(
                    "OpportunityId", "Opportunity", "Opportunity", "Opportunity ID", nillable=False
                ),
                _ref("AccountToId", "Account", "AccountTo", "Account ID", nillable=False),
                _f("Role", "picklist", "Role"),
                _f("IsPrimary", "boolean", "Primary", nillable=False),
                _ref("ReversePartnerId", "OpportunityPartner", "ReversePartner",
                     "Reverse Partner ID"),
                *_STAMPS,
            ),
        ),
        SObjectDef(
            "OpportunityFieldHistory",
            "Opportunity Field History",
            "Opportunity Field History",
            (
                _ID,
                _DELETED,
                _ref(
                    "OpportunityId", "Opportunity", "Opportunity", "Opportunity ID", nillable=False
                ),
                _f("Field", "picklist", "Changed Field", nillable=False),
                _f("DataType", "picklist", "Data Type"),
                _f("OldValue", "anyType", "Old Value"),
                _f("NewValue", "anyType", "New Value"),
                _STAMPS[0],
            ),
        ),
        SObjectDef(
            "CurrencyType",
            "Currency",
            "Currencies",
            (
                _ID,
                _f("IsoCode", "picklist", "Currency ISO Code", nillable=False),
                _f("ConversionRate", "double", "Conversion Rate", nillable=False),
                _f("DecimalPlaces", "int", "Decimal Places", nillable=False),
                _f("IsActive", "boolean", "Active", nillable=False),
                _f("IsCorporate", "boolean", "Corporate", nillable=False),
                *_STAMPS,
            ),
        ),
        # fields as the object reference lists them (sforce_api_objects_period.htm)
        SObjectDef(
            "Period",
            "Period",
            "Periods",
            (
                _ID,
                _f("StartDate", "date", "Start Date", nillable=False),
                _f("EndDate", "date", "End Date", nillable=False),
                _f("Type", "picklist", "Type"),
                _f("Number", "int", "Number"),
                _f("IsForecastPeriod", "boolean", "Forecast Period", nillable=False),
                _STAMPS[2],
            ),
        ),
        # Collaborative Forecasts quotas (sforce_api_objects_forecastingquota.htm); no IsDeleted
        SObjectDef(
            "ForecastingQuota",
            "Forecasting Quota",
            "Forecasting Quotas",
            (
                _ID,
                _ref("QuotaOwnerId", "User", "QuotaOwner", "Quota Owner ID", nillable=False),
                _f("QuotaAmount", "currency", "Quota Amount"),
                _f("QuotaQuantity", "double", "Quota Quantity"),
                _f("IsAmount", "boolean", "Is Amount", nillable=False),
                _f("IsQuantity", "boolean", "Is Quantity", nillable=False),
                _f("StartDate", "date", "Start Date", nillable=False),
                _ref("PeriodId", "Period", "Period", "Period ID"),
                _f("ForecastingTypeId", "reference", "Forecasting Type ID"),
                _f("ProductFamily", "picklist", "Product Family"),
                _f("CurrencyIsoCode", "picklist", "Currency ISO Code"),
                *_STAMPS,
            ),
        ),
        SObjectDef(
            "DatedConversionRate",
            "Dated Conversion Rate",
            "Dated Conversion Rates",
            (
                _ID,
                _f("IsoCode", "picklist", "Currency ISO Code", nillable=False),
                _f("ConversionRate", "double", "Conversion Rate", nillable=False),
                _f("StartDate", "date", "Start Date", nillable=False),
                _f("NextStartDate", "date", "Next Start Date"),
                *_STAMPS,
            ),
        ),
    )
}


class SalesforceSchema:
    """Case-insensitive view of :data:`SCHEMA` for the SOQL engine.

    Methods take names as written in a query and answer with canonical API names / types.
    """

    def __init__(self, schema: dict[str, SObjectDef] | None = None) -> None:
        self.objects = schema or SCHEMA
        self._objects = {name.lower(): o for name, o in self.objects.items()}
        self._fields = {
            name.lower(): {f.name.lower(): f for f in o.fields} for name, o in self.objects.items()
        }
        self._rels = {
            name.lower(): {
                f.relationship_name.lower(): f
                for f in o.fields
                if f.relationship_name and f.reference_to
            }
            for name, o in self.objects.items()
        }

    def canonical_object(self, sobject: str) -> str | None:
        """The canonical API name of ``sobject`` (any case), or None if unknown."""
        o = self._objects.get(sobject.lower())
        return o.name if o else None

    def has_object(self, sobject: str) -> bool:
        """True if the sObject type exists."""
        return sobject.lower() in self._objects

    def field(self, sobject: str, field: str) -> FieldDef | None:
        """The :class:`FieldDef` of ``sobject.field`` (any case), or None."""
        return self._fields.get(sobject.lower(), {}).get(field.lower())

    def field_type(self, sobject: str, field: str) -> str | None:
        """Salesforce type name of ``sobject.field`` or None if there is no such field."""
        f = self.field(sobject, field)
        return f.type if f else None

    def field_name(self, sobject: str, field: str) -> str | None:
        """Canonical API name of ``sobject.field``, or None."""
        f = self.field(sobject, field)
        return f.name if f else None

    def relationship(self, sobject: str, rel_name: str) -> str | None:
        """The parent sObject a relationship name (``Owner``, ``Partner_Account__r``) points to."""
        f = self._rels.get(sobject.lower(), {}).get(rel_name.lower())
        return f.reference_to if f else None

    def relationship_field(self, sobject: str, rel_name: str) -> FieldDef | None:
        """The lookup field behind a relationship name (``Owner`` -> ``OwnerId``), or None."""
        return self._rels.get(sobject.lower(), {}).get(rel_name.lower())


def format_datetime(dt: datetime, *, bulk: bool = False) -> str:
    """Format a tz-aware datetime the way Salesforce writes it, in UTC, to milliseconds.

    Args:
        dt: a timezone-aware datetime.
        bulk: True for Bulk API CSV (``...000Z``), False for REST JSON (``...000+0000``).
    """
    dt = dt.astimezone(UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}"
    return text + ("Z" if bulk else "+0000")


def json_value(value: Any) -> Any:
    """Convert one typed record value to its REST JSON form.

    ``Decimal`` -> float (``25000.0``), ``datetime`` -> ``...000+0000`` text, ``date`` -> ISO
    text; str / bool / int / None / dict (compound address) unchanged.
    """
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def address_value(record: dict[str, Any]) -> dict[str, Any] | None:
    """The compound ``BillingAddress`` of an Account record, or None when all parts are null."""
    parts = {
        "city": record.get("BillingCity"),
        "country": record.get("BillingCountry"),
        "geocodeAccuracy": record.get("BillingGeocodeAccuracy"),
        "latitude": json_value(record.get("BillingLatitude")),
        "longitude": json_value(record.get("BillingLongitude")),
        "postalCode": record.get("BillingPostalCode"),
        "state": record.get("BillingState"),
        "street": record.get("BillingStreet"),
    }
    if all(v is None for v in parts.values()):
        return None
    return parts
