"""The HubSpot source: deals, partner companies, owners, pipelines' stages and stage history.

Streams, in pull order (see :mod:`connectors.hubspot.streams` and ``README.md`` here):

- ``stages``: ``GET /crm/v3/pipelines/deals``; won/lost from each stage's metadata (C-12).
- ``owners``: ``GET /crm/v3/owners`` with and without ``archived=true`` (C-13).
- ``partners``: companies matching the property rule (default ``type`` in PARTNER, RESELLER).
- ``currency_rates``: the configured rates.
- ``deals``: incremental keyset search on ``hs_lastmodifieddate`` from watermark - lookback;
  each page carries the deals, their ``stage_history`` (batch read with
  ``propertiesWithHistory`` for dealstage, amount, closedate and pipeline, only for the deals
  of the page; a first sync reads the list endpoint with the history in its pages instead) and
  any partner company met through the association label, and commits with its watermark. The
  watermark is never later than the sync's start (C-02).
- ``archived_deals``: ``GET /crm/v3/objects/deals?archived=true`` every run; those deals are
  flagged deleted (archiving leaves ``hs_lastmodifieddate`` alone: C-06).
- ``association_sweep``: the partner associations of the stored live deals, re-read (an
  association change leaves ``hs_lastmodifieddate`` alone): :mod:`connectors.hubspot.sweep`.

Merges: a deal (or company) merged into another leaves lists and search without being
archived; the survivor's ``hs_merged_object_ids`` names it, and those ids are flagged deleted.
Partners the search no longer returns are read by id: archived, merged away or no longer
matching the partner rule, they are flagged deleted (their deals count unattributed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.bad_records import BadRecords
from connectors.base import Adapter, Page, Reference, StoredRecords, Stream
from connectors.errors import ConfigError, FatalAPIError
from connectors.http import RetryPolicy
from connectors.hubspot import rows as R
from connectors.hubspot import sweep
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.completeness import deal_count_page, repair_watermark
from connectors.hubspot.demo import demo_settings
from connectors.hubspot.goals import PROPERTIES as GOAL_PROPERTIES
from connectors.hubspot.goals import goal_rows
from connectors.hubspot.preflight import hubspot_preflight
from connectors.hubspot.push import HubSpotPusher
from connectors.hubspot.settings import HubSpotSettings, HubSpotWriteback, pulled_fields
from connectors.hubspot.streams import (
    STREAMS,
    TARGETS,
    chunks,
    cursor_pages,
    search_deal_pages,
)
from connectors.paging import paginate
from connectors.values import format_instant, parse_instant

__all__ = ["ADAPTER", "HubSpotConnector", "HubSpotSettings"]

BATCH = 100  # batch read inputs per call (associations: sweep.ASSOC_BATCH, 1,000)
HISTORY_BATCH = 50  # batch read inputs per call with propertiesWithHistory


class HubSpotConnector:
    """Pulls a HubSpot portal into canonical rows.

    Args:
        settings: ``sources.hubspot``.
        reporting_currency: the config's reporting currency.
        policy: retry policy (its ``sleep`` also paces; tests pass a recorder).
        now: the clock the sync's start is read from (UTC).
        monotonic: the clock search pacing is measured on.

    Raises:
        ConfigError: the token's environment variable is not set.
    """

    source = R.SOURCE
    atomic = False

    def __init__(
        self,
        settings: HubSpotSettings,
        reporting_currency: str,
        *,
        policy: RetryPolicy | None = None,
        now: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.reporting_currency = reporting_currency
        self.client = HubSpotClient.from_settings(settings, policy, monotonic=monotonic)
        self._now = now or (lambda: datetime.now(UTC))
        self._stored: StoredRecords | None = None
        self._reset()

    def _reset(self) -> None:
        self.started: datetime = self._now()
        self._count_window: datetime | None = None  # the deals window read (completeness)
        self.ctx: R.Context | None = None
        self._stages: list[dict[str, Any]] | None = None
        self._owner_ids: set[str] = set()
        self._known_partners: set[str] = set()
        self._deals_read_all = False
        self._calendar_sent = False

    def bind_store(self, stored: StoredRecords) -> None:
        """Called by the sync loop: what the store holds for this source, read by the
        association sweep and the partner check (without it both are skipped)."""
        self._stored = stored

    @property
    def api_calls(self) -> int:
        """HTTP requests sent to HubSpot by this connector (retries included)."""
        return self.client.usage.calls

    @property
    def api_allowance_left(self) -> int | None:
        """Calls left in the portal's daily allowance (``X-HubSpot-RateLimit-Daily-Remaining``)."""
        return self.client.usage.daily_remaining

    def pusher(self, writeback: HubSpotWriteback) -> HubSpotPusher:
        """The push side for ``writeback.hubspot``, sharing this connector's client (one
        token, one pacing clock, one count of API calls)."""
        return HubSpotPusher(self.settings, writeback, client=self.client)

    def streams(self) -> Sequence[Stream]:
        """stages, owners, partners, currency_rates, deals, archived_deals (and targets when
        ``goal_kpis`` is set)."""
        return (*STREAMS, TARGETS) if self.settings.goal_kpis else STREAMS

    def _pull_targets(self, watermark: str | None) -> Iterator[Page]:
        """Every goal target as one page (``goals.py``); goals gone are flagged deleted. A
        portal whose token may not read goals (403) or without them (404) gets a note."""
        goals: list[dict[str, Any]] = []

        def fetch(after: str | None) -> dict[str, Any]:
            return self.client.goal_targets(after=after, properties=GOAL_PROPERTIES)

        try:
            for results in cursor_pages(fetch, "goal targets"):
                goals += results
        except FatalAPIError as exc:
            if getattr(exc, "status", None) not in (403, 404):
                raise
            yield Page({}, warnings=[f"hubspot targets: goals cannot be read ({exc}); grant "
                                     "the scope crm.objects.goals.read to read them"])
            return
        rows, notes = goal_rows(goals, self.settings.goal_kpis)
        yield Page({"targets": rows}, keep_ids={"targets": [str(g["id"]) for g in goals]},
                   warnings=notes)

    def pull(
        self, stream: Stream, watermark: str | None, state: Mapping[str, str | None]
    ) -> Iterator[Page]:
        """Yield the pages of ``stream`` (see the module docstring).

        Raises:
            RetriableAPIError: a transient failure outlasted the retries.
            LimitReachedError: the portal's daily allowance is used up.
            AuthError / FatalAPIError: the token or a request was refused.
        """
        if stream.name == STREAMS[0].name:
            self._reset()
        if stream.name == "deals":  # completeness: a window whose count failed is read again
            watermark = repair_watermark(watermark, state)
            stored = parse_instant(watermark) if watermark else None
            lookback = timedelta(minutes=self.settings.lookback_minutes)
            self._count_window = stored - lookback if stored else None
        yield from getattr(self, f"_pull_{stream.name}")(watermark)
        if stream.name == "archived_deals":  # archived ones flagged: count the deals window
            yield deal_count_page(self.client.search_deals, self._count_window, self.started)

    # -- streams ---------------------------------------------------------------------------
    def _pull_stages(self, watermark: str | None) -> Iterator[Page]:
        yield Page({"stages": self._stage_rows()})

    def _stage_rows(self) -> list[dict[str, Any]]:
        if self._stages is None:
            self._stages = R.stage_rows(self.client.deal_pipelines(), self.settings.won_stages,
                                        self.settings.lost_stages)
        return self._stages

    def _owner_rows(self) -> list[dict[str, Any]]:
        s = self.settings
        rows = []
        for archived in (False, True):
            def fetch(after: str | None, archived: bool = archived) -> dict[str, Any]:
                return self.client.owners(archived=archived, after=after)

            for results in cursor_pages(fetch, "owners"):
                rows += [R.owner_row(o, s.team_units, s.default_unit) for o in results]
        self._owner_ids = {r["owner_id"] for r in rows}
        return rows

    def _pull_owners(self, watermark: str | None) -> Iterator[Page]:
        yield Page({"owners": self._owner_rows()})

    def _pull_partners(self, watermark: str | None) -> Iterator[Page]:
        rule = self.settings.partners
        if not rule.company_property:  # partners are the companies deals name
            yield from self._check_stored_partners()
            return
        props = self._company_properties()

        def fetch(last: int | None) -> dict[str, Any]:
            return self.client.search_companies({
                "filterGroups": [{"filters": [
                    {"propertyName": rule.company_property, "operator": "IN",
                     "values": rule.company_values},
                    {"propertyName": "hs_object_id", "operator": "GT", "value": str(last or 0)}]}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": props, "limit": 200,
            })

        def next_id(response: dict[str, Any]) -> int | None:
            results = response.get("results") or []
            if not results or not (response.get("paging") or {}).get("next"):
                return None
            return int(results[-1]["id"])

        for response in paginate(fetch, next_id, "HubSpot partner company search",
                                 token_name="keyset id", increasing=True):
            results = response.get("results") or []
            rows = [R.partner_row(c, rule.name_property, rule.tier_property) for c in results]
            self._known_partners.update(r["partner_id"] for r in rows)
            merged = _merged_ids(results)
            if rows:
                yield Page({"partners": rows}, deleted={"partners": merged} if merged else {})
        yield from self._check_stored_partners()

    def _company_properties(self) -> list[str]:
        rule = self.settings.partners
        return list(dict.fromkeys([
            rule.name_property, "type", "hs_lastmodifieddate", "hs_merged_object_ids",
            *([rule.company_property] if rule.company_property else []),
            *([rule.tier_property] if rule.tier_property else [])]))

    def _partner_rows(self, companies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Partner rows of companies read by id; one that does not match the partner rule
        (``company_property`` in ``company_values``) is flagged: it is no partner (any more),
        and the deals naming it count unattributed."""
        rule = self.settings.partners
        rows = []
        for company in companies:
            row = R.partner_row(company, rule.name_property, rule.tier_property)
            value = (company.get("properties") or {}).get(rule.company_property or "")
            if rule.company_property and value not in rule.company_values:
                row["is_deleted"] = True
            rows.append(row)
        return rows

    def _check_stored_partners(self) -> Iterator[Page]:
        """Stored partners the search did not return, read by id (100 a call): archived,
        merged away or gone -> flagged deleted; no longer matching the rule -> flagged; a
        flagged one that is back (restored, matching again) -> unflagged. Each newly flagged
        partner gets a warning."""
        if self._stored is None:
            return
        stored = self._stored.rows("partners", ("partner_id", "is_deleted"), deleted=None)
        flagged = {str(p) for p, deleted in stored if deleted}
        missing = [str(p) for p, _ in stored if str(p) not in self._known_partners]
        for chunk in chunks(missing, BATCH):
            companies = self.client.read_companies(chunk, self._company_properties())
            found = [c for c in companies.get("results") or [] if str(c["id"]) in chunk]
            rows = self._partner_rows(found)
            gone = sorted(set(chunk) - {r["partner_id"] for r in rows})
            self._known_partners.update(chunk)
            rule = self.settings.partners
            notes = [f"partner company {g}: archived, merged away or deleted in HubSpot; "
                     "flagged, its deals count unattributed" for g in gone if g not in flagged]
            notes += [f"partner company {r['partner_id']}: {rule.company_property} is not one "
                      f"of {', '.join(rule.company_values)} any more; flagged, its deals count "
                      "unattributed" for r in rows
                      if r["is_deleted"] and r["partner_id"] not in flagged]
            yield Page({"partners": rows} if rows else {},
                       deleted={"partners": gone} if gone else {}, warnings=notes)

    def _pull_currency_rates(self, watermark: str | None) -> Iterator[Page]:
        yield Page({"currency_rates": R.rate_rows(self.settings.currency_rates,
                                                  self.reporting_currency)})

    def _pull_deals(self, watermark: str | None) -> Iterator[Page]:
        ctx = self._context()
        stored = parse_instant(watermark) if watermark else None
        lower = stored - timedelta(minutes=self.settings.lookback_minutes) if stored else None
        properties = self.settings.properties()
        self._deals_read_all = lower is None  # every association read by this stream
        if lower is None and self.settings.first_sync == "list":
            yield from self._list_all_deals(ctx, properties)
            return
        buffer: list[dict[str, Any]] = []
        pages = search_deal_pages(self.client.search_deals, properties, lower,
                                  self.settings.page_size)
        for results, stamp in pages:
            buffer += results
            if len(buffer) < self.settings.deals_per_commit:
                continue
            yield self._committed(buffer, ctx, stamp, stored)
            buffer = []
        if buffer:
            yield self._committed(buffer, ctx, stamp, stored)

    def _list_all_deals(self, ctx: R.Context, properties: list[str]) -> Iterator[Page]:
        """First sync / full refresh through ``GET /crm/v3/objects/deals`` (id order, no
        10,000 cap, no search pacing). Pages commit without a watermark; the last one sets it
        to min(latest modified time seen, the sync's start): a crash before the end leaves no
        watermark, so the next run is a clean first sync again (unchanged rows cost nothing).
        Each page asks for the history too (``propertiesWithHistory``: HISTORY_PROPERTIES, 50
        deals a page): one call per 50 deals instead of a list call per 100 plus a batch read
        per 50."""
        def fetch(after: str | None) -> dict[str, Any]:
            return self.client.list_deals(archived=False, after=after, properties=properties,
                                          limit=min(self.settings.page_size, HISTORY_BATCH),
                                          history=self._history_properties())

        latest: datetime | None = None
        buffer: list[dict[str, Any]] = []
        for results in cursor_pages(fetch, "deals"):
            for deal in results:
                stamp = parse_instant((deal.get("properties") or {}).get("hs_lastmodifieddate"))
                if stamp is not None and (latest is None or stamp > latest):
                    latest = stamp
            buffer += results
            if len(buffer) >= self.settings.deals_per_commit:
                yield self._deal_page(buffer, ctx)
                buffer = []
        page = self._deal_page(buffer, ctx)
        if latest is not None:
            page.watermark = format_instant(min(latest, self.started))
        yield page

    def _committed(self, results: list[dict[str, Any]], ctx: R.Context, stamp: datetime,
                   stored: datetime | None) -> Page:
        """The page for ``results`` with its watermark: the last deal's modified time, never
        later than the sync's start (C-02), never earlier than the stored watermark."""
        page = self._deal_page(results, ctx)
        mark = min(stamp, self.started)
        if stored is not None:
            mark = max(mark, stored)
        page.watermark = format_instant(mark)
        return page

    def _pull_archived_deals(self, watermark: str | None) -> Iterator[Page]:
        fetch = lambda after: self.client.list_deals(  # noqa: E731
            archived=True, after=after, properties=["hs_lastmodifieddate"])
        for results in cursor_pages(fetch, "archived deals"):
            if results:
                yield Page({}, deleted={"deals": [str(d["id"]) for d in results]})

    # -- deals helpers -----------------------------------------------------------------------
    def _context(self) -> R.Context:
        if self.ctx is not None:
            return self.ctx
        account = self.client.account_details()
        zone_name = account.get("timeZone")
        try:
            zone = ZoneInfo(zone_name) if zone_name else None
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"HubSpot account time zone {zone_name!r} is unknown to this system's tz database"
            raise ConfigError(msg) from None
        if not self._owner_ids:
            self._owner_rows()
        self.ctx = R.Context(
            stages=R.stage_map(self._stage_rows()), portal_zone=zone,
            home_currency=account.get("companyCurrency"),
            reporting_currency=self.reporting_currency,
            partner_property=self.settings.partner_property, owners=self._owner_ids,
            midnight_utc_is_date=self.settings.closedate_midnight_utc_is_date,
        )
        return self.ctx

    def _partner_ids(self, results: list[dict[str, Any]],
                     associations: dict[str, dict[str, Any]]) -> dict[str, str | None]:
        """Deal id -> partner company id, from the partner property or the association label."""
        prop = self.settings.partner_property
        if prop:
            return {str(d["id"]): ((d.get("properties") or {}).get(prop) or None) for d in results}
        label = self.settings.partners.association_label
        found: dict[str, str | None] = {str(d["id"]): None for d in results}
        if not label:
            return found
        for deal_id, result in associations.items():
            found[deal_id] = R.partner_from_associations(result, label)
        return found

    def _reads_links(self) -> bool:
        """Whether labelled associations give the deals more partners (``link_labels``)."""
        return self.settings.partners.link_labels != []

    def _associations(self, results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Deal id -> its v4 deal -> company association result (a deal without companies has
        none), read when the partner label or the link labels need them."""
        rule = self.settings.partners
        if not ((self.settings.partner_property is None and rule.association_label)
                or self._reads_links()):
            return {}
        found: dict[str, dict[str, Any]] = {}
        for ids in chunks([str(d["id"]) for d in results], sweep.ASSOC_BATCH):
            for result in self.client.deal_companies(ids).get("results") or []:
                found[str(result["from"]["id"])] = result
        return found

    def _history_properties(self) -> list[str]:
        """The deal properties read with their history: :data:`rows.HISTORY_PROPERTIES`
        (stage, amount, close date, pipeline), and the partner property under
        ``partner_history``."""
        return [*R.HISTORY_PROPERTIES, *self._tracked_properties()]

    def _tracked_properties(self) -> list[str]:
        """The partner property under ``partner_history`` (its changes: ``partner_changes``)."""
        prop = self.settings.partner_property
        return [prop] if prop and self.settings.partner_history else []

    def _partner_reference(self) -> Reference:
        """A deal's partner must be a company synced as a partner (by the partners stream or
        read through a deal, this run or an earlier one); the sync loop checks it against the
        store and applies ``on_bad_record`` (under keep the deal counts unattributed)."""
        label = self.settings.partners.association_label
        where = self.settings.partner_property or f"association {label}"
        return Reference("deals", "deal_id", ("partner_id",), "partners", "deal", where,
                         "is not a company of this portal synced as a partner (no such company)",
                         self.settings.on_bad_record, nullable=True)

    def _new_partners(self, ids: set[str]) -> list[dict[str, Any]]:
        """Partner rows for companies met through deals but neither read by the partners stream
        nor stored (a stored one is checked by the partners stream each run): flagged when
        they do not match the partner rule."""
        missing = sorted(ids - self._known_partners)
        if missing and self._stored is not None:
            stored = {str(p) for (p,) in self._stored.rows(
                "partners", ("partner_id",), deleted=None, where_in=("partner_id", missing))}
            missing = [m for m in missing if m not in stored]
        rows = []
        for chunk in chunks(missing, BATCH):
            results = self.client.read_companies(chunk, self._company_properties())
            rows += self._partner_rows(results.get("results") or [])
        self._known_partners.update(missing)
        return rows

    def _deal_page(self, results: list[dict[str, Any]], ctx: R.Context) -> Page:
        warnings: list[str] = []
        bad = BadRecords(self.settings.on_bad_record)
        associations = self._associations(results)
        partners = self._partner_ids(results, associations)
        built = (R.deal_row(d, ctx, partners[str(d["id"])], warnings, bad) for d in results)
        deals = [row for row in built if row is not None]
        history: list[dict[str, Any]] = []
        fields: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        kept = {r["deal_id"] for r in deals}
        tracked = self._tracked_properties()
        listed = [d for d in results if "propertiesWithHistory" in d and str(d["id"]) in kept]
        for deal in listed:  # read with the list page (first sync)
            history += R.history_rows(deal)
            fields += R.deal_history_rows(deal, ctx, warnings)
            changes += [c for p in tracked for c in R.partner_change_rows(deal, p)]
        unread = kept - {str(d["id"]) for d in listed}
        for ids in chunks([r["deal_id"] for r in deals if r["deal_id"] in unread], HISTORY_BATCH):
            read = self.client.read_deals(ids, ["hs_object_id"], self._history_properties())
            for deal in read.get("results") or []:
                history += R.history_rows(deal)
                fields += R.deal_history_rows(deal, ctx, warnings)
                changes += [c for p in tracked for c in R.partner_change_rows(deal, p)]
        links = [row for deal_id in kept if deal_id in associations
                 for row in R.deal_partners_from_associations(associations[deal_id],
                                                              self.settings)]
        if not self._reads_links():
            links = []
        tables: dict[str, list[dict[str, Any]]] = {}
        if not self._calendar_sent:  # the portal's zone, once a run (the default reporting zone)
            tables["source_calendar"] = [R.calendar_row(ctx.portal_zone)]
            self._calendar_sent = True
        new = self._new_partners({r["partner_id"] for r in deals if r["partner_id"]}
                                 | {r["partner_id"] for r in links})
        if new:
            tables["partners"] = new
        tables["deals"] = deals
        if history:
            tables["stage_history"] = history
        if fields:
            tables["deal_history"] = fields
        if changes:
            tables["partner_changes"] = changes
        replace = {}
        if self._reads_links():
            tables["deal_partners"] = links
            replace["deal_partners"] = ("deal_id", "association", sorted(kept))
        merged = _merged_ids(results)
        return Page(tables, warnings=warnings, rejects=bad.take(),
                    references=(self._partner_reference(), *self._link_references()),
                    deleted={"deals": merged} if merged else {}, replace=replace)

    def _link_references(self) -> tuple[Reference, ...]:
        """A labelled association's company must be a company synced as a partner (the deal's
        companies met through a link label are read as partners, so only a company the portal
        no longer has fails)."""
        if not self._reads_links():
            return ()
        return (Reference("deal_partners", "link_id", ("partner_id",), "partners",
                          "deal partner", "association label",
                          "is not a company of this portal synced as a partner (no such "
                          "company)", self.settings.on_bad_record, nullable=False),)

    # -- the association sweep -------------------------------------------------------------
    def _pull_association_sweep(self, watermark: str | None) -> Iterator[Page]:
        """Re-read the partner associations of the stored live deals
        (:mod:`connectors.hubspot.sweep`); one page with the deals whose partner changed, their
        new partners, and the slice's cursor as the watermark. Skipped (watermark "") when this
        run's deals stream read every deal (first sync, full refresh): it has just read every
        association."""
        size = self.settings.association_sweep_max_deals
        label = self.settings.partners.association_label
        if self._stored is None or size == 0 or not label or self.settings.partner_property:
            return
        if self._deals_read_all:
            yield Page({}, watermark="")
            return
        chosen = sweep.choose_slice(self._stored, watermark or None, size)
        results: dict[str, Any] = {}
        found = sweep.read_partners(self.client.deal_companies,
                                    [d for d, _ in chosen.pairs], label, results)
        changed = sweep.changed_partners(chosen.pairs, found)
        # the labelled links (deal_partners) of the swept deals, replaced whole: a label moved,
        # added or removed without the deal's hs_lastmodifieddate moving converges too
        links = [row for deal_id in sorted(found) for row in R.deal_partners_from_associations(
            results.get(deal_id) or {"from": {"id": deal_id}, "to": []}, self.settings)
        ] if self._reads_links() else []
        tables: dict[str, list[dict[str, Any]]] = {}
        new = self._new_partners({p for _, p in changed if p} | {r["partner_id"] for r in links})
        if new:
            tables["partners"] = new
        if changed:
            tables["deals"] = [{"source": R.SOURCE, "deal_id": d, "partner_id": p}
                               for d, p in changed]
        replace = {}
        if self._reads_links():
            tables["deal_partners"] = links
            replace["deal_partners"] = ("deal_id", "association", sorted(found))
        yield Page(tables, watermark=chosen.cursor or "",
                   references=(self._partner_reference(), *self._link_references()),
                   replace=replace)


def _merged_ids(records: list[dict[str, Any]]) -> list[str]:
    """The ids merged into these records (``hs_merged_object_ids``, ``;``-separated): they
    left lists and search without being archived."""
    return [m for r in records
            for m in ((r.get("properties") or {}).get("hs_merged_object_ids") or "").split(";")
            if m.strip()]


#: The HubSpot source as the registry (:mod:`connectors.registry`) reads it.
ADAPTER = Adapter(
    name="hubspot",
    settings=HubSpotSettings,
    connect=HubSpotConnector,
    writeback=HubSpotWriteback,
    pulled_fields=pulled_fields,
    secrets=True,
    demo=demo_settings,
    preflight=hubspot_preflight,
    creates_fields=True,
)
