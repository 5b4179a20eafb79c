"""The preflight: ``partnerkpi check``, and the same checks ``sync`` and ``push`` run before
their first data request (credentials, scopes, API version, every configured field, the
write-back targets, the API allowance). Each CRM's checks live in its folder
(``connectors/<crm>/preflight.py``, the adapter's ``preflight``); a source without one (the CSV
import) has nothing to check before it reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors import registry
from connectors.base import Connector
from connectors.errors import AuthError, ConfigError
from connectors.preflight import Finding, problems
from jobs.config import AppConfig


def source_findings(
    config: AppConfig, name: str, connector: Connector, purposes: Sequence[str]
) -> list[Finding]:
    """The findings of one source's preflight for ``purposes`` (``sync``, ``push``)."""
    adapter = registry.adapter(name)
    if adapter.preflight is None:
        return []
    writeback = config.writeback_target(name) if "push" in purposes else None
    return list(adapter.preflight(connector, writeback, purposes))


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
