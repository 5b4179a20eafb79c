"""The preflight's vocabulary: what ``partnerkpi check`` (and ``sync`` / ``push`` before their
first data request) finds about a source, one :class:`Finding` per check.

Each CRM folder checks its own credentials, scopes, API version, objects and fields and API
allowance (``connectors/<crm>/preflight.py``, the adapter's ``preflight``); the write-back
targets are checked the same way for every CRM, through the pusher's ``describe_fields``, by
:mod:`jobs.preflight`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The checks, in the order they are reported.
CHECKS = ("credentials", "scopes", "api_version", "fields", "writeback", "allowance")


@dataclass(frozen=True)
class Finding:
    """One check of one source.

    Attributes:
        source: the source (``salesforce``).
        check: one of :data:`CHECKS`.
        ok: True: passed; False: a problem that stops ``sync`` / ``push``; None: could not be
            checked (said why), not a problem.
        detail: one line: what was found, or the problem and its fix.
    """

    source: str
    check: str
    ok: bool | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready values (``check --json``)."""
        return asdict(self)


def problems(findings: list[Finding]) -> list[str]:
    """The one-line problems of ``findings`` (those with ``ok`` False), in order."""
    return [f.detail for f in findings if f.ok is False]
