"""The Salesforce source pointed at the CRM sandbox (``partnerkpi demo``).

The sandbox's built-in login (``crm_sandbox.salesforce_auth``) is not a secret; it reaches the
connector the way real secrets do, through the environment variables the settings name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The sandbox's built-in credentials, by the environment variable the demo config names.
DEMO_ENV = {
    "PARTNERKPI_DEMO_SF_PASSWORD": "sandbox-password",
    "PARTNERKPI_DEMO_SF_TOKEN": "SANDBOXTOKEN",
    "PARTNERKPI_DEMO_SF_CLIENT_ID": "partnerkpi-sandbox-client",
    "PARTNERKPI_DEMO_SF_CLIENT_SECRET": "partnerkpi-sandbox-secret",
}

#: The three KPI fields the sandbox's Accounts carry (as an admin would create them).
DEMO_WRITEBACK: dict[str, Any] = {
    "object": "Account",
    "grain": "quarter",
    "fields": {
        "win_rate": "Partner_Win_Rate__c",
        "average_deal_size": "Partner_Avg_Deal_Size__c",
        "quality_score": "Partner_Quality_Score__c",
    },
}


def demo_settings(
    url: str, ca_bundle: str, team_units: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """``sources.salesforce``, ``writeback.salesforce`` and the environment for the sandbox.

    Args:
        url: the sandbox's base URL (the login host).
        ca_bundle: the sandbox's CA certificate (PEM).
        team_units: unused: Salesforce users carry their unit (``Division``).
    """
    source = {
        "auth": "password",
        "login_url": url,
        "ca_bundle": ca_bundle,
        "username": "sandbox@partnerkpi.example",
        "password_env": "PARTNERKPI_DEMO_SF_PASSWORD",
        "security_token_env": "PARTNERKPI_DEMO_SF_TOKEN",
        "client_id_env": "PARTNERKPI_DEMO_SF_CLIENT_ID",
        "client_secret_env": "PARTNERKPI_DEMO_SF_CLIENT_SECRET",
    }
    return source, dict(DEMO_WRITEBACK), dict(DEMO_ENV)
