"""The HubSpot preflight (``partnerkpi check``; ``sync`` and ``push`` run it first): before any
record is read or written, one :class:`~connectors.preflight.Finding` per check.

============  =====================================================================  =====
check         how                                                                    calls
============  =====================================================================  =====
credentials   the token's info (``GET /oauth/v1/access-tokens/{token}``); a refused    1
              token names ``sources.hubspot.token_env``
scopes        the token's ``scopes``: ``crm.objects.deals.read``,                     0
              ``crm.objects.companies.read``, ``crm.objects.owners.read`` (sync),
              ``crm.objects.companies.write`` (push); when the info cannot be read (a
              private-app token HubSpot does not describe there), not checked
fields        ``GET /crm/v3/properties/deals`` and ``/companies``: every configured     2
              deal property and partner-rule company property exists
writeback     the company properties again (the pusher's describe): every target      1
              exists (or ``push --create-properties`` creates it), is editable and
              numeric (:func:`jobs.preflight.writeback_findings`)
allowance     the ``X-HubSpot-RateLimit-Daily`` / ``-Remaining`` headers of these     0
              answers
============  =====================================================================  =====
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.errors import AuthError, ConnectorError, FatalAPIError
from connectors.preflight import Finding

SOURCE = "hubspot"

#: purpose -> the scopes it needs
SCOPES = {
    "sync": ("crm.objects.deals.read", "crm.objects.companies.read", "crm.objects.owners.read"),
    "push": ("crm.objects.companies.write",),
}


def hubspot_preflight(connector: Any, purposes: Sequence[str]) -> list[Finding]:
    """Every check of the module docstring, in order; a refused token ends the checks.

    Args:
        connector: the :class:`~connectors.hubspot.HubSpotConnector` (its client is used).
        purposes: ``sync`` and / or ``push``.

    Raises:
        ConnectorError: the portal cannot be reached (TLS, network): the call's own one-line
            error, as a sync would stop with it.
    """
    client = connector.client
    settings = connector.settings
    out: list[Finding] = []
    try:
        info = client.token_info()
    except AuthError as exc:
        return [Finding(SOURCE, "credentials", False, str(exc).splitlines()[0])]
    except FatalAPIError as exc:  # no info for this token (404): the scopes go unchecked
        if exc.status not in (400, 404):
            raise
        info = None
        out.append(Finding(SOURCE, "scopes", None,
                           f"the token's scopes cannot be read ({exc}); check the private "
                           "app's scopes in HubSpot settings"))
    if info is not None:
        out.append(Finding(SOURCE, "credentials", True,
                           f"token of portal {info.get('hub_id')} ({info.get('user')})"))
        have = set(info.get("scopes") or [])
        need = [s for p in purposes for s in SCOPES.get(p, ())]
        missing = [s for s in need if s not in have]
        out.append(Finding(SOURCE, "scopes", not missing, (
            f"hubspot: the private app's token lacks the scopes {', '.join(missing)}: add them "
            "to the app (HubSpot settings > Integrations > Private apps > Scopes)") if missing
            else f"{', '.join(need)} granted"))
    if "sync" in purposes:
        try:
            out += _property_findings(client, settings)
        except AuthError as exc:  # the token info is not authenticated: this is the first call
            return [Finding(SOURCE, "credentials", False, str(exc).splitlines()[0])]
    usage = client.usage
    if usage.daily_limit is None or usage.daily_remaining is None:
        out.append(Finding(SOURCE, "allowance", None, "no daily rate-limit headers sent"))
    elif usage.daily_remaining <= 0:
        out.append(Finding(SOURCE, "allowance", False, (
            f"hubspot: the portal's daily API allowance ({usage.daily_limit}) is used up; run "
            "sync after it resets (midnight in the portal's time zone)")))
    else:
        out.append(Finding(SOURCE, "allowance", True,
                           f"{usage.daily_remaining} of {usage.daily_limit} daily API calls left"))
    return out


def _property_findings(client: Any, settings: Any) -> list[Finding]:
    """Every configured deal property and partner-rule company property exists."""
    rule = settings.partners
    wanted: dict[str, list[tuple[str, str | None]]] = {
        "deals": [(p, "sources.hubspot.deal_properties" if p in settings.deal_properties else
                   "sources.hubspot.partner_property" if p == settings.partner_property else
                   None) for p in settings.properties()],
        "companies": [(p, f"sources.hubspot.partners.{name}") for name, p in (
            ("company_property", rule.company_property), ("name_property", rule.name_property),
            ("tier_property", rule.tier_property)) if p],
    }
    out = []
    for object_type, props in wanted.items():
        try:
            known = {str(p.get("name")) for p in client.properties(object_type).get("results")
                     or []}
        except AuthError:
            raise
        except ConnectorError as exc:
            out.append(Finding(SOURCE, "fields", False, str(exc).splitlines()[0]))
            continue
        for name, setting in props:
            if name not in known:
                where = f" (set by {setting})" if setting else ""
                out.append(Finding(SOURCE, "fields", False, (
                    f"hubspot: {object_type} have no property {name}{where}; check the "
                    "internal name in HubSpot settings > Properties, and that the private app "
                    "can read it")))
    if not [f for f in out if f.ok is False]:
        count = sum(len(v) for v in wanted.values())
        out.append(Finding(SOURCE, "fields", True, f"{count} deal and company properties found"))
    return out
