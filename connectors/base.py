"""The connectors' one vocabulary: streams, pages, the connector, the push types, the adapter.

A connector pulls a :class:`Stream` from a watermark and yields :class:`Page` objects; the sync loop
(:mod:`connectors.sync`) commits each page and its new watermark in one transaction. A CRM's
connector also hands out a :class:`Pusher` (sharing its client) that the push loop
(:mod:`connectors.writeback`) sends :class:`RecordUpdate` batches through. Each CRM folder exports
one :class:`Adapter`; :mod:`connectors.registry` lists them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


@dataclass(frozen=True)
class Stream:
    """One kind of record pulled from a CRM.

    Attributes:
        name: our stream name (``deals``, ``partners``, ``owners``, ``stages``,
            ``stage_history``, ``leads``, ``currency_rates``).
        crm_object: the CRM's object (``Opportunity``, ``deals``, a file path, ...).
        primary_key: the CRM's id field.
        replication_key: the CRM field the watermark follows (``SystemModstamp``,
            ``hs_lastmodifieddate``); ``None`` for streams re-read whole each run.
        fields: the CRM fields asked for.
    """

    name: str
    crm_object: str
    primary_key: str
    replication_key: str | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reject:
    """A record skipped because one of its values cannot be read (``on_bad_record: reject``).

    Attributes:
        record_id: the CRM record id.
        field: the CRM field / property name.
        value: the raw value as sent (``None`` when the CRM sent none).
        reason: one line saying what is wrong (``'n/a' is not a number``).
    """

    record_id: str
    field: str
    value: str | None
    reason: str


@dataclass(frozen=True)
class Reference:
    """Columns of a page's rows that must name a record of another table of the same source.

    The sync loop checks it in the page's transaction
    (:func:`connectors.bad_records.check_references`): a value is known when the store holds that
    record for this source (synced by this run or an earlier one; flagged deleted or not) or the
    page itself carries it. NULL is not checked.

    Attributes:
        table: the rows checked (``deals``).
        id_column: their id column (``deal_id``), for the reject.
        columns: the columns holding the reference (``("partner_id",)``,
            ``("pipeline", "stage")``), named as in ``target``.
        target: the table referred to (``partners``, ``stages``).
        what: the kind of record, for the reject (``deal``).
        field: the CRM field / property the reference was read from (``PartnerAccountId``).
        reason: what an unknown value means, one line (``is not a partner Account ...``).
        policy: the source's ``on_bad_record`` (``keep``, ``reject`` or ``stop``).
        nullable: under ``keep``, whether the record is kept with the reference NULL (a partner:
            the deal counts unattributed) or left out (a stage: won / closed would be a guess).
        where: record id -> where the record was read (``deals.csv:3``), put before the reason
            and, under ``stop``, before the error (a file import; empty for the CRMs).
    """

    table: str
    id_column: str
    columns: tuple[str, ...]
    target: str
    what: str
    field: str
    reason: str
    policy: str = "keep"
    nullable: bool = True
    where: Mapping[str, str] = dataclasses.field(default_factory=dict)  # `field` is taken


@dataclass(frozen=True)
class SnapshotGuard:
    """The plausibility check of a full snapshot (a CSV import): the page is refused, and
    nothing of the run written, when its ``keep_ids`` would flag more than ``max_share`` of a
    table's live rows deleted (a truncated export).

    Attributes:
        max_share: ratio 0..1 of the live rows (stored before the page) that may be flagged;
            1 lets any share through.
        name: the snapshot, named in the refusal (``deals.csv``).
        setting: the setting holding ``max_share``, named in the refusal.
        override: how to let a real mass deletion through, named in the refusal.
    """

    max_share: float
    name: str
    setting: str
    override: str


@dataclass(frozen=True)
class CountCheck:
    """The CRM's own count of a stream's live records over a window, for the completeness
    check the sync loop runs after the stream (the store's count over the same window).

    Attributes:
        table: the canonical table the stream fills (``deals``); it has ``updated_at`` (the
            replication key's value) and ``is_deleted``.
        crm_count: live records the CRM counts with the replication key in the window and the
            stream's filter (Salesforce ``SELECT COUNT()``, HubSpot search ``total``).
        window_start: the window's first instant, UTC (None: from the beginning).
        window_end: the first instant after the window, UTC (the run's start).
        stream: the stream the check is about, when another stream's pull carries it (HubSpot
            counts deals after ``archived_deals``); None: the stream being pulled.
    """

    table: str
    crm_count: int
    window_start: datetime | None
    window_end: datetime
    stream: str | None = None


@dataclass
class Page:
    """One page of canonical rows and where the stream stands after it.

    Attributes:
        tables: canonical table -> rows (dicts of column -> value).
        watermark: the stream's watermark once this page is committed (``None``: unchanged).
        deleted: table -> ids the CRM reports deleted.
        keep_ids: table -> every id the source still has (a hard-delete sweep, a full-snapshot
            file): stored rows of this source missing from it are flagged deleted, unless that
            would flag more than ``snapshot_guard.max_share`` of the live rows (without a guard:
            half of them); then the page is refused as implausible.
        snapshot_guard: the share, and how the refusal names the snapshot and its override.
        warnings: one-line notes about records kept with a NULL (e.g. an unknown created date).
        rejects: records left out of ``tables`` because a value cannot be read; the sync loop
            writes them to the ``rejects`` table in the page's transaction.
        references: checks the sync loop runs on ``tables`` against the store before writing
            them (a deal's partner, a Salesforce deal's stage); unknown values become rejects.
        replace: table -> (parent column, origin, parent ids): the page carries the whole set
            of that origin's rows of these parents (the partner links of the page's deals:
            ``("deal_id", "association", [...])``); stored rows missing from it are flagged
            deleted.
        notes: topic -> one line the source says about itself (``currency_rule``,
            ``calculated_fields``); kept in ``source_notes``, shown when new or changed.
        counts: the CRM's counts for the completeness check (:class:`CountCheck`), run after
            the page is written.
    """

    tables: dict[str, list[dict[str, Any]]]
    watermark: str | None = None
    deleted: dict[str, list[str]] = field(default_factory=dict)
    keep_ids: dict[str, list[str]] = field(default_factory=dict)
    snapshot_guard: SnapshotGuard | None = None
    warnings: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    references: tuple[Reference, ...] = ()
    replace: dict[str, tuple[str, str, list[str]]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    counts: list[CountCheck] = field(default_factory=list)


class StoredRecords(Protocol):
    """A read-only look at the rows the store holds for one source, handed by the sync loop
    to a connector that asks for it (``bind_store``): a sweep that re-reads what is stored
    (the HubSpot association sweep, the partner check) reads its ids here. A CRM folder never
    opens the store itself.
    """

    def rows(
        self,
        table: str,
        columns: Sequence[str],
        *,
        deleted: bool | None = False,
        after: str | None = None,
        limit: int | None = None,
        where_in: tuple[str, Sequence[str]] | None = None,
    ) -> list[tuple[Any, ...]]:
        """``columns`` of the source's rows of ``table``, in the order of its id column.

        Args:
            table: a canonical table with ``is_deleted`` (``deals``, ``partners``).
            columns: the columns returned, in this order.
            deleted: False: live rows only; True: flagged rows only; None: both.
            after: only rows whose id (compared as text) is greater.
            limit: at most this many rows.
            where_in: ``(column, values)``: only rows whose column holds one of the values.
        """
        ...

    def count(self, table: str) -> int:
        """How many live rows of the source ``table`` holds."""
        ...


class Connector(Protocol):
    """A CRM adapter. ``source`` is the value of the ``source`` column of its rows."""

    source: str
    #: True when all pages of a run must commit together (a file import: all or nothing).
    atomic: bool

    def streams(self) -> Sequence[Stream]:
        """The streams this connector pulls, in pull order."""
        ...

    def pull(
        self, stream: Stream, watermark: str | None, state: Mapping[str, str | None]
    ) -> Iterator[Page]:
        """Yield the pages of ``stream`` changed since ``watermark`` (``None``: everything).

        ``state`` holds the watermarks of all streams of this source (read-only), and under
        ``repair_from:<stream>`` the start of a window whose completeness check failed last
        run (ISO-8601 UTC): the stream is re-read from there.
        """
        ...


@dataclass(frozen=True)
class FieldInfo:
    """A target field as the CRM describes it.

    Attributes:
        name: the field's exact API / internal name.
        type: the CRM's type (``percent``, ``currency``, ``double``, ``int``; ``number``).
        updateable: the integration user may write it.
        custom: a custom field (Salesforce ``__c``; HubSpot not ``hubspotDefined``).
        numeric: it holds numbers.
        percent: it holds percentages 0..100 (Salesforce ``percent``).
        scale: decimal places kept (None: any).
        kind: what it holds, in the push loop's words: ``number``, ``text``, ``date``,
            ``datetime`` or ``other`` (decides which field may carry ``kpi_period`` /
            ``kpi_as_of``).
    """

    name: str
    type: str
    updateable: bool
    custom: bool
    numeric: bool
    percent: bool = False
    scale: int | None = None
    kind: str = "number"


#: A value written to a CRM field: a number (KPIs), a text (``kpi_period``), a day
#: (``kpi_as_of``), or None (clear the field).
FieldValue = Decimal | str | date | None


@dataclass
class RecordUpdate:
    """The changed fields of one record: field -> value as the field holds it (None: clear)."""

    record_id: str
    values: dict[str, FieldValue]


@dataclass
class RecordResult:
    """The CRM's answer for one record of a batch."""

    record_id: str
    ok: bool
    error_code: str | None = None
    message: str | None = None


class Pusher(Protocol):
    """The push side of a CRM (``connectors/<crm>/push.py``), sharing its connector's client."""

    @property
    def source(self) -> str:
        """The CRM's name (the ``source`` of its rows)."""
        ...

    @property
    def crm_object(self) -> str:
        """The object written (``Account``, ``companies``)."""
        ...

    @property
    def write_calls(self) -> int:
        """Write requests sent so far (retries included)."""
        ...

    def describe_fields(self) -> dict[str, FieldInfo]:
        """Every field of the target object, keyed by lower-cased name."""
        ...

    def missing_field_hint(self, kpi: str, name: str) -> str:
        """How to create a missing field (appended to the error)."""
        ...

    def create_field(self, kpi: str, name: str, group: str) -> FieldInfo:
        """Create a missing numeric field (HubSpot); raise ConfigError where not possible."""
        ...

    def push(self, batch: Sequence[RecordUpdate]) -> list[RecordResult]:
        """Send one batch in one write call (retried as the pulls are).

        Returns:
            One result per input record, in input order.
        """
        ...

    @property
    def read_calls(self) -> int:
        """Requests sent so far to read the target fields' current values (retries included)."""
        ...

    def read_values(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The CRM's current values of ``fields`` on ``record_ids``, in as few calls as the API
        allows (Salesforce: 2,000 records a call; HubSpot: 100).

        Returns:
            record id -> field (as given) -> the value as the CRM sends it (a number as
            ``Decimal`` or text, ``None`` when empty); records the CRM does not find are absent.
        """
        ...


#: How a field is written: ``overwrite`` (keep the CRM's value equal to the KPI, rewriting a
#: value a person edited), ``if_empty`` (write only into an empty field: a person's value
#: stays), ``never`` (planned and shown, never written).
Policy = Literal["overwrite", "if_empty", "never"]


class FieldOptions(BaseModel):
    """One KPI's field written with options: ``win_rate: {field: X, policy: if_empty}``.

    Attributes:
        field: the CRM field written.
        policy: see :data:`Policy` (default: ``writeback.<crm>.policy``).
        scale: decimal places written (rounded half up); default: the field's own scale where
            the CRM describes one (Salesforce), else 0 for counts and 2 for everything else.
        percent: write ratio KPIs (0..1) x100; default: the field's type says (Salesforce
            ``percent``); HubSpot number properties have no percent type, so ``true`` here.
    """

    model_config = ConfigDict(extra="forbid")

    field: str
    policy: Policy | None = None
    scale: int | None = Field(default=None, ge=0, le=10)
    percent: bool | None = None


class WritebackTarget(BaseModel):
    """``writeback.<crm>``: what every CRM's write-back settings have (each CRM adds its own).

    Attributes:
        grain: the grain of the period written (``month``, ``quarter``, ``year``).
        period: ``latest_complete`` (the latest period of ``grain`` that ended on or before
            today and was computed to its end) or ``current`` (the period in progress, to
            date): :func:`kpi_engine.periods.choose_period`.
        fields: KPI name -> the CRM field written. The KPI names are checked against the KPI
            registry where the config is loaded (:mod:`jobs.config`). An entry may also be a
            mapping (:class:`FieldOptions`); its options then move to ``field_options`` and
            ``fields`` keeps the field name.
        field_options: KPI name -> its options (policy, scale, percent).
        policy: the policy of fields that name none (default ``overwrite``).
        kpi_period: a text field that receives the period the values describe (``2017-Q4``,
            ``2017-10``, ``2017``; ``2026-Q4 to date`` for a period in progress); written like
            an ``overwrite`` field.
        kpi_as_of: a date field that receives the day the values were measured at
            (``kpi_values.as_of``), written with a record's other changed values.
        clear_on_null: write NULL when a partner has no value for a KPI in the period (default:
            leave the field as it is).
        allow_standard_fields: CRM-defined fields that may be written (default: custom only).
        batch_size: records per write call.
    """

    model_config = ConfigDict(extra="forbid")

    object: str
    grain: Literal["month", "quarter", "year"] = "quarter"
    period: Literal["latest_complete", "current"] = "latest_complete"
    fields: dict[str, str] = Field(min_length=1)
    field_options: dict[str, FieldOptions] = Field(default_factory=dict)
    policy: Policy = "overwrite"
    kpi_period: str | None = None
    kpi_as_of: str | None = None
    clear_on_null: bool = False
    allow_standard_fields: list[str] = Field(default_factory=list)
    batch_size: int = 100

    @model_validator(mode="before")
    @classmethod
    def _split_options(cls, data: Any) -> Any:
        """``fields.<kpi>: {field: X, ...}`` -> ``fields.<kpi>: X`` + ``field_options.<kpi>``."""
        if not isinstance(data, Mapping) or not isinstance(data.get("fields"), Mapping):
            return data
        fields, options = {}, dict(data.get("field_options") or {})
        for kpi, spec in data["fields"].items():
            if isinstance(spec, Mapping):
                opts = FieldOptions.model_validate(spec)
                fields[kpi], options[kpi] = opts.field, opts
            else:
                fields[kpi] = spec
        return {**data, "fields": fields, "field_options": options}

    @field_validator("fields")
    @classmethod
    def _one_kpi_per_field(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for kpi, target in value.items():
            if target.lower() in seen:
                msg = f"{seen[target.lower()]} and {kpi} both write the field {target}"
                raise ValueError(msg)
            seen[target.lower()] = kpi
        return value

    @model_validator(mode="after")
    def _extra_fields_apart(self) -> WritebackTarget:
        taken = {f.lower(): f"fields.{k}" for k, f in self.fields.items()}
        for key in ("kpi_period", "kpi_as_of"):
            name = getattr(self, key)
            if name is None:
                continue
            if name.lower() in taken:
                msg = f"{key}: {name} is also written by {taken[name.lower()]}"
                raise ValueError(msg)
            taken[name.lower()] = key
        unknown = sorted(set(self.field_options) - set(self.fields))
        if unknown:
            msg = f"field_options.{unknown[0]}: no such entry under fields"
            raise ValueError(msg)
        return self

    def policy_of(self, kpi: str) -> Policy:
        """The policy of ``kpi``'s field."""
        opts = self.field_options.get(kpi)
        return opts.policy if opts is not None and opts.policy else self.policy

    def extra_fields(self) -> dict[str, str]:
        """``kpi_period`` / ``kpi_as_of`` -> the field, for those configured."""
        return {k: v for k in ("kpi_period", "kpi_as_of") if (v := getattr(self, k))}


class PushingConnector(Connector, Protocol):
    """A connector that also writes KPIs back (a CRM, not a file import)."""

    def pusher(self, writeback: Any) -> Pusher:
        """The push side for ``writeback.<crm>``, sharing this connector's client."""
        ...


def no_pulled_fields(settings: Any) -> frozenset[str]:
    """For a source that pulls no partner-record fields a push could write."""
    return frozenset()


@dataclass(frozen=True)
class Adapter:
    """One source as the application sees it; each CRM folder exports one, the registry lists it.

    Attributes:
        name: the source's name: its config key (``sources.<name>``, ``writeback.<name>``) and
            the ``source`` column of its rows.
        settings: the pydantic model of ``sources.<name>``.
        connect: ``connect(settings, reporting_currency, policy=None)`` -> the connector
            (``policy``: a :class:`connectors.http.RetryPolicy`, default from the settings).
        writeback: the model of ``writeback.<name>`` (``None``: the source takes no push).
        pulled_fields: ``settings`` -> the partner-record fields the pull reads as data
            (lower-cased): a KPI must never be written to one of them.
        secrets: the settings name secrets (``secret_settings()``, ``secrets_file``), checked
            before any request.
        demo: ``demo(url, ca_bundle, team_units)`` -> ``(source settings, writeback settings,
            environment)`` pointing the source at the CRM sandbox (``partnerkpi demo``).
        preflight: ``preflight(connector, purposes)`` -> the
            :class:`connectors.preflight.Finding` list of ``partnerkpi check`` (``None``: the
            source has nothing to check before its first read, e.g. a file import); the
            write-back targets are checked by :mod:`jobs.preflight` for every CRM.
        creates_fields: the push can create a missing target field (HubSpot
            ``--create-properties``): the preflight reports it, not as a problem.
    """

    name: str
    settings: type[BaseModel]
    connect: Callable[..., Connector]
    writeback: type[WritebackTarget] | None = None
    pulled_fields: Callable[[Any], frozenset[str]] = no_pulled_fields
    secrets: bool = False
    demo: Callable[[str, str, Mapping[str, str]],
                   tuple[dict[str, Any], dict[str, Any], dict[str, str]]] | None = None
    preflight: Callable[[Any, Sequence[str]], list[Any]] | None = None
    creates_fields: bool = False
