"""Shared by ``bench/push_writeback.py`` and ``bench/incremental_resync.py``: connectors pointed
at an in-process CRM sandbox, server-side call counting and peak RSS.

Not a benchmark itself. The connectors are built as the CLI builds them, except that nothing
sleeps: a wait the connector asks for (retries, HubSpot search pacing, an exhausted HubSpot
ten-second window) is added up in :class:`Waits` and moves the sandbox's clock and the pacing
clock forward instead, as if the time had passed. So the seconds measured are our work (and the
sandbox's serving), and ``sum(waits)`` is what a real run against the same limits would add.
"""

from __future__ import annotations

import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.http import RetryPolicy
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from crm_sandbox.hubspot import DEFAULT_TOKEN
from crm_sandbox.server import Sandbox

SF_ENV = {
    "BENCH_SF_PASSWORD": "sandbox-password",
    "BENCH_SF_TOKEN": "SANDBOXTOKEN",
    "BENCH_SF_CLIENT_ID": "partnerkpi-sandbox-client",
    "BENCH_SF_CLIENT_SECRET": "partnerkpi-sandbox-secret",
    "BENCH_HS_TOKEN": DEFAULT_TOKEN,
}


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, MB (Linux: ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Waits(list[float]):
    """A ``sleep`` that records the seconds asked for and moves ``sb``'s clock instead of
    waiting; :meth:`monotonic` is a monotonic clock that moves with it (HubSpot pacing)."""

    def __init__(self, sb: Sandbox | None = None) -> None:
        super().__init__()
        self._sb = sb

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self._sb is not None and seconds > 0:
            self._sb.clock.advance(seconds)

    def monotonic(self) -> float:
        """Real monotonic time plus every wait so far."""
        return time.monotonic() + sum(self)


def sf_source(sb: Sandbox) -> dict[str, Any]:
    """``sources.salesforce`` for a running sandbox (OAuth password grant, REST reads)."""
    return {
        "auth": "password",
        "login_url": sb.url,
        "ca_bundle": sb.ca_bundle,
        "username": "sandbox@partnerkpi.example",
        "password_env": "BENCH_SF_PASSWORD",
        "security_token_env": "BENCH_SF_TOKEN",
        "client_id_env": "BENCH_SF_CLIENT_ID",
        "client_secret_env": "BENCH_SF_CLIENT_SECRET",
        "bulk_threshold": 10_000_000,
    }


def hs_source(sb: Sandbox) -> dict[str, Any]:
    """``sources.hubspot`` for a running sandbox."""
    return {"token_env": "BENCH_HS_TOKEN", "host": sb.url, "ca_bundle": sb.ca_bundle}


def connector(crm: str, sb: Sandbox, waits: Waits) -> Any:
    """A fresh connector (one per run, as the CLI makes) whose clock is the sandbox's."""
    policy = RetryPolicy(sleep=waits)
    if crm == "salesforce":
        return SalesforceConnector(
            SalesforceSettings.model_validate(sf_source(sb)),
            "USD",
            policy=policy,
            now=sb.clock.now(),
        )
    return HubSpotConnector(
        HubSpotSettings.model_validate(hs_source(sb)),
        "USD",
        policy=policy,
        now=sb.clock.now,
        monotonic=waits.monotonic,
    )


_ID = re.compile(r"/(?:[0-9]{3,}|(?=[A-Za-z]*[0-9])[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?)(?=/|$)")


def route(method: str, path: str) -> str:
    """``METHOD path`` with record ids replaced by ``{id}`` (for grouping the call log)."""
    path = re.sub(r"/query(All)?/[^/]+$", r"/query\1/{next}", path)
    return f"{method} {_ID.sub('/{id}', path)}"


def routes(calls: list[tuple[str, str]]) -> Counter[str]:
    """Calls served, grouped by :func:`route`."""
    return Counter(route(m, p) for m, p in calls)
