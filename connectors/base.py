"""What every connector provides: streams declared as data, pages of canonical rows.

A connector pulls a :class:`Stream` from a watermark and yields :class:`Page` objects; the sync loop
(:mod:`connectors.sync`) commits each page and its new watermark in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


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
    where: Mapping[str, str] = field(default_factory=dict)


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
    """

    tables: dict[str, list[dict[str, Any]]]
    watermark: str | None = None
    deleted: dict[str, list[str]] = field(default_factory=dict)
    keep_ids: dict[str, list[str]] = field(default_factory=dict)
    snapshot_guard: SnapshotGuard | None = None
    warnings: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    references: tuple[Reference, ...] = ()


class Connector(Protocol):
    """A CRM adapter. ``source`` is the value of the ``source`` column of its rows."""

    source: str
    #: True when all pages of a run must commit together (a file import: all or nothing).
    atomic: bool

    def streams(self) -> Sequence[Stream]:
        """The streams this connector pulls, in pull order."""
        ...

    def pull(self, stream: Stream, watermark: str | None, state: Mapping[str, str | None]) -> Iterator[Page]:
        """Yield the pages of ``stream`` changed since ``watermark`` (``None``: everything).

        ``state`` holds the watermarks of all streams of this source (read-only).
        """
        ...
