"""The preflight: ``partnerkpi check``, and the same checks ``sync`` and ``push`` run before
their first data request (credentials, scopes, API version, every configured field, the
write-back targets, the API allowance). Each CRM's checks live in its folder
(``connectors/<crm>/preflight.py``, the adapter's ``preflight``); the write-back targets are
checked here for every CRM (:func:`writeback_findings`); a source without a preflight (the CSV
import) has nothing to check before it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from connectors import registry
from connectors.base import Connector, Pusher, PushingConnector, WritebackTarget
from connectors.errors import AuthError, ConfigError, ConnectorError
from connectors.preflight import Finding, problems
from connectors.writeback import check_targets
from jobs.config import AppConfig


def source_findings(
    config: AppConfig, name: str, connector: Connector, purposes: Sequence[str]
) -> list[Finding]:
    """The findings of one source's preflight for ``purposes`` (``sync``, ``push``)."""
    adapter = registry.adapter(name)
    if adapter.preflight is None:
        return []
    found = list(adapter.preflight(connector, purposes))
    writeback = config.writeback_target(name) if "push" in purposes else None
    refused = any(f.check == "credentials" and f.ok is False for f in found)
    if writeback is not None and not refused:
        try:
            checked = writeback_findings(name, cast(PushingConnector, connector).pusher(writeback),
                                         writeback, creates_missing=adapter.creates_fields)
        except ConnectorError as exc:
            checked = [Finding(name, "writeback", False, str(exc).splitlines()[0])]
        at = next((i for i, f in enumerate(found) if f.check == "allowance"), len(found))
        found[at:at] = checked
    return found


def writeback_findings(
    source: str,
    pusher: Pusher,
    settings: WritebackTarget,
    *,
    creates_missing: bool,
) -> list[Finding]:
    """Check every write-back target field as the push does before its first write
    (:func:`connectors.writeback.check_targets`: it exists for the integration user, it is
    editable, numeric, and custom or allowed); nothing created or written.

    Args:
        source: the source.
        pusher: the CRM's push side (its ``describe_fields``: one describe call).
        settings: ``writeback.<crm>``.
        creates_missing: the push can create a missing field itself (HubSpot
            ``--create-properties``): a missing one is reported, not a problem.

    Returns:
        One finding per problem, or one passing finding naming the fields checked.
    """
    out: list[Finding] = []
    try:
        check_targets(pusher, settings)
    except ConfigError as exc:
        for line in exc.problems:
            soft = creates_missing and " has no field " in line
            out.append(Finding(source, "writeback", None if soft else False,
                               line + ("; push --create-properties creates it" if soft else "")))
        if [f for f in out if f.ok is False]:
            return out
    out.append(Finding(source, "writeback", True,
                       f"{len(settings.fields)} target fields on {pusher.crm_object} checked"))
    return out


def check(config: AppConfig, *, source: str | None = None) -> list[Finding]:
    """``partnerkpi check``: every configured source (or one), for ``sync`` and, where
    ``writeback.<crm>`` is configured, ``push``.

    Raises:
        ConfigError: the source is not configured, or nothing is.
    """
    from jobs.sync import make_connector  # jobs.sync runs this module's checks

    names = [source] if source else config.source_names()
    if not names:
        msg = "no source configured: nothing to check"
        raise ConfigError(msg)
    findings: list[Finding] = []
    for name in names:
        purposes = ["sync", *(["push"] if config.writeback_target(name) is not None else [])]
        findings += source_findings(config, name, make_connector(config, name), purposes)
    return findings


def require(findings: list[Finding]) -> None:
    """Stop before the first data request when any check failed, naming every problem.

    Raises:
        AuthError: a source refused the credentials (exit 6; nothing else of it was checked).
        ConfigError: one line per problem (``sync`` / ``push`` exit 1 with them all).
    """
    refused = [f.detail for f in findings if f.check == "credentials" and f.ok is False]
    if refused:
        raise AuthError("; ".join(refused))
    found = problems(findings)
    if found:
        raise ConfigError(found)


__all__ = ["Finding", "check", "problems", "require", "source_findings", "writeback_findings"]
