"""The sources by name: the only list of CRMs (and the CSV export) in the code.

Each folder exports one :class:`~connectors.base.Adapter`; the config schema (:mod:`jobs.config`),
the jobs and the CLI's choices are built from this list, in this order (the order sources are
synced and pushed). Adding a CRM is one folder and one line here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors import csv_export, hubspot, salesforce
from connectors.base import Adapter, PushingConnector
from connectors.errors import ConfigError

#: Every source, in sync (and push) order.
ADAPTERS: tuple[Adapter, ...] = (csv_export.ADAPTER, salesforce.ADAPTER, hubspot.ADAPTER)

_BY_NAME = {a.name: a for a in ADAPTERS}


def names() -> list[str]:
    """Every source's name, in sync order."""
    return [a.name for a in ADAPTERS]


def push_names() -> list[str]:
    """The sources that take a write-back (CRMs), in push order."""
    return [a.name for a in ADAPTERS if a.writeback is not None]


def either(items: list[str]) -> str:
    """``a, b or c``: the names for a one-line message."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def adapter(name: str) -> Adapter:
    """The adapter of source ``name``.

    Raises:
        ConfigError: no source has that name.
    """
    found = _BY_NAME.get(name)
    if found is None:
        msg = f"unknown source {name!r}: use {either(names())}"
        raise ConfigError(msg)
    return found


if TYPE_CHECKING:  # the type checker holds each CRM's connector (and its pusher) to the protocols

    def _conforms(
        sf: salesforce.SalesforceConnector, hs: hubspot.HubSpotConnector
    ) -> tuple[PushingConnector, PushingConnector]:
        return sf, hs
