"""What a connector does with a record whose value cannot be read: the ``on_bad_record`` policy.

Text in an amount, an impossible date (``2024-13-45``) or a deal in an unknown stage is never
written as a guess. With ``on_bad_record: reject`` (the default) the record is left out of its
page and listed in :attr:`connectors.base.Page.rejects` (the sync loop stores it in the
``rejects`` table); with ``stop`` the run stops on it with a one-line :class:`RecordError`
naming the record, field and value, and the page is not committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from connectors.base import Reject
from connectors.errors import RecordError

Policy = Literal["reject", "stop"]


class BadRecordSetting(BaseModel):
    """The ``on_bad_record`` setting shared by the CRM sources' settings (a mixin).

    Attributes:
        on_bad_record: ``reject`` (skip the record into the ``rejects`` table) or ``stop``
            (fail the run with a one-line error naming record, field and value).
    """

    on_bad_record: Policy = "reject"


@dataclass
class BadRecords:
    """Collects the rejects of the page being built, or stops on the first one.

    Attributes:
        policy: ``reject`` or ``stop``.
        rejects: the rejects collected since the last :meth:`take`.
    """

    policy: Policy = "reject"
    rejects: list[Reject] = field(default_factory=list)

    def add(self, what: str, record_id: str, field_name: str, value: object, reason: str) -> None:
        """Reject a record, or stop the run under ``on_bad_record: stop``.

        Args:
            what: the kind of record (``deal``, ``lead``, ...).
            record_id: the CRM record id.
            field_name: the CRM field / property name.
            value: the raw value.
            reason: what is wrong, one line (``'n/a' is not a number``).

        Raises:
            RecordError: under ``stop``: ``deal 123: amount 'n/a' is not a number``.
        """
        if self.policy == "stop":
            msg = (f"{what} {record_id}: {field_name} {value!r}: {reason} "
                   "(on_bad_record: stop; set it to reject to skip such records)")
            raise RecordError(msg, record=record_id, field=field_name, value=value)
        self.rejects.append(
            Reject(record_id, field_name, None if value is None else str(value), reason)
        )

    def take(self) -> list[Reject]:
        """The rejects collected so far (the list is emptied)."""
        taken, self.rejects = self.rejects, []
        return taken
