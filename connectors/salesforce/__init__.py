"""The Salesforce source: incremental, crash-safe pull of deals, partners, owners, stages, stage
history, leads and currency rates over the REST API (Bulk API 2.0 for large windows).

How a stream is pulled (see ``README.md`` in this folder):

1. Log in (:mod:`.auth`), then ``describe`` every sObject the streams read: a configured field
   the org does not show stops the run with a one-line :class:`ConfigError` naming object and
   field, before any query.
2. ``queryAll`` ``WHERE key >= watermark - lookback ORDER BY key, Id`` (:mod:`.streams`); each API
   page becomes one :class:`~connectors.base.Page` whose watermark is the highest replication-key
   value read so far, capped at the moment the sync started. :func:`connectors.sync.run_sync`
   commits each page with its watermark in one transaction.
3. Deleted records (``IsDeleted = true``) are flagged deleted in the store.
4. When the first page's ``totalSize`` exceeds ``bulk_threshold``, the same SOQL runs through
   Bulk API 2.0 (``connectors.salesforce.bulk``) instead.
5. An expired session (401 ``INVALID_SESSION_ID``) or a lost cursor: log in again once and
   re-issue the query from the last committed watermark; the old ``nextRecordsUrl`` is never
   reused (case C-08).

REST query docs: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_queryall.htm
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from simple_salesforce import format_soql

from connectors.bad_records import BadRecords
from connectors.base import Adapter, CountCheck, Page, Stream
from connectors.errors import ConfigError, FatalAPIError
from connectors.http import RetryPolicy
from connectors.salesforce.calculated import CalculatedField, calculated_fields, refresh_due
from connectors.salesforce.client import ApiUsage, SalesforceClient
from connectors.salesforce.demo import demo_settings
from connectors.salesforce.http import QueryLocatorLost, SessionExpired
from connectors.salesforce.preflight import salesforce_preflight
from connectors.salesforce.push import SalesforcePusher
from connectors.salesforce.quotas import FORECASTING_OFF, periods_soql, quota_rows
from connectors.salesforce.rows import (
    RowContext,
    dated_rate_rows,
    deal_row,
    field_history_rows,
    flatten,
    history_row,
    is_deleted,
    junction_row,
    key,
    lead_row,
    opportunity_partner_row,
    owner_row,
    partner_change_row,
    partner_row,
    rate_rows,
    stage_row,
)
from connectors.salesforce.settings import SalesforceSettings, SalesforceWriteback, pulled_fields
from connectors.salesforce.streams import (
    StreamSpec,
    build_soql,
    deal_references,
    declare_streams,
    link_references,
)
from connectors.salesforce.versions import version_problems
from connectors.secrets import load_secrets_file
from connectors.values import format_instant, parse_instant

__all__ = ["ADAPTER", "SalesforceConnector", "SalesforceSettings"]

log = logging.getLogger(__name__)

#: The hard-delete sweep's stream, and the streams whose ids it checks.
SWEEP = "deleted_sweep"
_SWEPT = ("deals", "partners", "leads")
#: The stream re-reading streams with calculated or cross-object fields (:mod:`.calculated`).
REFRESH = "field_refresh"
#: Streams whose table keeps the replication key (``updated_at``): the completeness check.
_COUNTED = {"deals": "deals", "partners": "partners"}

_BUILDERS: dict[str, Callable[[Mapping[str, Any], RowContext], dict[str, Any] | None]] = {
    "deals": deal_row,
    "partners": partner_row,
    "owners": owner_row,
    "stages": stage_row,
    "stage_history": history_row,
    "leads": lead_row,
    "deal_partners": opportunity_partner_row,
    "partner_junction": junction_row,
    "partner_changes": partner_change_row,
}
#: The canonical table of a stream named otherwise.
_TABLES = {"partner_junction": "deal_partners"}
#: Streams whose rows never change once written (their deletes are not flagged).
_APPEND_ONLY = ("stage_history", "partner_changes")


class SalesforceConnector:
    """Pulls the configured streams from one Salesforce org.

    Args:
        settings: ``sources.salesforce``.
        reporting_currency: the KPI currency (deals of a single-currency org default to it unless
            ``settings.currency`` says otherwise; rates against it are stored too).
        policy: retry policy (default: ``settings.retry_attempts`` tries, real sleeps).
        now: the sync's start, UTC (default: now); no watermark is ever later.
        session: the HTTP session (default: one verifying TLS against ``settings.ca_bundle``).

    Attributes:
        api_usage: calls made by this run and the org's allowance (:class:`ApiUsage`).
        totals: stream -> ``totalSize`` of its last query.
    """

    source = "salesforce"
    atomic = False

    def __init__(
        self,
        settings: SalesforceSettings,
        reporting_currency: str,
        *,
        policy: RetryPolicy | None = None,
        now: datetime | None = None,
        session: Any = None,
    ) -> None:
        self.settings = settings
        self.reporting_currency = reporting_currency
        self.policy = policy or RetryPolicy(attempts=settings.retry_attempts)
        secrets = load_secrets_file(settings.secrets_file, "sources.salesforce.secrets_file")
        self.client = SalesforceClient(
            settings, policy=self.policy, secrets=secrets, session=session
        )
        self.started_at = (now or datetime.now(UTC)).astimezone(UTC)
        self._specs = {spec.name: spec for spec in declare_streams(settings)}
        self._references = {"deals": deal_references(settings),
                             "deal_partners": link_references(settings, "deal_partners"),
                             "partner_junction": link_references(settings, "partner_junction")}
        self._ready: dict[str, StreamSpec] | None = None
        self.multi_currency = False
        self.forecasting = True
        self.totals: dict[str, int] = {}
        self.calculated: dict[str, list[CalculatedField]] = {}
        self._noted = False
        self._describes: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def api_calls(self) -> int:
        """Requests this run sent to the org's ``/services/data`` API (retries included)."""
        return self.client.usage.calls

    @property
    def api_allowance_left(self) -> int | None:
        """Calls left in the org's daily allowance (last ``Sforce-Limit-Info``), or None."""
        return self.client.usage.left

    @property
    def api_usage(self) -> ApiUsage:
        """API calls of this run and the org's daily allowance (from ``Sforce-Limit-Info``)."""
        return self.client.usage

    def pusher(self, writeback: SalesforceWriteback) -> SalesforcePusher:
        """The push side for ``writeback.salesforce``, sharing this connector's client (one
        login, one session, one count of API calls)."""
        return SalesforcePusher(self.settings, writeback, client=self.client)

    def streams(self) -> Sequence[Stream]:
        """The selected streams, in pull order (rates and stages first, deals before history),
        then the hard-delete sweep when ``sweep_interval_days`` > 0."""
        streams = [spec.stream for spec in self._specs.values()]
        if self.settings.calculated_refresh_hours:
            streams.append(Stream(REFRESH, "(streams with calculated fields)", "Id"))
        if self.settings.sweep_interval_days and set(_SWEPT) & set(self._specs):
            streams.append(Stream(SWEEP, "Opportunity, Account, Lead", "Id"))
        return streams

    # -- preparation: describe and check the configured fields ------------------------------------
    def _prepare(self) -> dict[str, StreamSpec]:
        return self.prepare(("sync",))

    def prepare(self, purposes: Sequence[str] = ("sync",)) -> dict[str, StreamSpec]:
        """Log in, check the API version for ``purposes`` (:mod:`.versions`) and every
        configured field against ``describe`` (read once per sObject and kept); the streams
        ready to pull. Nothing is read but metadata.

        Raises:
            ConfigError: every problem found, one line each (a version the org does not offer
                stops the checks: nothing else can be asked).
            AuthError: the login was refused.
        """
        if self._ready is not None:
            return self._ready
        offered = self.client.versions()
        problems = version_problems(self.settings.api_version, offered, purposes)
        if self.settings.api_version not in offered:
            raise ConfigError(problems)
        describes = self._describes

        def fields_of(sobject: str) -> dict[str, dict[str, Any]]:
            if sobject not in describes:
                body = self.client.describe(sobject)
                describes[sobject] = {f["name"].lower(): f for f in body.get("fields", [])}
            return describes[sobject]

        try:
            if {"deals", "currency_rates"} & set(self._specs):
                self.multi_currency = "currencyisocode" in fields_of("Opportunity")
        except ConfigError as exc:
            raise ConfigError([*problems, *exc.problems]) from None
        ready = {}
        for name, spec in self._specs.items():
            if name == "currency_rates" and not self.multi_currency:
                continue
            if name == "targets":
                try:
                    quota_fields = fields_of(spec.sobject)
                except ConfigError:
                    self.forecasting = False  # no Collaborative Forecasts: a note, no failure
                    continue
                if "currencyisocode" in quota_fields:  # a multi-currency org
                    spec = spec.with_fields("CurrencyIsoCode")
            settings_of = dict(spec.settings_of)
            for path in spec.fields:
                try:
                    problem = self._check_path(spec.sobject, path, fields_of)
                except ConfigError as exc:
                    problems.extend(p for p in exc.problems if p not in problems)
                    break
                if problem:
                    setting = next((s for s, v in settings_of.items() if v == path), None)
                    where = f" (set by sources.salesforce.{setting})" if setting else ""
                    problems.append(f"salesforce: {problem}{where}; check the API name in Setup, "
                                    "and field-level security on the integration user's profile "
                                    "or permission set (an admin sees the field, the API user "
                                    "does not)")
            ready[name] = (
                spec.with_fields("CurrencyIsoCode")
                if (name == "deals" and self.multi_currency)
                else spec
            )
        if problems:
            raise ConfigError(problems)
        for name, spec in ready.items():
            found = calculated_fields(spec.sobject, spec.fields, fields_of)
            if found:
                self.calculated[name] = found
        self._ready = ready
        return ready

    def _calculated_note(self) -> dict[str, str]:
        """The source note naming every calculated or cross-object field once."""
        if not self.calculated:
            return {}
        named = ", ".join(f.describe() for fields in self.calculated.values() for f in fields)
        hours = self.settings.calculated_refresh_hours
        rule = (f"the streams {', '.join(self.calculated)} are re-read whole every {hours:g} h"
                if hours else "they are never re-read (calculated_refresh_hours is 0): their "
                "values can be stale until sync --full-refresh")
        return {"calculated_fields": (
            f"salesforce: {named} can change without the record's SystemModstamp; {rule} "
            "(sources.salesforce.calculated_refresh_hours)")}

    @staticmethod
    def _check_path(
        sobject: str, path: str, fields_of: Callable[[str], dict[str, dict[str, Any]]]
    ) -> str | None:
        """None when ``path`` (``Field`` or ``Rel.Rel.Field``) exists from ``sobject``."""
        current = sobject
        *relations, last = path.split(".")
        for rel in relations:
            fields = fields_of(current)
            ref = next(
                (
                    f
                    for f in fields.values()
                    if (f.get("relationshipName") or "").lower() == rel.lower()
                ),
                None,
            )
            if ref is None or not ref.get("referenceTo"):
                return f"{current} has no relationship {rel} (in {path})"
            current = ref["referenceTo"][0]
        if last.lower() not in fields_of(current):
            return f"{current} has no field {last}" + (f" (in {path})" if relations else "")
        return None

    # -- pulling ---------------------------------------------------------------------------------
    def _context(self) -> RowContext:
        s = self.settings
        return RowContext(
            partner_field=s.partner_field,
            lead_partner_field=s.lead_partner_field,
            team_field=s.owner_team_field,
            unit_field=s.owner_unit_field,
            tier_field=s.partner_tier_field,
            default_currency=s.currency or self.reporting_currency,
            junction=s.partner_junction,
            bad=BadRecords(s.on_bad_record),
        )

    def pull(
        self, stream: Stream, watermark: str | None, state: Mapping[str, str | None]
    ) -> Iterator[Page]:
        """Yield the pages of ``stream`` changed since ``watermark`` (None: everything).

        Raises:
            ConfigError: a configured field or object the org does not show.
            AuthError: the login failed, or the session expired again right after a new login.
            LimitReachedError: the daily API allowance (or its configured share) is used.
            FatalAPIError: a malformed answer (e.g. ``done: false`` without ``nextRecordsUrl``).
            RetriableAPIError: a request kept failing after its retries.
        """
        if stream.name == SWEEP:
            yield from self._sweep(watermark)
            return
        if stream.name == REFRESH:
            yield from self._refresh(watermark)
            return
        spec = self._prepare().get(stream.name)
        if not self._noted:
            self._noted = True
            note = self._calculated_note()
            if not self.multi_currency and "deals" in self._specs:
                currency = self.settings.currency or self.reporting_currency
                note["currency_rule"] = (f"salesforce: single-currency org: amounts are in "
                                         f"{currency} (sources.salesforce.currency)")
            if note:
                yield Page({}, notes=note)
        if spec is None:
            if stream.name == "targets" and not self.forecasting:
                yield Page({}, warnings=[FORECASTING_OFF])
            return
        ctx = self._context()
        if spec.name == "targets":
            yield self._quotas(spec, ctx)
            return
        if spec.replication_key is None:
            yield from self._snapshot(spec, ctx)
            return
        lookback = timedelta(seconds=self.settings.lookback_seconds)
        committed = parse_instant(watermark) if watermark else None
        repair = state.get(f"repair_from:{stream.name}")
        since = committed
        if repair and since is not None:
            since = min(since, parse_instant(repair) or since)
            log.warning("salesforce %s: re-reading from %s (the last completeness check "
                        "failed)", spec.name, repair)
        window_start = since - lookback if since else None
        restarted = False
        read_top: datetime | None = None  # the highest stamp read by this pull
        while True:
            soql = build_soql(spec, since - lookback if since else None)
            try:
                for page in self._pages(spec, soql, ctx):
                    stamp = parse_instant(page.watermark) if page.watermark else None
                    if stamp is not None:
                        top = min(stamp, self.started_at)
                        read_top = max(read_top, top) if read_top else top
                        committed = max(committed, top) if committed else top
                        page.watermark = format_instant(committed)
                    elif committed is not None:
                        page.watermark = format_instant(committed)
                    yield page
                    restarted = False
                break
            except (SessionExpired, QueryLocatorLost) as exc:
                if restarted:
                    raise
                restarted = True
                log.warning(
                    "salesforce %s: %s; logging in again and re-reading from %s",
                    spec.name,
                    exc,
                    committed,
                )
                if isinstance(exc, SessionExpired):
                    self.client.connect()
                since = read_top or since  # ordered by the stamp: what was read is committed
        if spec.name == "partners" and spec.where and window_start is not None:
            yield self._no_longer_partners(spec, window_start)
        if self.settings.count_check and spec.name in _COUNTED:
            yield self._count_page(spec, window_start)

    def _no_longer_partners(self, spec: StreamSpec, window_start: datetime) -> Page:
        """Accounts changed in the window that no longer match ``partner_filter`` (``IsPartner``
        turned off, ``Type`` changed): the incremental partner query cannot return them, so
        their ids are read (``SELECT Id ... WHERE NOT (filter)``, one call per 2,000 changed
        Accounts) and the stored partners among them flagged; their deals count unattributed."""
        soql = (f"SELECT Id FROM {spec.sobject} WHERE NOT ({spec.where}) AND "
                + format_soql("SystemModstamp >= {}", window_start))
        what = f"query {spec.sobject} (no longer partners)"
        ids = [str(r["Id"]) for r in self.client.query_records(soql, what)]
        return Page({}, deleted={"partners": ids})

    def _count_page(self, spec: StreamSpec, window_start: datetime | None) -> Page:
        """The CRM's count of live records in the window the pull read (one ``query`` call:
        ``SELECT COUNT()``, recycle bin excluded), for the completeness check."""
        conditions = [f"({spec.where})"] if spec.where else []
        key_field = spec.replication_key or "SystemModstamp"
        if window_start is not None:
            conditions.append(format_soql(key_field + " >= {}", window_start))
        conditions.append(format_soql(key_field + " < {}", self.started_at))
        soql = f"SELECT COUNT() FROM {spec.sobject} WHERE " + " AND ".join(conditions)
        body = self.client.call(f"count {spec.sobject}", lambda sf: sf.query(soql))
        crm_count = int((body or {}).get("totalSize") or 0)
        check = CountCheck(_COUNTED[spec.name], crm_count, window_start, self.started_at)
        return Page({}, counts=[check])

    def _refresh(self, watermark: str | None) -> Iterator[Page]:
        """Re-read whole every stream holding a calculated or cross-object field, every
        ``calculated_refresh_hours`` (:mod:`.calculated`). The first sync only starts the clock:
        it has just read everything. Each page keeps the refresh's watermark unchanged until the
        last one, so a crash re-runs the whole refresh next time."""
        now = format_instant(self.started_at)
        if watermark is None:
            yield Page({}, watermark=now)
            return
        every = timedelta(hours=self.settings.calculated_refresh_hours)
        if not refresh_due(parse_instant(watermark), self.started_at, every):
            return
        ready = self._prepare()
        ctx = self._context()
        for name in self.calculated:
            spec = ready[name]
            log.info("salesforce %s: re-reading every record (calculated fields)", name)
            for attempt in (1, 2):  # a lost session or cursor: log in again, read it again
                try:
                    for page in self._pages(spec, build_soql(spec, None), ctx):
                        page.watermark = None
                        yield page
                    break
                except (SessionExpired, QueryLocatorLost) as exc:
                    if attempt == 2:
                        raise
                    if isinstance(exc, SessionExpired):
                        self.client.relogin(f"refresh {name}")
        yield Page({}, watermark=now)
    def _sweep(self, watermark: str | None) -> Iterator[Page]:
        """The periodic hard-delete sweep: records purged from the recycle bin (or hard-deleted)
        never come back, even through ``queryAll``. Every ``sweep_interval_days`` the full id
        list of each swept object (``queryAll``: recycle bin included; partners through the
        partner filter) goes to the store, which flags the stored ids missing from it.

        The first sync only starts the clock: it has just read everything.
        """
        from connectors.salesforce.sweep import sweep_due

        now = format_instant(self.started_at)
        every = timedelta(days=self.settings.sweep_interval_days)
        if watermark is None:
            yield Page({}, watermark=now)
            return
        if not sweep_due(parse_instant(watermark), self.started_at, every):
            return
        ready = self._prepare()
        keep: dict[str, list[str]] = {}
        for name in _SWEPT:
            spec = ready.get(name)
            if spec is None:
                continue
            soql = build_soql(replace(spec, fields=("Id",), replication_key=None), None)
            records = self.client.query_records(soql, f"sweep {spec.sobject}")
            keep[name] = [str(r["Id"]) for r in records]
        yield Page({}, watermark=now, keep_ids=keep)

    def _snapshot(self, spec: StreamSpec, ctx: RowContext) -> Iterator[Page]:
        """The whole of a small object (currency rates) as one page."""
        records: list[Mapping[str, Any]] = list(
            self.client.query_records(build_soql(spec, None), f"query {spec.sobject}"))
        self.totals[spec.name] = len(records)
        rows = rate_rows(records, self.reporting_currency, ctx)
        dated = self._dated_rates()
        rows += dated_rate_rows(dated, rows, self.reporting_currency, ctx)
        if dated:
            rule = (f"salesforce: amounts convert at the DatedConversionRate in force on each "
                    f"deal's close date (advanced currency management, {len(dated)} dated "
                    "rates; CurrencyType's rate before a currency's first dated rate)")
        else:
            rule = ("salesforce: amounts convert at the org's CurrencyType rates (static: the "
                    "org has no DatedConversionRate)")
        yield Page({spec.name: rows}, warnings=list(ctx.warnings), rejects=ctx.bad.take(),
                   notes={"currency_rule": rule})

    def _dated_rates(self) -> list[Mapping[str, Any]]:
        """Every DatedConversionRate record (advanced currency management), or none when the
        org does not offer the object (400 ``INVALID_TYPE``: ACM off). One query."""
        soql = ("SELECT Id, IsoCode, ConversionRate, StartDate, NextStartDate FROM "
                "DatedConversionRate ORDER BY IsoCode, StartDate")
        try:
            records: list[Mapping[str, Any]] = list(
                self.client.query_records(soql, "query DatedConversionRate"))
        except FatalAPIError as exc:
            if exc.status == 400 and exc.error_code == "INVALID_TYPE":
                return []
            raise
        return records

    def _quotas(self, spec: StreamSpec, ctx: RowContext) -> Page:
        """Every quota with its forecast period as one page (``quotas.py``); quotas gone from
        the org are flagged deleted."""
        quotas: list[Mapping[str, Any]] = []
        for body in self.client.query_pages(build_soql(spec, None), f"query {spec.sobject}"):
            quotas.extend(body.get("records") or [])
        periods: dict[str, Mapping[str, Any]] = {}
        ids = [str(q["PeriodId"]) for q in quotas if q.get("PeriodId")]
        if ids:
            for body in self.client.query_pages(periods_soql(ids), "query Period"):
                periods.update({str(p["Id"]): p for p in body.get("records") or []})
        self.totals[spec.name] = len(quotas)
        rows, notes = quota_rows(quotas, periods, ctx.default_currency)
        return Page({"targets": rows}, keep_ids={"targets": [str(q["Id"]) for q in quotas]},
                    warnings=notes)

    def _pages(self, spec: StreamSpec, soql: str, ctx: RowContext) -> Iterator[Page]:
        """One Page per API page (watermark = the page's highest replication-key value)."""
        what = f"query {spec.sobject}"
        count = total = 0
        for n, body in enumerate(self.client.query_pages(soql, what)):
            if n == 0:
                total = int(body.get("totalSize") or 0)
                self.totals[spec.name] = total
                if total > self.settings.bulk_threshold and self._bulk_available():
                    log.info(
                        "salesforce %s: %d records: reading through Bulk API 2.0", spec.name, total
                    )
                    yield from self._bulk_pages(spec, soql, ctx)
                    return
            records = body.get("records") or []
            count += len(records)
            if records:
                yield self._page(spec, records, ctx)
        if count != total:
            note = (
                f"salesforce {spec.name}: read {count} records but the query's totalSize "
                f"was {total}"
            )
            log.warning(note)
            yield Page({}, warnings=[note])
        else:
            log.info("salesforce %s: read %d records (totalSize %d)", spec.name, count, total)

    @staticmethod
    def _bulk_available() -> bool:
        try:
            from connectors.salesforce import bulk  # noqa: F401
        except ImportError:
            log.warning("salesforce: Bulk API path not available; reading through REST pages")
            return False
        return True

    def _bulk_pages(self, spec: StreamSpec, soql: str, ctx: RowContext) -> Iterator[Page]:
        from connectors.salesforce.bulk import bulk_query

        for records in bulk_query(
            self.client.session,
            self.client.instance_url,
            self.settings.api_version,
            soql,
            policy=self.policy,
            sleep=self.policy.sleep,
            timeout=self.settings.timeout_seconds,
        ):
            if records:
                yield self._page(spec, records, ctx)
            self.client.check_allowance()

    def _page(
        self, spec: StreamSpec, records: Sequence[Mapping[str, Any]], ctx: RowContext
    ) -> Page:
        assert spec.replication_key is not None
        stamp_key = key(spec.replication_key)
        build = _BUILDERS[spec.name]
        rows, deleted = [], []
        fields: list[dict[str, Any]] = []  # deal_history, from OpportunityHistory rows
        top: datetime | None = None
        for record in records:
            flat = flatten(record)
            stamp = parse_instant(flat.get(stamp_key))
            if stamp is not None and (top is None or stamp > top):
                top = stamp
            if spec.deletable and is_deleted(flat):
                deleted.append(str(flat["id"]))
                continue
            before = len(ctx.bad.rejects)
            row = build(flat, ctx)
            versions = field_history_rows(flat, ctx) if spec.name == "stage_history" else []
            if row is not None and not ctx.bad.skips(before):
                rows.append(row)
                fields += versions
        warnings = list(ctx.warnings)
        ctx.warnings.clear()
        table = _TABLES.get(spec.name, spec.name)
        gone = {table: deleted} if deleted and spec.name not in _APPEND_ONLY else {}
        tables = {table: rows, **({"deal_history": fields} if fields else {})}
        return Page(
            tables,
            watermark=format_instant(top) if top else None,
            deleted=gone,
            warnings=warnings,
            rejects=ctx.bad.take(),
            references=self._references.get(spec.name, ()),
        )


#: The Salesforce source as the registry (:mod:`connectors.registry`) reads it.
ADAPTER = Adapter(
    name="salesforce",
    settings=SalesforceSettings,
    connect=SalesforceConnector,
    writeback=SalesforceWriteback,
    pulled_fields=pulled_fields,
    secrets=True,
    demo=demo_settings,
    preflight=salesforce_preflight,
)
