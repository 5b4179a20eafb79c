"""The preflight's vocabulary: what ``partnerkpi check`` (and ``sync`` / ``push`` before their
first data request) finds about a source, one :class:`Finding` per check.

Each CRM folder checks its own credentials, scopes, API version, objects and fields and API
allowance (``connectors/<crm>/preflight.py``, the adapter's ``preflight``); the write-back
targets are checked here, the same way for every CRM, through the pusher's ``describe_fields``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from connectors.base import Pusher, WritebackTarget
from connectors.errors import ConfigError

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


def writeback_findings(
    source: str,
    pusher: Pusher,
    settings: WritebackTarget,
    *,
    creates_missing: bool,
) -> list[Finding]:
    """Check every write-back target field as the push does before its first write
    (:func:`connectors.writeback.check_targets`: it exists for the integration user, it is
    editable, numeric and custom or allowed), nothing created or written.

    Args:
        source: the source.
        pusher: the CRM's push side (its ``describe_fields``: one describe call).
        settings: ``writeback.<crm>``.
        creates_missing: the push can create a missing field itself (HubSpot
            ``--create-properties``): a missing one is reported, not a problem.

    Returns:
        One finding per problem, or one passing finding naming the fields checked.
    """
    from connectors.writeback import check_targets  # it imports the store's side

    try:
        check_targets(pusher, settings)
    except ConfigError as exc:
        out = []
        for line in exc.problems:
            missing = " has no field " in line
            out.append(Finding(source, "writeback", None if missing and creates_missing else False,
                               line + ("; push --create-properties creates it"
                                       if missing and creates_missing else "")))
        if [f for f in out if f.ok is False]:
            return out
    else:
        out = []
    out.append(Finding(source, "writeback", True,
                       f"{len(settings.fields)} target fields on {pusher.crm_object} checked"))
    return out
