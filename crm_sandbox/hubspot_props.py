"""HubSpot property definitions the sandbox serves (``GET /crm/v3/properties/{type}``).

Standard HubSpot properties keep their internal names, types and groups; the partnerkpi ones
(``partner_company_id`` on deals/contacts, the KPI numbers on companies) are custom
(``hubspotDefined`` absent, group ``partnerkpi``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from crm_sandbox.hubspot_store import PORTAL_CREATED, iso_ms


@dataclass
class PropertyDef:
    """One property definition as ``GET /crm/v3/properties/{type}`` shows it."""

    name: str
    label: str
    type: str  # string | number | date | datetime | enumeration | bool
    field_type: str
    group_name: str
    hubspot_defined: bool = True
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    display_order: int = -1
    calculated: bool = False
    read_only_value: bool = False
    created_at: str = ""
    updated_at: str = ""

    def to_json(self) -> dict[str, Any]:
        """The property's JSON body."""
        body: dict[str, Any] = {
            "updatedAt": self.updated_at,
            "createdAt": self.created_at,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.name == "hs_object_id",
            "hidden": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
            "formField": not self.read_only_value,
            "dataSensitivity": "non_sensitive",
        }
        if not self.hubspot_defined:
            body["createdUserId"] = "0"
            body["updatedUserId"] = "0"
        else:
            body["hubspotDefined"] = True
        return body


def deal_properties(rates: dict[str, Decimal]) -> list[PropertyDef]:
    """Definitions of the deal properties the sandbox serves."""
    created = iso_ms(PORTAL_CREATED)
    defs = [
        PropertyDef("amount", "Amount", "number", "number", "dealinformation"),
        PropertyDef(
            "amount_in_home_currency",
            "Amount in company currency",
            "number",
            "calculation_equation",
            "dealinformation",
            calculated=True,
            read_only_value=True,
        ),
        PropertyDef(
            "deal_currency_code",
            "Currency",
            "enumeration",
            "select",
            "dealinformation",
            options=[
                {"label": code, "value": code, "displayOrder": i, "hidden": False}
                for i, code in enumerate(sorted(rates))
            ],
        ),
        PropertyDef("closedate", "Close Date", "datetime", "date", "dealinformation"),
        PropertyDef(
            "createdate", "Create Date", "datetime", "date", "dealinformation", read_only_value=True
        ),
        PropertyDef("dealname", "Deal Name", "string", "text", "dealinformation"),
        PropertyDef("dealstage", "Deal Stage", "enumeration", "radio", "dealinformation"),
        PropertyDef("pipeline", "Pipeline", "enumeration", "select", "dealinformation"),
        PropertyDef(
            "hs_lastmodifieddate",
            "Last Modified Date",
            "datetime",
            "date",
            "dealinformation",
            read_only_value=True,
        ),
        PropertyDef(
            "hs_object_id",
            "Record ID",
            "number",
            "number",
            "dealinformation",
            read_only_value=True,
        ),
        PropertyDef("hubspot_owner_id", "Deal owner", "enumeration", "select", "dealinformation"),
        PropertyDef(
            "hs_analytics_source",
            "Original Source Type",
            "enumeration",
            "select",
            "analyticsinformation",
        ),
        PropertyDef(
            "hs_merged_object_ids",
            "Merged Deal IDs",
            "enumeration",
            "checkbox",
            "dealinformation",
            read_only_value=True,
        ),
        PropertyDef(
            "partner_company_id",
            "Partner company ID",
            "string",
            "text",
            "partnerkpi",
            hubspot_defined=False,
        ),
    ]
    for d in defs:
        d.created_at = d.updated_at = created
    return defs


KPI_PROPERTIES = (
    ("partner_win_rate", "Partner win rate"),
    ("partner_avg_deal_size", "Partner average deal size"),
    ("partner_quality_score", "Partner quality score"),
    ("partner_deals_won", "Partner deals won"),
    ("partner_won_amount", "Partner won amount"),
)

COMPANY_TYPE_OPTIONS = ("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER", "CUSTOMER")


