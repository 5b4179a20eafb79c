"""The Salesforce facade's record store: a :class:`~crm_sandbox.world.World` as sObject records.

Records are plain dicts keyed by canonical API field name with typed values (``str``, ``bool``,
``int``, ``Decimal``, ``date``, tz-aware UTC ``datetime``, ``None``; ``BillingAddress`` is the
compound dict). Every record has ``Id``; deletable objects have ``IsDeleted``.

World mapping (World key -> record):

* Partner ``key`` -> Account (``Type='Partner'``, ``IsPartner=true``, ``Partner_Tier__c`` =
  ``tier``); each distinct
  ``Deal.account_name`` -> a customer Account (``Type='Customer'``) whose world key is
  ``"customer:" + account_name``; ``account_name=None`` -> ``AccountId`` null.
* Owner -> User (``Department`` = team, ``Division`` = unit, ``UserRoleId`` -> a UserRole per
  distinct team, keyed by the team name).
* Stage -> OpportunityStage (``DefaultProbability`` = probability x 100, Salesforce's percent).
* Deal -> Opportunity (``PartnerAccountId`` and the custom lookup ``Partner_Account__c`` both
  point at the partner Account), one OpportunityHistory per ``stage_history`` entry (world key
  ``"<deal key>#<n>"``), one OpportunityPartner per partnered deal (key = deal key).
  ``CreatedDate`` = ``created_at``, else the first stage-history time, else ``modified_at``
  (a CRM always has one; see :mod:`crm_sandbox.datasets` for why a data set may lack it).
* Lead -> Lead; currency rates -> CurrencyType (keyed by ISO code).
* Quota -> ForecastingQuota of the Opportunity Revenue forecast type (``IsAmount``) or a
  quantity one, with one Period per distinct (start, length) (Type Month / Quarter / Year).
  ``World.forecasting`` False: the org shows no ForecastingQuota (describe 404, SOQL
  INVALID_TYPE), like an org without Collaborative Forecasts.
* Lead -> Lead; currency rates -> CurrencyType (keyed by ISO code); dated rates ->
  DatedConversionRate (``NextStartDate`` = the next start date of the same code, keyed
  ``"<code>@<start date>"``).
* ``Opportunity.Account_Partner__c`` is a formula field (``CASESAFEID(Account.Partner_Account__c)``,
  case C-14): the store recomputes it on every child Opportunity when an Account's
  ``Partner_Account__c`` changes, without moving the Opportunities' ``SystemModstamp``, as
  Salesforce does (formula values are computed when read; the child record does not change).

Accounts, users, roles and stages are stamped with the World's epoch: midnight 30 days before
the earliest datetime in the World. Records deleted in the World are deleted at their
``SystemModstamp``.
"""

from __future__ import annotations

import gc
import threading
import zlib
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from crm_sandbox.core import Clock
from crm_sandbox.salesforce_schema import (
    KEY_PREFIXES,
    SCHEMA,
    SalesforceSchema,
    address_value,
    make_id,
)
from crm_sandbox.world import World

__all__ = ["SalesforceStore"]

_ADDRESSES = (
    ("1 Example Street", "Lyon", None, "69001", "France"),
    ("22 Harbour Road", "Bristol", None, "BS1 5TR", "United Kingdom"),
    ("450 Market St", "San Francisco", "CA", "94105", "United States"),
    ("Bahnhofstrasse 10", "Zürich", None, "8001", "Switzerland"),
    ("Av. Paulista 1000", "São Paulo", "SP", "01310-100", "Brazil"),
    ("1 Raffles Place", "Singapore", None, "048616", "Singapore"),
    ("200 Bay St", "Toronto", "ON", "M5J 2J2", "Canada"),
    None,
)
_PARTNER_ROLES = {"Reseller": "VAR/Reseller", "Referral": "Consultant", "Agency": "Agency"}
_DELETABLE = {name for name, o in SCHEMA.items() if any(f.name == "IsDeleted" for f in o.fields)}
_BLANK = {name: dict.fromkeys(f.name for f in o.fields) for name, o in SCHEMA.items()}
_BY_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}


