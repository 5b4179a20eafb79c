"""The HubSpot source pointed at the CRM sandbox (``partnerkpi demo``).

The sandbox accepts a fixed private-app token (``crm_sandbox.hubspot.DEFAULT_TOKEN``); it is
not a secret and reaches the connector through the environment variable the settings name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The sandbox's built-in token, by the environment variable the demo config names.
DEMO_ENV = {"PARTNERKPI_DEMO_HUBSPOT_TOKEN": "pat-na1-sandbox-0000-0000-000000000000"}

#: The three KPI properties the sandbox's companies carry (group ``partnerkpi``).
DEMO_WRITEBACK: dict[str, Any] = {
    "object": "companies",
    "grain": "quarter",
    "fields": {
        "win_rate": "partner_win_rate",
        "average_deal_size": "partner_avg_deal_size",
        "quality_score": "partner_quality_score",
    },
}


def demo_settings(
    url: str, ca_bundle: str, team_units: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """``sources.hubspot``, ``writeback.hubspot`` and the environment for the sandbox.

    Args:
        url: the sandbox's base URL (the API host).
        ca_bundle: the sandbox's CA certificate (PEM).
        team_units: owner team -> unit: HubSpot owners carry no unit field.
    """
    source = {
        "host": url,
        "ca_bundle": ca_bundle,
        "token_env": "PARTNERKPI_DEMO_HUBSPOT_TOKEN",
        "team_units": dict(team_units),
    }
    return source, dict(DEMO_WRITEBACK), dict(DEMO_ENV)
