"""Helpers for the Salesforce connector tests: fixture bodies, settings, a recording sleep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.http import RetryPolicy
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sync import SyncResult, run_sync
from kpi_engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
BODIES = ROOT / "fixtures" / "salesforce"
SANDBOX_ENV = {
    "SF_PASSWORD": "sandbox-password",
    "SF_TOKEN": "SANDBOXTOKEN",
    "SF_CLIENT_ID": "partnerkpi-sandbox-client",
    "SF_CLIENT_SECRET": "partnerkpi-sandbox-secret",
}


def body(name: str) -> Any:
    """A JSON body from ``fixtures/salesforce/`` (numbers with a fraction as float, like
    ``responses`` would send them back: the connector re-reads them as Decimal)."""
    return json.loads((BODIES / name).read_text(encoding="utf-8"))


def raw_body(name: str) -> str:
    """A fixture body as text (sent byte for byte)."""
    return (BODIES / name).read_text(encoding="utf-8")


class Sleeps(list):
    """A recording sleep: waits are appended, never slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    """A fresh recording sleep."""
    return Sleeps()


def policy(sleeps: Sleeps, attempts: int = 4) -> RetryPolicy:
    """A retry policy that records its waits instead of sleeping."""
    return RetryPolicy(attempts=attempts, initial=1.0, maximum=8.0, jitter=0.0, sleep=sleeps)


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CRM sandbox's credentials in the environment variables the settings name."""
    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)


def sandbox_settings(sb: Any, **overrides: Any) -> SalesforceSettings:
    """Settings logging in to a running Sandbox with the OAuth password grant."""
    data = {
        "auth": "password",
        "login_url": sb.url,
        "ca_bundle": sb.ca_bundle,
        "username": "sandbox@partnerkpi.example",
        "password_env": "SF_PASSWORD",
        "security_token_env": "SF_TOKEN",
        "client_id_env": "SF_CLIENT_ID",
        "client_secret_env": "SF_CLIENT_SECRET",
        **overrides,
    }
    return SalesforceSettings.model_validate(data)


def sync(
    store: Store, settings: SalesforceSettings, sleeps: Sleeps, **kwargs: Any
) -> tuple[SyncResult, SalesforceConnector]:
    """One sync run of a new connector (as the CLI does); returns the result and connector."""
    full_refresh = kwargs.pop("full_refresh", False)
    progress = kwargs.pop("progress", None)
    connector = SalesforceConnector(settings, "USD", policy=policy(sleeps), **kwargs)
    result = run_sync(store, connector, full_refresh=full_refresh, progress=progress)
    return result, connector
