"""The Salesforce preflight (``partnerkpi check``; ``sync`` and ``push`` run it first): before
any data is read or written, one :class:`~connectors.preflight.Finding` per check.

============  =====================================================================  ========
check         how                                                                    calls
============  =====================================================================  ========
credentials   the configured login (``auth``); a refusal names the OAuth error        1 login
api_version   ``GET /services/data/`` lists the org's versions; the configured one     1 (free)
              must be listed and not older than each purpose needs (:mod:`.versions`)
fields        (sync) ``describe`` of every sObject the streams read: every configured  1 per
              field (and relationship path) the integration user can read; a missing  sObject
              one names its object, its setting and the likely cause (field-level
              security on the integration user's profile or permission set)
writeback     (push) ``describe`` of Account: every target field exists, is editable   1
              and numeric (:func:`jobs.preflight.writeback_findings`, for every CRM)
allowance     ``GET /limits``: ``DailyApiRequests`` remaining against                  1
              ``max_api_share``
============  =====================================================================  ========

Scopes: a connected app's OAuth scopes are not listed by the API; the ``api`` scope is proven by
the describe calls themselves (without it every call answers 403), so ``scopes`` is reported as
checked through them. The describes are kept by the connector: the sync that follows re-uses
them (no second describe).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from connectors.errors import AuthError, ConfigError, ConnectorError
from connectors.preflight import Finding
from connectors.salesforce.versions import MINIMUM, version_problems

if TYPE_CHECKING:
    from connectors.salesforce import SalesforceConnector

SOURCE = "salesforce"


def salesforce_preflight(connector: SalesforceConnector, purposes: Sequence[str]) -> list[Finding]:
    """Every check of the module docstring, in order; a failed login or an API version the org
    does not offer ends the checks (nothing else can be asked).

    Args:
        connector: the source's connector (its client logs in here; the sync re-uses it).
        purposes: ``sync`` and / or ``push``.

    Returns:
        The findings; those with ``ok`` False are the problems.
    """
    s = connector.settings
    client = connector.client
    out: list[Finding] = []
    try:
        client.connect()
    except (AuthError, ConfigError) as exc:
        return [Finding(SOURCE, "credentials", False, str(exc).splitlines()[0])]
    out.append(Finding(SOURCE, "credentials", True,
                       f"logged in ({s.auth}) at {client.instance_url}"))
    offered = client.versions()
    version = version_problems(s.api_version, offered, purposes)
    needs = ", ".join(f"{p} {MINIMUM[p][0]}" for p in purposes if p in MINIMUM)
    if version:
        out += [Finding(SOURCE, "api_version", False, line) for line in version]
    else:
        out.append(Finding(SOURCE, "api_version", True,
                           f"{s.api_version} (the org offers {offered[0]}..{offered[-1]}; "
                           f"needed: {needs})"))
    if s.api_version not in offered:
        return out
    if "sync" in purposes:  # the pulled fields (push reads none of them)
        try:
            ready = connector.prepare(purposes)
            fields = sum(len(spec.fields) for spec in ready.values())
            out.append(Finding(SOURCE, "fields", True,
                               f"{fields} fields of {len(ready)} streams readable"))
        except ConfigError as exc:
            out += [Finding(SOURCE, "fields", False, p) for p in exc.problems
                    if p not in version]
    out.append(Finding(SOURCE, "scopes", True, "api scope: proven by the calls above"))
    out.append(_allowance(connector))
    return out


def _allowance(connector: SalesforceConnector) -> Finding:
    """``GET /limits``: the org's daily API calls left against ``max_api_share``."""
    share = connector.settings.max_api_share
    try:
        limits = connector.client.call("limits", lambda sf: sf.limits())
    except ConnectorError as exc:
        return Finding(SOURCE, "allowance", None, f"GET /limits failed: {exc}")
    daily = (limits or {}).get("DailyApiRequests") or {}
    most, left = int(daily.get("Max") or 0), int(daily.get("Remaining") or 0)
    stop_at = int(share * most)
    used = most - left
    if most and used >= stop_at:
        return Finding(SOURCE, "allowance", False, (
            f"salesforce: {used} of the org's {most} daily API calls are used and max_api_share "
            f"is {share:g}: sync would stop at once; run it after the allowance recovers "
            "(24-hour rolling)"))
    return Finding(SOURCE, "allowance", True,
                   f"{left} of {most} daily API calls left (sync stops at {stop_at} used)")