def _pct(p: Decimal | None) -> Decimal | None:
    return None if p is None else (p * 100).normalize() + Decimal("0.0")


class SalesforceStore:
    """All sObject records of one sandbox, with id bookkeeping and CRM-like mutations.

    Thread-safe through :attr:`lock` (an ``RLock``); callers reading many records at once (the
    query engine) hold it themselves.
    """

    def __init__(self, world: World, clock: Clock) -> None:
        self.world = world
        self.clock = clock
        self.schema = SalesforceSchema(
            None if world.forecasting
            else {k: v for k, v in SCHEMA.items() if k != "ForecastingQuota"})
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in SCHEMA}
        self.deleted_at: dict[str, datetime] = {}
        self._ids: dict[tuple[str, str], str] = {}
        self._serial: dict[str, int] = dict.fromkeys(SCHEMA, 0)
        gc_was_enabled = gc.isenabled()
        gc.disable()  # ~10^6 fresh dicts: cyclic GC passes would dominate the load time
        try:
            self._load(world)
        finally:
            if gc_was_enabled:
                gc.enable()

    # -- ids -------------------------------------------------------------------------------

    def new_id(self, sobject: str, world_key: str | None = None) -> str:
        """Allocate the next id of ``sobject`` (and remember it under ``world_key``)."""
        self._serial[sobject] += 1
        rid = make_id(KEY_PREFIXES[sobject], self._serial[sobject])
        if world_key is not None:
            self._ids[(sobject, world_key)] = rid
        return rid

    def id_for(self, sobject: str, world_key: str) -> str:
        """The id of the record made from World key ``world_key`` (KeyError if none)."""
        return self._ids[(sobject, world_key)]

    def object_of(self, record_id: str) -> str | None:
        """The sObject type of an id, from its key prefix."""
        return _BY_PREFIX.get(record_id[:3])

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """The record (15- or 18-character id accepted), or None."""
        table = self.records.get(sobject, {})
        rec = table.get(record_id)
        if rec is None and len(record_id) == 15:
            rec = next((r for i, r in table.items() if i[:15] == record_id), None)
        return rec

    # -- loading the World ---------------------------------------------------------------------

    def _add(self, sobject: str, key: str | None, values: dict[str, Any]) -> dict[str, Any]:
        rid = self.new_id(sobject, key)
        rec: dict[str, Any] = dict(_BLANK[sobject])
        rec.update(values)
        rec["Id"] = rid
        if "IsDeleted" in rec and rec["IsDeleted"] is None:
            rec["IsDeleted"] = False
        if sobject == "Account":
            rec["BillingAddress"] = address_value(rec)
        if rec.get("IsDeleted"):
            self.deleted_at[rid] = rec["SystemModstamp"]
        self.records[sobject][rid] = rec
        return rec

    @staticmethod
    def _epoch(world: World) -> datetime:
        stamps = [d.modified_at for d in world.deals]
        stamps += [d.created_at for d in world.deals if d.created_at]
        stamps += [t for d in world.deals for _, t in d.stage_history]
        stamps += [lead.created_at for lead in world.leads]
        if not stamps:
            return datetime(2020, 1, 1, tzinfo=UTC)
        first = min(stamps).astimezone(UTC) - timedelta(days=30)
        return datetime.combine(first.date(), time(0), tzinfo=UTC)

    @staticmethod
    def _address(name: str) -> dict[str, Any]:
        addr = _ADDRESSES[zlib.crc32(name.encode("utf-8")) % len(_ADDRESSES)]
        if addr is None:
            return {}
        street, city, state, postal, country = addr
        return {
            "BillingStreet": street,
            "BillingCity": city,
            "BillingState": state,
            "BillingPostalCode": postal,
            "BillingCountry": country,
        }

    def _load(self, world: World) -> None:
        epoch = self._epoch(world)
        stamps = {"CreatedDate": epoch, "LastModifiedDate": epoch, "SystemModstamp": epoch}
        for p in world.partners:
            self._add(
                "Account",
                p.key,
                {"Name": p.name, "Type": "Partner", "IsPartner": True, "IsDeleted": p.is_deleted}
                | {"Partner_Tier__c": p.tier}
                | self._address(p.name)
                | stamps,
            )
        for name in dict.fromkeys(d.account_name for d in world.deals if d.account_name):
            self._add(
                "Account",
                "customer:" + name,
                {"Name": name, "Type": "Customer", "IsPartner": False}
                | self._address(name)
                | stamps,
            )
        for team in dict.fromkeys(o.team for o in world.owners if o.team):
            self._add("UserRole", team, {"Name": team, "SystemModstamp": epoch})
        for o in world.owners:
            role = self._ids.get(("UserRole", o.team)) if o.team else None
            self._add(
                "User",
                o.key,
                {"Name": o.name, "Email": o.email, "Department": o.team, "Division": o.unit}
                | {"UserRoleId": role, "IsActive": o.is_active}
                | stamps,
            )
        for s in world.stages:
            self._add(
                "OpportunityStage",
                s.key,
                {"ApiName": s.key, "MasterLabel": s.label, "IsActive": True}
                | {"IsClosed": s.is_closed, "IsWon": s.is_won, "SortOrder": s.order}
                | {"DefaultProbability": _pct(s.probability)}
                | stamps,
            )
        for code, rate in world.currency_rates.items():
            self._add(
                "CurrencyType",
                code,
                {"IsoCode": code, "ConversionRate": rate, "DecimalPlaces": 2, "IsActive": True}
                | {"IsCorporate": code == world.corporate_currency}
                | stamps,
            )
        by_code: dict[str, list[tuple[Any, Decimal]]] = {}
        for code, start, rate in sorted(world.dated_rates):
            by_code.setdefault(code, []).append((start, rate))
        for code, starts in by_code.items():
            for n, (start, rate) in enumerate(starts):
                nxt = starts[n + 1][0] if n + 1 < len(starts) else None
                self._add(
                    "DatedConversionRate",
                    f"{code}@{start.isoformat()}",
                    {"IsoCode": code, "ConversionRate": rate, "StartDate": start}
                    | {"NextStartDate": nxt}
                    | stamps,
                )
        self._load_deals(world)
        self._load_leads(world)
        self._load_quotas(world, epoch)

    #: the forecasting type of revenue quotas (an id of the sandbox's choosing)
    REVENUE_TYPE_ID = "0DbXX0000000001AAA"
    _PERIOD_TYPES: ClassVar[dict[int, str]] = {1: "Month", 3: "Quarter", 12: "Year"}

    def _load_quotas(self, world: World, epoch: datetime) -> None:
        for q in world.quotas:
            pkey = f"{q.start}/{q.months}"
            if ("Period", pkey) not in self._ids:
                index = q.start.year * 12 + q.start.month - 1 + q.months
                end = date(index // 12, index % 12 + 1, 1) - timedelta(days=1)
                self._add("Period", pkey, {
                    "StartDate": q.start, "EndDate": end, "Type": self._PERIOD_TYPES[q.months],
                    "Number": (q.start.month - 1) // q.months + 1, "IsForecastPeriod": True,
                    "SystemModstamp": epoch})
            stamp = q.modified_at or epoch
            self._add("ForecastingQuota", q.key, {
                "QuotaOwnerId": self._ids.get(("User", q.owner_key)),
                "QuotaAmount": q.amount, "QuotaQuantity": q.quantity,
                "IsAmount": q.quantity is None, "IsQuantity": q.quantity is not None,
                "StartDate": q.start, "PeriodId": self._ids[("Period", pkey)],
                "ForecastingTypeId": self.REVENUE_TYPE_ID,
                "CurrencyIsoCode": world.corporate_currency,
                "CreatedDate": epoch, "LastModifiedDate": stamp, "SystemModstamp": stamp})

    def _put(self, sobject: str, key: str | None, rec: dict[str, Any]) -> dict[str, Any]:
        """Fast path of :meth:`_add` for complete records built in schema order (``Id`` first)."""
        serial = self._serial[sobject] = self._serial[sobject] + 1
        rid = rec["Id"] = make_id(KEY_PREFIXES[sobject], serial)
        if key is not None:
            self._ids[(sobject, key)] = rid
        if rec["IsDeleted"]:
            self.deleted_at[rid] = rec["SystemModstamp"]
        self.records[sobject][rid] = rec
        return rec

    def _load_deals(self, world: World) -> None:
        """Opportunities, their stage history and OpportunityPartner rows (the bulk of a World)."""
        stages = {s.key: (s, _pct(s.probability)) for s in world.stages}
        role = {p.key: _PARTNER_ROLES.get(p.partner_type, "Other") for p in world.partners}
        ids = self._ids
        put = self._put
        for d in world.deals:
            stage, pct = stages.get(d.stage_key, (None, None))
            created = d.created_at or (d.stage_history[0][1] if d.stage_history else d.modified_at)
            partner = ids.get(("Account", d.partner_key)) if d.partner_key else None
            account = ids.get(("Account", "customer:" + d.account_name)) if d.account_name else None
            deleted = d.is_deleted
            opp = put(
                "Opportunity",
                d.key,
                {
                    "Id": None,
                    "IsDeleted": deleted,
                    "Name": d.name,
                    "AccountId": account,
                    "PartnerAccountId": partner,
                    "Partner_Account__c": partner,
                    "Account_Partner__c": None,
                    "OwnerId": ids.get(("User", d.owner_key)) if d.owner_key else None,
                    "StageName": d.stage_key,
                    "Amount": d.amount,
                    "CurrencyIsoCode": d.currency,
                    "Probability": pct,
                    "IsClosed": stage.is_closed if stage else False,
                    "IsWon": stage.is_won if stage else False,
                    "CloseDate": d.close_date,
                    "LeadSource": d.lead_source,
                    "CreatedDate": created,
                    "LastModifiedDate": d.modified_at,
                    "SystemModstamp": d.modified_at,
                    "LastActivityDate": None,
                },
            )
            opp_id = opp["Id"]
            for n, (stage_key, at) in enumerate(d.stage_history):
                put(
                    "OpportunityHistory",
                    f"{d.key}#{n}",
                    {
                        "Id": None,
                        "IsDeleted": deleted,
                        "OpportunityId": opp_id,
                        "StageName": stage_key,
                        "Amount": d.amount,
                        "CloseDate": d.close_date,
                        "Probability": stages.get(stage_key, (None, None))[1],
                        "CreatedDate": at,
                        "SystemModstamp": at,
                    },
                )
            links = [(partner, role.get(d.partner_key or "", "Other"), True, d.key)] if partner \
                else []
            links += [(ids.get(("Account", k)), r, p, f"{d.key}~{k}~{r}")
                      for k, r, p in d.partner_links]
            for to, link_role, primary, link_key in links:
                if to is None:
                    continue
                stamp = d.modified_at if deleted else created
                row = put("OpportunityPartner", link_key, {
                    "Id": None, "IsDeleted": deleted, "OpportunityId": opp_id,
                    "AccountToId": to, "Role": link_role, "IsPrimary": primary,
                    "ReversePartnerId": None, "CreatedDate": created,
                    "LastModifiedDate": created, "SystemModstamp": stamp})
                if account:
                    # Salesforce adds the reverse row itself: the opportunity's account as
                    # seen from the partner (the two rows name each other in ReversePartnerId)
                    back = put("OpportunityPartner", link_key + "~reverse", {
                        "Id": None, "IsDeleted": deleted, "OpportunityId": opp_id,
                        "AccountToId": account, "Role": "Opportunity", "IsPrimary": False,
                        "ReversePartnerId": row["Id"], "CreatedDate": created,
                        "LastModifiedDate": created, "SystemModstamp": stamp})
                    row["ReversePartnerId"] = back["Id"]

    def _load_leads(self, world: World) -> None:
        ids = self._ids
        for lead in world.leads:
            touched = lead.converted_at or lead.created_at
            converted = lead.converted_at
            self._put(
                "Lead",
                lead.key,
                {
                    "Id": None,
                    "IsDeleted": lead.is_deleted,
                    "Name": lead.name,
                    "Status": "Closed - Converted" if converted else "Open - Not Contacted",
                    "LeadSource": lead.lead_source,
                    "PartnerAccountId": ids.get(("Account", lead.partner_key))
                    if lead.partner_key
                    else None,
                    "OwnerId": ids.get(("User", lead.owner_key)) if lead.owner_key else None,
                    "IsConverted": converted is not None,
                    "ConvertedDate": converted.astimezone(UTC).date() if converted else None,
                    "ConvertedOpportunityId": ids.get(("Opportunity", lead.converted_deal_key))
                    if lead.converted_deal_key
                    else None,
                    "MasterRecordId": None,
                    "CreatedDate": lead.created_at,
                    "LastModifiedDate": touched,
                    "SystemModstamp": touched,
                },
            )

    # -- CRM-user mutations (bump stamps to clock.now()) -----------------------------------------

    def _canonical(self, sobject: str, values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in values.items():
            canon = self.schema.field_name(sobject, name)
            if canon is None:
                msg = f"No such column '{name}' on sobject of type {sobject}"
                raise KeyError(msg)
            out[canon] = value
        return out

    def _track_partner(self, rec: dict[str, Any], changed: dict[str, Any], now: datetime) -> None:
        """Field history of the partner lookups, as an org tracking them records it: two
        ``OpportunityFieldHistory`` rows per change, one with the Account ids (``EntityId``),
        one with their names (``Text``); a standard lookup under its relationship name."""
        for name, field in (("PartnerAccountId", "PartnerAccount"),
                            ("Partner_Account__c", "Partner_Account__c")):
            new = changed.get(name, changed.get(
                "PartnerAccountId" if name == "Partner_Account__c" else "Partner_Account__c",
                rec[name]))
            if new == rec[name]:
                continue
            names = [(self.get("Account", v) or {}).get("Name") if v else None
                     for v in (rec[name], new)]
            for kind, (old_value, new_value) in (("EntityId", (rec[name], new)),
                                                 ("Text", tuple(names))):
                self._add("OpportunityFieldHistory", None, {
                    "OpportunityId": rec["Id"], "Field": field, "DataType": kind,
                    "OldValue": old_value, "NewValue": new_value, "CreatedDate": now})

    def _derive(
        self, sobject: str, rec: dict[str, Any], changed: dict[str, Any], now: datetime
    ) -> None:
        """Apply Salesforce's automatic side effects of a change to ``rec``."""
        if sobject == "Account":
            if "Type" in changed and "IsPartner" not in changed:
                rec["IsPartner"] = rec["Type"] == "Partner"
            rec["BillingAddress"] = address_value(rec)
            if "Partner_Account__c" in changed:  # the formula of the children: no stamp moves
                for opp in self.records["Opportunity"].values():
                    if opp["AccountId"] == rec["Id"]:
                        opp["Account_Partner__c"] = rec["Partner_Account__c"]
        if sobject == "Opportunity":
            if "AccountId" in changed:
                account = self.get("Account", rec["AccountId"]) if rec["AccountId"] else None
                rec["Account_Partner__c"] = account["Partner_Account__c"] if account else None
            if "PartnerAccountId" in changed and "Partner_Account__c" not in changed:
                rec["Partner_Account__c"] = rec["PartnerAccountId"]
            elif "Partner_Account__c" in changed and "PartnerAccountId" not in changed:
                rec["PartnerAccountId"] = rec["Partner_Account__c"]
            if "StageName" in changed:
                stage = next((s for s in self.world.stages if s.key == rec["StageName"]), None)
                if stage is not None:
                    rec["IsClosed"], rec["IsWon"] = stage.is_closed, stage.is_won
                    if "Probability" not in changed:
                        rec["Probability"] = _pct(stage.probability)
            # Salesforce writes an OpportunityHistory row on a change of any of these fields
            if {"StageName", "Amount", "CloseDate", "Probability"} & set(changed):
                self._add(
                    "OpportunityHistory",
                    None,
                    {
                        "OpportunityId": rec["Id"],
                        "StageName": rec["StageName"],
                        "Amount": rec["Amount"],
                        "CloseDate": rec["CloseDate"],
                        "Probability": rec["Probability"],
                        "CreatedDate": now,
                        "SystemModstamp": now,
                    },
                )

    def create(self, sobject: str, values: dict[str, Any]) -> str:
        """Create a record as a CRM user would; returns its id."""
        with self.lock:
            sobject = self.schema.canonical_object(sobject) or sobject
            vals = self._canonical(sobject, values)
            now = self.clock.now()
            base = {"CreatedDate": now, "LastModifiedDate": now, "SystemModstamp": now}
            if sobject == "Opportunity":
                base["CurrencyIsoCode"] = self.world.corporate_currency
            if sobject == "Account":
                base["IsPartner"] = vals.get("Type") == "Partner"
            rec = self._add(sobject, None, base | vals)
            self._derive(sobject, rec, vals, now)
            return rec["Id"]

    def update(self, sobject: str, record_id: str, values: dict[str, Any]) -> None:
        """Change fields; bumps ``LastModifiedDate`` / ``SystemModstamp`` to ``clock.now()``."""
        with self.lock:
            sobject = self.schema.canonical_object(sobject) or sobject
            rec = self.get(sobject, record_id)
            if rec is None or rec.get("IsDeleted"):
                msg = f"{sobject} {record_id} does not exist"
                raise KeyError(msg)
            vals = self._canonical(sobject, values)
            now = self.clock.now()
            if sobject == "Opportunity":
                self._track_partner(rec, vals, now)
            rec.update(vals)
            for stamp in ("LastModifiedDate", "SystemModstamp"):
                if stamp in rec:
                    rec[stamp] = now
            self._derive(sobject, rec, vals, now)

    def delete(self, sobject: str, record_id: str) -> None:
        """Move a record to the recycle bin (``IsDeleted=true``), with its dependants."""
        with self.lock:
            sobject = self.schema.canonical_object(sobject) or sobject
            rec = self.get(sobject, record_id)
            if rec is None or sobject not in _DELETABLE:
                msg = f"{sobject} {record_id} cannot be deleted"
                raise KeyError(msg)
            now = self.clock.now()
            victims = [rec]
            if sobject == "Opportunity":
                for child in ("OpportunityHistory", "OpportunityPartner"):
                    victims += [
                        r for r in self.records[child].values() if r["OpportunityId"] == rec["Id"]
                    ]
            for r in victims:
                if not r["IsDeleted"]:
                    r["IsDeleted"] = True
                    r["SystemModstamp"] = now
                    self.deleted_at[r["Id"]] = now

    def purge(self, sobject: str, record_id: str) -> None:
        """Remove a record for good, as emptying the recycle bin (after 15 days) or a hard delete
        does: neither ``query`` nor ``queryAll`` returns it any more."""
        with self.lock:
            sobject = self.schema.canonical_object(sobject) or sobject
            if self.records.get(sobject, {}).pop(record_id, None) is None:
                msg = f"{sobject} {record_id} does not exist"
                raise KeyError(msg)
            self.deleted_at.pop(record_id, None)

    def merge(self, sobject: str, winner_id: str, loser_id: str) -> None:
        """Merge ``loser_id`` into ``winner_id`` (Account or Lead), re-parenting children."""
        with self.lock:
            sobject = self.schema.canonical_object(sobject) or sobject
            winner, loser = self.get(sobject, winner_id), self.get(sobject, loser_id)
            if sobject not in ("Account", "Lead") or winner is None or loser is None:
                msg = f"cannot merge {sobject} {loser_id} into {winner_id}"
                raise KeyError(msg)
            now = self.clock.now()
            for table in self.records.values():
                for r in table.values():
                    touched = False
                    for f in SCHEMA[self.object_of(r["Id"]) or "Account"].fields:
                        is_link = f.reference_to == sobject and f.name != "MasterRecordId"
                        if is_link and r.get(f.name) == loser["Id"]:
                            r[f.name] = winner["Id"]
                            touched = True
                    if touched and "SystemModstamp" in r:
                        r["SystemModstamp"] = now
                        if "LastModifiedDate" in r:
                            r["LastModifiedDate"] = now
            loser["MasterRecordId"] = winner["Id"]
            self.delete(sobject, loser["Id"])
            winner["LastModifiedDate"] = winner["SystemModstamp"] = now
