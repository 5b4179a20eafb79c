"""HubSpot connector test helpers: a connector pointed at a running sandbox, recording sleeps.

Every test goes through the real hubspot-api-client against the HTTPS CRM sandbox. Nothing
sleeps for real: the retry policy and the search pacing get a recording ``sleep``, and pacing is
measured on a fake monotonic clock that jumps 100 s per reading (so it never asks to wait)
unless a test passes its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.http import RetryPolicy
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.sync import SyncResult, run_sync
from crm_sandbox.hubspot import DEFAULT_TOKEN
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store

TOKEN_ENV = "PARTNERKPI_TEST_HUBSPOT_TOKEN"


@pytest.fixture(autouse=True, scope="session")
def token_env() -> Iterator[None]:
    """The sandbox's private-app token in the environment variable the settings name."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(TOKEN_ENV, DEFAULT_TOKEN)
        yield


class Sleeps(list[float]):
    """A ``sleep`` that records the seconds asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast_monotonic() -> Callable[[], float]:
    """A monotonic clock that moves 100 s per reading: search pacing never has to wait."""
    counter = itertools.count(step=100.0)
    return lambda: float(next(counter))


def connector(
    sb: Sandbox,
    sleeps: Sleeps | None = None,
    *,
    monotonic: Callable[[], float] | None = None,
    attempts: int = 6,
    **settings: Any,
) -> HubSpotConnector:
    """A HubSpot connector for the sandbox; ``settings`` override ``sources.hubspot`` keys."""
    base: dict[str, Any] = {"token_env": TOKEN_ENV, "host": sb.url, "ca_bundle": sb.ca_bundle}
    base.update(settings)
    policy = RetryPolicy(
        attempts=attempts, jitter=0.0, sleep=sleeps if sleeps is not None else Sleeps()
    )
    return HubSpotConnector(
        HubSpotSettings.model_validate(base),
        "USD",
        policy=policy,
        now=sb.clock.now,
        monotonic=monotonic or fast_monotonic(),
    )


def sync(
    store: Store,
    sb: Sandbox,
    sleeps: Sleeps | None = None,
    *,
    full_refresh: bool = False,
    progress: Callable[..., None] | None = None,
    **settings: Any,
) -> SyncResult:
    """One ``run_sync`` of a fresh connector (one connector per run, as the CLI does)."""
    return run_sync(
        store, connector(sb, sleeps, **settings), full_refresh=full_refresh, progress=progress
    )


def rows(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """All rows of a query."""
    return store.con.execute(sql, list(params)).fetchall()