def company_properties(with_kpis: bool) -> list[PropertyDef]:
    """Definitions of the company properties (KPI ones in group ``partnerkpi``)."""
    created = iso_ms(PORTAL_CREATED)
    defs = [
        PropertyDef("name", "Company name", "string", "text", "companyinformation"),
        PropertyDef("domain", "Company Domain Name", "string", "text", "companyinformation"),
        PropertyDef(
            "type",
            "Type",
            "enumeration",
            "select",
            "companyinformation",
            options=[
                {"label": o.title(), "value": o, "displayOrder": i, "hidden": False}
                for i, o in enumerate(COMPANY_TYPE_OPTIONS)
            ],
        ),
        PropertyDef(
            "createdate",
            "Create Date",
            "datetime",
            "date",
            "companyinformation",
            read_only_value=True,
        ),
        PropertyDef(
            "hs_lastmodifieddate",
            "Last Modified Date",
            "datetime",
            "date",
            "companyinformation",
            read_only_value=True,
        ),
        PropertyDef(
            "hs_object_id",
            "Record ID",
            "number",
            "number",
            "companyinformation",
            read_only_value=True,
        ),
        PropertyDef(
            "hs_merged_object_ids",
            "Merged Company IDs",
            "enumeration",
            "checkbox",
            "companyinformation",
            read_only_value=True,
        ),
        # the partner program's tier (World Partner.tier): a custom property of the portal
        PropertyDef("partner_tier", "Partner tier", "enumeration", "select",
                    "companyinformation", hubspot_defined=False),
    ]
    if with_kpis:
        defs += [
            PropertyDef(name, label, "number", "number", "partnerkpi", hubspot_defined=False)
            for name, label in KPI_PROPERTIES
        ]
        defs += [
            PropertyDef("kpi_period", "KPI period", "string", "text", "partnerkpi",
                        hubspot_defined=False),
            PropertyDef("kpi_as_of", "KPI as of", "date", "date", "partnerkpi",
                        hubspot_defined=False),
        ]
    for d in defs:
        d.created_at = d.updated_at = created
    return defs


def contact_properties() -> list[PropertyDef]:
    """Definitions of the contact properties."""
    created = iso_ms(PORTAL_CREATED)
    defs = [
        PropertyDef("firstname", "First Name", "string", "text", "contactinformation"),
        PropertyDef("lastname", "Last Name", "string", "text", "contactinformation"),
        PropertyDef("email", "Email", "string", "text", "contactinformation"),
        PropertyDef(
            "createdate",
            "Create Date",
            "datetime",
            "date",
            "contactinformation",
            read_only_value=True,
        ),
        PropertyDef(
            "lastmodifieddate",
            "Last Modified Date",
            "datetime",
            "date",
            "contactinformation",
            read_only_value=True,
        ),
        PropertyDef(
            "hs_object_id",
            "Record ID",
            "number",
            "number",
            "contactinformation",
            read_only_value=True,
        ),
        PropertyDef(
            "lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "contactinformation"
        ),
        PropertyDef(
            "hubspot_owner_id", "Contact owner", "enumeration", "select", "contactinformation"
        ),
        PropertyDef(
            "hs_analytics_source",
            "Original Source",
            "enumeration",
            "select",
            "analyticsinformation",
        ),
        PropertyDef(
            "partner_company_id",
            "Partner company ID",
            "string",
            "text",
            "partnerkpi",
            hubspot_defined=False,
        ),
    ]
    for d in defs:
        d.created_at = d.updated_at = created
    return defs


def goal_properties() -> list[PropertyDef]:
    """Definitions of the goal_targets properties the sandbox serves (the goals guide's)."""
    created = iso_ms(PORTAL_CREATED)
    defs = [
        PropertyDef("hs_goal_name", "Goal name", "string", "text", "goalinformation"),
        PropertyDef("hs_target_amount", "Target", "number", "number", "goalinformation"),
        PropertyDef("hs_start_datetime", "Start date", "datetime", "date", "goalinformation"),
        PropertyDef("hs_end_datetime", "End date", "datetime", "date", "goalinformation"),
        PropertyDef("hubspot_owner_id", "Owner", "enumeration", "select", "goalinformation"),
        PropertyDef("hs_assignee_user_id", "Assignee user", "number", "number",
                    "goalinformation"),
        PropertyDef("hs_assignee_team_id", "Assignee team", "number", "number",
                    "goalinformation"),
        PropertyDef("hs_goal_target_group_id", "Goal target group", "number", "number",
                    "goalinformation"),
        PropertyDef("hs_group_correlation_uuid", "Goal family", "string", "text",
                    "goalinformation"),
        PropertyDef("hs_createdate", "Create date", "datetime", "date", "goalinformation",
                    read_only_value=True),
        PropertyDef("hs_lastmodifieddate", "Last modified date", "datetime", "date",
                    "goalinformation", read_only_value=True),
        PropertyDef("hs_object_id", "Record ID", "number", "number", "goalinformation",
                    read_only_value=True),
    ]
    for d in defs:
        d.created_at = d.updated_at = created
    return defs
