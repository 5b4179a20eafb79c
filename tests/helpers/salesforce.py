"""Helpers for the Salesforce connector tests: fixture bodies, settings, a recording sleep, and
a small World served by the CRM sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator  # noqa: F401
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.http import RetryPolicy
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sync import SyncResult, run_sync
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from crm_sandbox.world import Deal, Lead, Owner, Partner, Stage, World
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


# -- a small World served by the CRM sandbox (the end-to-end sync tests) ---------------------
NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
N_FILLER = 450
TABLES = ("deals", "partners", "owners", "stages", "stage_history", "leads", "currency_rates")


def small_world() -> World:
    """P1 with a USD and a CAD won deal (case C-05), a deal without partner or account (C-07),
    450 filler deals of P2 so that 200-row pages paginate, two leads."""
    stages = [
        Stage("Prospecting", "Prospecting", Decimal("0.1"), False, False, 1),
        Stage("Negotiation", "Negotiation/Review", Decimal("0.6"), False, False, 2),
        Stage("Closed Won", "Closed Won", Decimal("1.0"), True, True, 3),
        Stage("Closed Lost", "Closed Lost", Decimal("0"), True, False, 4),
    ]
    partners = [
        Partner("P1", "Partner North Ltd", "Reseller", "Gold"),
        Partner("P2", "Société Générale Partenaires", "Referral"),
    ]
    owners = [
        Owner("U1", "Rep One", "rep.one@example.com", "EMEA Channel", "EMEA"),
        Owner("U2", "Rep Two", "rep.two@example.com", None, None),
    ]
    history = [("Prospecting", T0), ("Closed Won", T0 + timedelta(days=10))]
    deals = [
        Deal(
            "D1",
            "USD deal",
            "P1",
            "U1",
            "Acme Corp",
            "Closed Won",
            Decimal("100000.00"),
            "USD",
            T0,
            date(2024, 5, 20),
            "Partner",
            T0 + timedelta(days=80),
            history,
        ),
        Deal(
            "D2",
            "CAD deal",
            "P1",
            "U1",
            "Maple Inc",
            "Closed Won",
            Decimal("100000.00"),
            "CAD",
            T0,
            date(2024, 5, 22),
            "Partner",
            T0 + timedelta(days=81),
            history,
        ),
        Deal(
            "D3",
            "Orphan",
            None,
            "U2",
            None,
            "Prospecting",
            None,
            "USD",
            T0,
            date(2024, 9, 1),
            None,
            T0 + timedelta(days=1),
            [("Prospecting", T0)],
        ),
    ]
    deals += [
        Deal(
            f"F{i:04d}",
            f"Filler {i}",
            "P2",
            "U2",
            "Filler Co",
            "Prospecting",
            Decimal(i),
            "USD",
            T0,
            date(2024, 8, 1),
            None,
            T0 + timedelta(minutes=i),
            [("Prospecting", T0)],
        )
        for i in range(1, N_FILLER + 1)
    ]
    leads = [
        Lead("L1", "Lead One", "P1", "U1", T0 - timedelta(days=5), "Partner", T0, "D1"),
        Lead("L2", "Lead Two", "P2", "U2", T0, None),
    ]
    return World(
        partners, owners, stages, deals, leads, "USD", {"USD": Decimal(1), "CAD": Decimal("1.25")}
    )


def start(world: World | None = None) -> Sandbox:
    return Sandbox(world or small_world(), clock=Clock(NOW)).start()


def snapshot(store: Store) -> dict[str, list[tuple]]:
    """Every canonical table's rows, sorted (for comparing two stores)."""
    out = {}
    for table in TABLES:
        cols = [c for c in store.table_info(table).columns if c != "updated_at"]
        out[table] = sorted(
            store.con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr
        )
    return out


def kpi(store: Store, dimension: str, member: str, name: str, period: str = "2024-04-01") -> Any:
    rows = store.con.execute(
        "SELECT value FROM kpi_values WHERE grain = 'quarter' AND period_start = CAST(? AS DATE) "
        "AND dimension = ? AND member = ? AND kpi = ?",
        [period, dimension, member, name],
    ).fetchall()
    return rows[0][0] if rows else None
