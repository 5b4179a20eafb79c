"""Rendering a :class:`~crm_sandbox.world.World` as HubSpot records (done once, at start).

Partner companies, one customer company per account name, owners with teams, deals with their
string properties and deal->company associations, contacts from leads, the deal stage ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm_sandbox.hubspot_props import (
    PropertyDef,
    company_properties,
    contact_properties,
    deal_properties,
    goal_properties,
)
from crm_sandbox.hubspot_store import (
    COMPANY_TO_CONTACT_PRIMARY,
    COMPANY_TO_CONTACT_UNLABELED,
    COMPANY_TO_DEAL_PRIMARY,
    COMPANY_TO_DEAL_UNLABELED,
    CONTACT_TO_COMPANY_PRIMARY,
    CONTACT_TO_COMPANY_UNLABELED,
    CUSTOM_STAGE_ID_BASE,
    DEAL_TO_COMPANY_PRIMARY,
    DEAL_TO_COMPANY_UNLABELED,
    OWNER_ID_BASE,
    PARTNER_LABEL_REVERSE_TYPE_ID,
    PARTNER_LABEL_TYPE_ID,
    PORTAL_CREATED,
    STANDARD_OPEN_STAGE_IDS,
    TEAM_ID_BASE,
    USER_ID_BASE,
    HsRecord,
    ObjectStore,
    OwnerRecord,
    date_iso,
    iso_ms,
    normalized_number,
    number_string,
    slug,
)
from crm_sandbox.world import Stage, World

_DEAL_PARTNER = (
    ("HUBSPOT_DEFINED", DEAL_TO_COMPANY_UNLABELED, None, "deal_to_company_unlabeled"),
    ("USER_DEFINED", PARTNER_LABEL_TYPE_ID, "Partner", "partner"),
)
_PARTNER_DEAL = (
    ("HUBSPOT_DEFINED", COMPANY_TO_DEAL_UNLABELED, None, "company_to_deal_unlabeled"),
    ("USER_DEFINED", PARTNER_LABEL_REVERSE_TYPE_ID, "Partner", "partner"),
)
_DEAL_CUSTOMER = (
    ("HUBSPOT_DEFINED", DEAL_TO_COMPANY_PRIMARY, "Primary", "deal_to_company"),
    ("HUBSPOT_DEFINED", DEAL_TO_COMPANY_UNLABELED, None, "deal_to_company_unlabeled"),
)
_CUSTOMER_DEAL = (
    ("HUBSPOT_DEFINED", COMPANY_TO_DEAL_PRIMARY, "Primary", "company_to_deal"),
    ("HUBSPOT_DEFINED", COMPANY_TO_DEAL_UNLABELED, None, "company_to_deal_unlabeled"),
)
_CONTACT_COMPANY = (
    ("HUBSPOT_DEFINED", CONTACT_TO_COMPANY_PRIMARY, "Primary", "contact_to_company"),
    ("HUBSPOT_DEFINED", CONTACT_TO_COMPANY_UNLABELED, None, "contact_to_company_unlabeled"),
)
_COMPANY_CONTACT = (
    ("HUBSPOT_DEFINED", COMPANY_TO_CONTACT_PRIMARY, "Primary", "company_to_contact"),
    ("HUBSPOT_DEFINED", COMPANY_TO_CONTACT_UNLABELED, None, "company_to_contact_unlabeled"),
)


def stage_ids(stages: list[Stage]) -> dict[str, str]:
    """Map World stage keys to HubSpot deal stage ids, as a real portal would have them.

    The first won stage becomes ``closedwon``, the first closed-not-won ``closedlost``, open
    stages take the standard ids in order, and every further stage a custom numeric id.
    """
    mapping: dict[str, str] = {}
    open_ids = list(STANDARD_OPEN_STAGE_IDS)
    custom = CUSTOM_STAGE_ID_BASE
    used: set[str] = set()
    for stage in sorted(stages, key=lambda s: s.order):
        if stage.is_won and "closedwon" not in used:
            candidate = "closedwon"
        elif stage.is_closed and not stage.is_won and "closedlost" not in used:
            candidate = "closedlost"
        elif not stage.is_closed and open_ids:
            candidate = open_ids.pop(0)
        else:
            candidate = str(custom)
            custom += 1
        used.add(candidate)
        mapping[stage.key] = candidate
    return mapping


def stage_metadata(stage: Stage) -> dict[str, str]:
    """Deal stage metadata as HubSpot sends it: strings, probability 1.0 won / 0.0 lost."""
    if stage.is_won:
        probability = 1.0
    elif stage.is_closed:
        probability = 0.0
    else:
        probability = float(stage.probability)
    return {"isClosed": "true" if stage.is_closed else "false", "probability": str(probability)}


def split_name(name: str) -> tuple[str, str]:
    """First and last name from a full name."""
    parts = name.strip().split(" ", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "")


@dataclass
class Rendered:
    """Everything the facade serves, rendered from a World."""

    stores: dict[str, ObjectStore]
    properties: dict[str, dict[str, PropertyDef]]
    owners: dict[int, OwnerRecord]
    stage_id_by_key: dict[str, str]
    stages: list[Stage]
    partner_company_ids: dict[str, int]
    owner_ids: dict[str, int]
    deal_ids: dict[str, int]
    customer_company_ids: dict[str, int]


def _assoc_add(
    a: HsRecord, a_type: str, b: HsRecord, b_type: str, forward: tuple, backward: tuple
) -> None:
    links = a.assoc.setdefault(b_type, {})
    old = links.get(b.id)
    links[b.id] = forward if old is None else old + tuple(k for k in forward if k not in old)
    links = b.assoc.setdefault(a_type, {})
    old = links.get(a.id)
    links[a.id] = backward if old is None else old + tuple(k for k in backward if k not in old)


def stage_history(record: HsRecord) -> list[dict[str, str]] | None:
    """The record's ``dealstage`` history, built from the World's on first use."""
    if record.stage_source is not None:
        entries, ids, source_id = record.stage_source
        record.stage_source = None
        history = []
        for key, entered in reversed(entries):
            entry = {
                "value": ids.get(key, key),
                "timestamp": iso_ms(entered),
                "sourceType": "CRM_UI",
            }
            if source_id:
                entry["sourceId"] = source_id
            history.append(entry)
        if history:
            record.history["dealstage"] = history
    return record.history.get("dealstage")


def link_deal_company(deal: HsRecord, company: HsRecord, partner: bool) -> None:
    """Associate a deal with a company: primary customer, or the USER_DEFINED "Partner" label."""
    if partner:
        _assoc_add(deal, "deals", company, "companies", _DEAL_PARTNER, _PARTNER_DEAL)
    else:
        _assoc_add(deal, "deals", company, "companies", _DEAL_CUSTOMER, _CUSTOMER_DEAL)


#: The portal's user-defined deal -> company labels besides "Partner": label -> (deal to
#: company type id, company to deal type id), as Settings > Associations would number them.
LINK_LABELS = {"Sourced by": (33, 34), "Influenced by": (35, 36), "Reseller": (37, 38),
               "Co-sell": (39, 40)}


def link_deal_company_label(deal: HsRecord, company: HsRecord, label: str) -> None:
    """Associate a deal with a company under a user-defined label of :data:`LINK_LABELS`
    (with the unlabelled association every labelled one has)."""
    forward, backward = LINK_LABELS[label]
    v3 = label.lower().replace(" ", "_")
    _assoc_add(deal, "deals", company, "companies",
               (_DEAL_PARTNER[0], ("USER_DEFINED", forward, label, v3)),
               (_PARTNER_DEAL[0], ("USER_DEFINED", backward, label, v3)))


def link_contact_company(contact: HsRecord, company: HsRecord) -> None:
    """Associate a contact with its (partner) company as primary company."""
    _assoc_add(contact, "contacts", company, "companies", _CONTACT_COMPANY, _COMPANY_CONTACT)


def render_world(world: World, with_kpi_properties: bool = True) -> Rendered:
    """Render a World into HubSpot records.

    Args:
        world: The World to serve.
        with_kpi_properties: Whether the ``partnerkpi`` company properties already exist
            (``False`` lets tests exercise property creation).

    Returns:
        The rendered stores, property definitions and owners.
    """
    portal_created = iso_ms(PORTAL_CREATED)
    rates = dict(world.currency_rates)
    rates.setdefault(world.corporate_currency, Decimal(1))
    stores = {t: ObjectStore(t) for t in ("companies", "deals", "contacts")}
    companies, deals_store, contacts = stores["companies"], stores["deals"], stores["contacts"]

    # Owners and teams.
    teams = sorted({o.team for o in world.owners if o.team})
    team_ids = {name: TEAM_ID_BASE + i for i, name in enumerate(teams)}
    owners: dict[int, OwnerRecord] = {}
    owner_ids: dict[str, int] = {}
    for i, owner in enumerate(world.owners):
        first, last = split_name(owner.name)
        oid = OWNER_ID_BASE + i
        owner_ids[owner.key] = oid
        owners[oid] = OwnerRecord(
            id=oid,
            email=owner.email,
            first_name=first,
            last_name=last,
            user_id=USER_ID_BASE + i,
            created_at=portal_created,
            updated_at=portal_created,
            archived=not owner.is_active,
            team=(team_ids[owner.team], owner.team) if owner.team else None,
        )

    # Deal times per account (customer company create dates) and won accounts.
    account_first: dict[str, datetime] = {}
    account_last: dict[str, datetime] = {}
    won_accounts: set[str] = set()
    stage_by_key = {s.key: s for s in world.stages}
    for deal in world.deals:
        if not deal.account_name:
            continue
        created = _deal_created(deal)
        first = account_first.get(deal.account_name)
        if first is None or created < first:
            account_first[deal.account_name] = created
        last = account_last.get(deal.account_name)
        if last is None or deal.modified_at > last:
            account_last[deal.account_name] = deal.modified_at
        stage = stage_by_key.get(deal.stage_key)
        if stage is not None and stage.is_won and not deal.is_deleted:
            won_accounts.add(deal.account_name)

    # Partner companies.
    partner_company_ids: dict[str, int] = {}
    for partner in world.partners:
        cid = companies.new_id()
        partner_company_ids[partner.key] = cid
        domain = (slug(partner.name) or f"partner-{slug(partner.key)}") + ".example.com"
        props: dict[str, str | None] = {
            "name": partner.name,
            "type": "RESELLER" if partner.partner_type == "Reseller" else "PARTNER",
            "partner_tier": partner.tier,
            "domain": domain,
            "createdate": portal_created,
            "hs_lastmodifieddate": portal_created,
            "hs_object_id": str(cid),
        }
        record = HsRecord(cid, props, portal_created, portal_created)
        if partner.is_deleted:
            record.archived = True
            record.archived_at = portal_created
        companies.add(record)

    # Customer companies, one per distinct account name (in first-seen order).
    customer_ids: dict[str, int] = {}
    for deal in world.deals:
        name = deal.account_name
        if not name or name in customer_ids:
            continue
        cid = companies.new_id()
        customer_ids[name] = cid
        created = iso_ms(account_first[name])
        modified = iso_ms(max(account_first[name], account_last[name]))
        props = {
            "name": name,
            "type": "CUSTOMER" if name in won_accounts else "PROSPECT",
            "domain": (slug(name) or f"account-{cid}") + ".example.com",
            "createdate": created,
            "hs_lastmodifieddate": modified,
            "hs_object_id": str(cid),
        }
        companies.add(HsRecord(cid, props, created, modified))

    # Deals.
    stage_id_by_key = stage_ids(world.stages)
    deal_ids: dict[str, int] = {}
    for deal in world.deals:
        did = deals_store.new_id()
        deal_ids[deal.key] = did
        created = iso_ms(_deal_created(deal))
        modified = iso_ms(deal.modified_at)
        props = {
            "dealname": deal.name,
            "amount": "" if deal.amount is None else number_string(deal.amount),
            "deal_currency_code": deal.currency,
            "amount_in_home_currency": home_amount(deal.amount, deal.currency, rates),
            "dealstage": stage_id_by_key.get(deal.stage_key, deal.stage_key),
            "pipeline": "default",
            "closedate": None if deal.close_date is None else date_iso(deal.close_date),
            "createdate": created,
            "hs_lastmodifieddate": modified,
            "hs_object_id": str(did),
            "hubspot_owner_id": str(owner_ids[deal.owner_key])
            if deal.owner_key in owner_ids
            else None,
            "hs_analytics_source": deal.lead_source,
            "partner_company_id": str(partner_company_ids[deal.partner_key])
            if deal.partner_key in partner_company_ids
            else None,
        }
        record = HsRecord(did, props, created, modified)
        owner = owners.get(owner_ids.get(deal.owner_key or "", -1))
        if deal.stage_history:
            source_id = f"userId:{owner.user_id}" if owner else None
            record.stage_source = (deal.stage_history, stage_id_by_key, source_id)
        if deal.is_deleted:
            record.archived = True
            record.archived_at = modified
        deals_store.add(record)
        if deal.account_name:
            link_deal_company(record, companies.by_id[customer_ids[deal.account_name]], False)
        if deal.partner_key in partner_company_ids:
            link_deal_company(record, companies.by_id[partner_company_ids[deal.partner_key]], True)
        for partner_key, label, _primary in deal.partner_links:
            if partner_key in partner_company_ids:
                link_deal_company_label(
                    record, companies.by_id[partner_company_ids[partner_key]], label)

    # Contacts (leads).
    for lead in world.leads:
        ctid = contacts.new_id()
        first, last = split_name(lead.name)
        created = iso_ms(lead.created_at)
        modified = iso_ms(max(lead.created_at, lead.converted_at or lead.created_at))
        local = slug(lead.name).replace("-", ".") or f"lead{ctid}"
        props = {
            "firstname": first,
            "lastname": last,
            "email": f"{local}@example.org",
            "createdate": created,
            "lastmodifieddate": modified,
            "hs_object_id": str(ctid),
            "lifecyclestage": "opportunity" if lead.converted_at else "lead",
            "hubspot_owner_id": str(owner_ids[lead.owner_key])
            if lead.owner_key in owner_ids
            else None,
            "hs_analytics_source": lead.lead_source,
            "partner_company_id": str(partner_company_ids[lead.partner_key])
            if lead.partner_key in partner_company_ids
            else None,
        }
        record = HsRecord(ctid, props, created, modified)
        if lead.is_deleted:
            record.archived = True
            record.archived_at = modified
        contacts.add(record)
        if lead.partner_key in partner_company_ids:
            link_contact_company(record, companies.by_id[partner_company_ids[lead.partner_key]])

    properties = {
        "deals": {p.name: p for p in deal_properties(rates)},
        "companies": {p.name: p for p in company_properties(with_kpi_properties)},
        "contacts": {p.name: p for p in contact_properties()},
    }
    if world.forecasting:
        stores["goal_targets"] = _goal_targets(world, owner_ids, owners, portal_created)
        properties["goal_targets"] = {p.name: p for p in goal_properties()}
    stage_prop = properties["deals"]["dealstage"]
    stage_prop.options = [
        {
            "label": s.label,
            "value": stage_id_by_key[s.key],
            "displayOrder": s.order,
            "hidden": False,
            "description": "",
        }
        for s in sorted(world.stages, key=lambda s: s.order)
    ]
    properties["deals"]["pipeline"].options = [
        {"label": "Sales Pipeline", "value": "default", "displayOrder": 0, "hidden": False}
    ]
    return Rendered(
        stores=stores,
        properties=properties,
        owners=owners,
        stage_id_by_key=stage_id_by_key,
        stages=list(world.stages),
        partner_company_ids=partner_company_ids,
        owner_ids=owner_ids,
        deal_ids=deal_ids,
        customer_company_ids=customer_ids,
    )


def _goal_targets(world: World, owner_ids: dict[str, int], owners: dict[int, OwnerRecord],
                  created: str) -> ObjectStore:
    """One goal target per revenue quota of the World: a month, quarter or year slice from
    midnight UTC of its first day to the last millisecond of its last day."""
    store = ObjectStore("goal_targets")
    for q in world.quotas:
        if q.amount is None:
            continue
        index = q.start.year * 12 + q.start.month - 1 + q.months
        end = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC) - timedelta(milliseconds=1)
        oid = owner_ids.get(q.owner_key)
        modified = iso_ms(q.modified_at) if q.modified_at else created
        gid = store.new_id()
        store.add(HsRecord(gid, {
            "hs_goal_name": q.name, "hs_target_amount": number_string(q.amount),
            "hs_start_datetime": date_iso(q.start), "hs_end_datetime": iso_ms(end),
            "hubspot_owner_id": str(oid) if oid is not None else None,
            "hs_assignee_user_id": str(owners[oid].user_id) if oid is not None else None,
            "hs_assignee_team_id": None, "hs_goal_target_group_id": None,
            "hs_group_correlation_uuid": None, "hs_createdate": created,
            "hs_lastmodifieddate": modified, "hs_object_id": str(gid),
        }, created, modified))
    return store


def home_amount(amount: Decimal | None, currency: str, rates: dict[str, Decimal]) -> str:
    """``amount_in_home_currency``: amount / rate of its currency, ``""`` when not computable."""
    if amount is None:
        return ""
    rate = rates.get(currency)
    if rate is None or rate == 0:
        return ""
    if rate == 1:
        return number_string(amount)
    return normalized_number(amount / rate)


def _deal_created(deal: Any) -> datetime:
    if deal.created_at is not None:
        return deal.created_at
    if deal.stage_history:
        return min(t for _, t in deal.stage_history)
    return deal.modified_at
