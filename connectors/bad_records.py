"""What a connector does with a record whose value cannot be read: the ``on_bad_record`` policy.

Text in an amount, an impossible date (``2024-13-45``) or a deal in an unknown stage is never
written as a guess. Every such value is listed in :attr:`connectors.base.Page.rejects` (the sync
loop stores it in the ``rejects`` table with the reason), and then:

- ``on_bad_record: keep`` (the default): the record is kept with that value unknown (NULL,
  never 0), as case C-04 asks; a record whose stage is unknown is still left out (its won /
  closed state would be a guess);
- ``reject``: the record is left out of its page;
- ``stop``: the run stops on it with a one-line :class:`RecordError` naming the record, field
  and value, and the page is not committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from connectors.base import Reject
from connectors.errors import RecordError

Policy = Literal["keep", "reject", "stop"]


class BadRecordSetting(BaseModel):
    """The ``on_bad_record`` setting shared by the CRM sources' settings (a mixin).

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
        return any(i >= before for i in self._skip_at)

    def add(self, what: str, record_id: str, field_name: str, value: object, reason: str,
            *, nullable: bool = True) -> None:
        """Reject a record, or stop the run under ``on_bad_record: stop``.

        Args:
            what: the kind of record (``deal``, ``lead``, ...).
            record_id: the CRM record id.
            field_name: the CRM field / property name.
            value: the raw value.
            reason: what is wrong, one line (``'n/a' is not a number``).
            nullable: whether the record can be kept with this value NULL (under ``keep``).

        Raises:
            RecordError: under ``stop``: ``deal 123: amount 'n/a' is not a number``.
        """
        if self.policy == "stop":
            msg = (f"{what} {record_id}: {field_name} {value!r}: {reason} "
                   "(on_bad_record: stop; set it to keep or reject to go on)")
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
