"""The HubSpot source: deals, partner companies, owners, pipelines' stages and stage history.

Streams, in pull order (see :mod:`connectors.hubspot.streams` and ``README.md`` here):

- ``stages``: ``GET /crm/v3/pipelines/deals``; won/lost from each stage's metadata (C-12).
- ``owners``: ``GET /crm/v3/owners`` with and without ``archived=true`` (C-13).
- ``partners``: companies matching the property rule (default ``type`` in PARTNER, RESELLER).
- ``currency_rates``: the configured rates.
- ``deals``: incremental keyset search on ``hs_lastmodifieddate`` from watermark - lookback;
  each page carries the deals, their ``stage_history`` (batch read with
  ``propertiesWithHistory=dealstage``, only for the deals of the page; a first sync reads the
  list endpoint with the history in its pages instead) and any partner company
  met through the association label, and commits with its watermark. The watermark is never
  later than the sync's start (C-02).
- ``archived_deals``: ``GET /crm/v3/objects/deals?archived=true`` every run; those deals are
  flagged deleted (archiving leaves ``hs_lastmodifieddate`` alone: C-06).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.bad_records import BadRecords
from connectors.base import Adapter, Page, Reference, Stream
from connectors.errors import ConfigError
from connectors.http import RetryPolicy
from connectors.hubspot import rows as R
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.completeness import deal_count_page, repair_watermark
from connectors.hubspot.demo import demo_settings
from connectors.hubspot.preflight import hubspot_preflight
from connectors.hubspot.push import HubSpotPusher
from connectors.hubspot.settings import HubSpotSettings, HubSpotWriteback, pulled_fields
from connectors.hubspot.streams import STREAMS, chunks, cursor_pages, search_deal_pages
from connectors.paging import paginate
from connectors.values import format_instant, parse_instant

__all__ = ["ADAPTER", "HubSpotConnector", "HubSpotSettings"]

BATCH = 100  # batch read / associations inputs per call
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
        self._reset()

    def _reset(self) -> None:
        self.started: datetime = self._now()
        self._count_window: datetime | None = None  # the deals window read (completeness)
        self.ctx: R.Context | None = None
        self._stages: list[dict[str, Any]] | None = None
        self._owner_ids: set[str] = set()
        self._known_partners: set[str] = set()

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
        """stages, owners, partners, currency_rates, deals, archived_deals."""
        return STREAMS

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
        if not rule.company_property:
            return
        props = [rule.name_property, "type", "hs_lastmodifieddate",
                 *([rule.tier_property] if rule.tier_property else [])]

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
            if rows:
                yield Page({"partners": rows})

    def _pull_currency_rates(self, watermark: str | None) -> Iterator[Page]:
        yield Page({"currency_rates": R.rate_rows(self.settings.currency_rates,
                                                  self.reporting_currency)})

    def _pull_deals(self, watermark: str | None) -> Iterator[Page]:
        ctx = self._context()
        stored = parse_instant(watermark) if watermark else None
        lower = stored - timedelta(minutes=self.settings.lookback_minutes) if stored else None
        properties = self.settings.properties()
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
        Each page asks for the stage history too (``propertiesWithHistory=dealstage``, 50 deals
        a page): one call per 50 deals instead of a list call per 100 plus a batch read per 50."""
        def fetch(after: str | None) -> dict[str, Any]:
            return self.client.list_deals(archived=False, after=after, properties=properties,
                                          limit=min(self.settings.page_size, HISTORY_BATCH),
                                          history=["dealstage"])

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

    def _partner_ids(self, results: list[dict[str, Any]]) -> dict[str, str | None]:
        """Deal id -> partner company id, from the partner property or the association label."""
        prop = self.settings.partner_property
        if prop:
            return {str(d["id"]): ((d.get("properties") or {}).get(prop) or None) for d in results}
        label = self.settings.partners.association_label
        found: dict[str, str | None] = {str(d["id"]): None for d in results}
        if not label:
            return found
        for ids in chunks(list(found), BATCH):
            for result in self.client.deal_companies(ids).get("results") or []:
                found[str(result["from"]["id"])] = R.partner_from_associations(result, label)
        return found

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
        """Partner rows for companies met through deals but not read by the partners stream."""
        rule = self.settings.partners
        missing = sorted(ids - self._known_partners)
        props = [rule.name_property, "type", "hs_lastmodifieddate",
                 *([rule.tier_property] if rule.tier_property else [])]
        rows = []
        for chunk in chunks(missing, BATCH):
            results = self.client.read_companies(chunk, props).get("results") or []
            rows += [R.partner_row(c, rule.name_property, rule.tier_property) for c in results]
        self._known_partners.update(missing)
        return rows

    def _deal_page(self, results: list[dict[str, Any]], ctx: R.Context) -> Page:
        warnings: list[str] = []
        bad = BadRecords(self.settings.on_bad_record)
        partners = self._partner_ids(results)
        built = (R.deal_row(d, ctx, partners[str(d["id"])], warnings, bad) for d in results)
        deals = [row for row in built if row is not None]
        history: list[dict[str, Any]] = []
        kept = {r["deal_id"] for r in deals}
        listed = [d for d in results if "propertiesWithHistory" in d and str(d["id"]) in kept]
        for deal in listed:  # read with the list page (first sync)
            history += R.history_rows(deal)
        unread = kept - {str(d["id"]) for d in listed}
        for ids in chunks([r["deal_id"] for r in deals if r["deal_id"] in unread], HISTORY_BATCH):
            read = self.client.read_deals(ids, ["hs_object_id"], ["dealstage"])
            for deal in read.get("results") or []:
                history += R.history_rows(deal)
        tables: dict[str, list[dict[str, Any]]] = {}
        new = self._new_partners({r["partner_id"] for r in deals if r["partner_id"]})
        if new:
            tables["partners"] = new
        tables["deals"] = deals
        if history:
            tables["stage_history"] = history
        return Page(tables, warnings=warnings, rejects=bad.take(),
                    references=(self._partner_reference(),))


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
