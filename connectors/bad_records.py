"""What a connector does with a record whose value cannot be read: the ``on_bad_record`` policy.

Text in an amount, an impossible date (``2024-13-45``), a deal in an unknown stage or a deal
whose partner id names no known partner is never written as a guess. Every such value is listed
in :attr:`connectors.base.Page.rejects` (the sync loop stores it in the ``rejects`` table with
the reason), and then:

- ``on_bad_record: keep`` (the default): the record is kept with that value unknown (NULL,
  never 0), as case C-04 asks -- a deal whose partner is unknown counts unattributed; a record
  whose stage is unknown is still left out (its won / closed state would be a guess);
- ``reject``: the record is left out of its page;
- ``stop``: the run stops on it with a one-line :class:`RecordError` naming the record, field
  and value, and the page is not committed.

Values a connector can read alone go through :class:`BadRecords` while it builds a page.
References to other records (a deal's partner; a Salesforce deal's stage, whose stage list is
pulled incrementally; a CSV deal's partner and owner: a partner dropped from its file is
flagged deleted, an owner kept, and either still counts) can only be judged against the store:
the page declares them
(:class:`connectors.base.Reference`) and the sync loop runs :func:`check_references` in the
page's transaction, with the same policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import BaseModel

from connectors.base import Reference, Reject
from connectors.errors import RecordError

Policy = Literal["keep", "reject", "stop"]


class BadRecordSetting(BaseModel):
    """The ``on_bad_record`` setting shared by every source's settings (a mixin).

    Attributes:
        on_bad_record: ``keep`` (keep the record, the value NULL, the reason in ``rejects``),
            ``reject`` (leave the record out; the reason in ``rejects``) or ``stop`` (fail the
            run with a one-line error naming record, field and value).
    """

    on_bad_record: Policy = "keep"


@dataclass
class BadRecords:
    """Collects the rejects of the page being built, or stops on the first one.

    Attributes:
        policy: ``keep``, ``reject`` or ``stop``.
        rejects: the rejects collected since the last :meth:`take`.
    """

    policy: Policy = "keep"
    rejects: list[Reject] = field(default_factory=list)
    _skip_at: set[int] = field(default_factory=set)

    def skips(self, before: int) -> bool:
        """Whether the record built since ``len(rejects) == before`` must be left out."""
        return bool(self._skip_at) and max(self._skip_at) >= before

    def add(self, what: str, record_id: str, field_name: str, value: object, reason: str,
            *, nullable: bool = True, message: str | None = None) -> None:
        """Reject a record, or stop the run under ``on_bad_record: stop``.

        Args:
            what: the kind of record (``deal``, ``lead``, ...).
            record_id: the CRM record id.
            field_name: the CRM field / property name (a file's column).
            value: the raw value.
            reason: what is wrong, one line (``'n/a' is not a number``).
            nullable: whether the record can be kept with this value NULL (under ``keep``).
            message: the error under ``stop``, when the source says more than record, field
                and value (a file's line and column); the policy's hint is appended.

        Raises:
            RecordError: under ``stop``: ``deal 123: amount 'n/a': 'n/a' is not a number``.
        """
        if self.policy == "stop":
            text = message or f"{what} {record_id}: {field_name} {value!r}: {reason}"
            msg = f"{text} (on_bad_record: stop; set it to keep or reject to go on)"
            raise RecordError(msg, record=record_id, field=field_name, value=value)
        if self.policy == "reject" or not nullable:
            self._skip_at.add(len(self.rejects))
        self.rejects.append(
            Reject(record_id, field_name, None if value is None else str(value), reason)
        )

    def take(self) -> list[Reject]:
        """The rejects collected so far (the list is emptied)."""
        taken, self.rejects = self.rejects, []
        self._skip_at = set()
        return taken


def check_references(
    tables: dict[str, list[dict[str, Any]]],
    references: tuple[Reference, ...],
    known: Callable[[str, tuple[str, ...]], set[tuple[Any, ...]]],
) -> list[Reject]:
    """Apply ``on_bad_record`` to the rows of ``tables`` whose reference names no known record.

    A value is known when ``known(target, columns)`` (the store's keys) holds it or
    ``tables[target]`` (the same page) carries it; NULL is not checked. Under ``keep`` a
    ``nullable`` reference is set to NULL and the row kept, any other is left out; ``reject``
    leaves the row out; ``stop`` raises on the first. A row left out takes with it the rows of
    the page's other tables with its id (a HubSpot deal's stage history). ``tables`` is changed
    in place.

    Args:
        tables: the page's rows, table -> rows.
        references: what to check.
        known: (target table, key columns) -> the keys the store holds for this source.

    Returns:
        One reject per unknown value.

    Raises:
        RecordError: an unknown value under ``on_bad_record: stop``.
    """
    rejects: list[Reject] = []
    left_out: dict[str, set[Any]] = {}  # id column -> the ids of the rows left out
    for ref in references:
        rows = tables.get(ref.table)
        if not rows:
            continue
        keys = known(ref.target, ref.columns)
        here = {tuple(r[c] for c in ref.columns) for r in tables.get(ref.target) or ()}
        bad = BadRecords(cast(Policy, ref.policy))
        kept = []
        for row in rows:
            value = tuple(row[c] for c in ref.columns)
            if None in value or value in keys or value in here:
                kept.append(row)
                continue
            before = len(bad.rejects)
            record = str(row[ref.id_column])
            where = ref.where.get(record)
            if where is None:
                bad.add(ref.what, record, ref.field, value[-1], ref.reason, nullable=ref.nullable)
            else:
                bad.add(ref.what, record, ref.field, value[-1], f"{where}: {ref.reason}",
                        nullable=ref.nullable,
                        message=f"{where}: {ref.what} {record!r} column {ref.field!r} value "
                                f"{value[-1]!r} {ref.reason}")
            if bad.skips(before):  # left out below, once every reference has been checked
                left_out.setdefault(ref.id_column, set()).add(row[ref.id_column])
                kept.append(row)
            else:
                kept.append({**row, **dict.fromkeys(ref.columns)})
        tables[ref.table] = kept
        rejects += bad.take()
    for id_column, ids in left_out.items():  # with what the page carries of them (a HubSpot
        for name, rows in tables.items():    # deal's stage history)
            if rows and id_column in rows[0]:
                tables[name] = [r for r in rows if r[id_column] not in ids]
    return rejects
