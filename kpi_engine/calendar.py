"""The one reporting time zone every calendar bucketing uses (case C-19).

Instants are stored in UTC; a deal's created date, close date and the instants its stages were
entered are bucketed into days, periods and period ends in one zone: ``reporting_timezone``
when configured, else the zone the sources keep their calendar in (recorded by their sync in
``source_calendar``: HubSpot's portal ``timeZone``,
https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details),
else UTC. Mixing zones (a portal-local close date with a UTC create date) moves evening deals
into the next period and shortens or skips sales cycles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kpi_engine.errors import ComputeError
from kpi_engine.store import Store

__all__ = ["ZONES_SQL", "reporting_zone", "zone_of"]


def reporting_zone(store: Store, configured: str | None) -> str:
    """The reporting time zone (an IANA name).

    Args:
        store: the open store (``source_calendar`` is read when nothing is configured).
        configured: ``reporting_timezone`` from the config, or None for the sources' own.

    Returns:
        ``configured``; else the one zone the sources recorded; else ``"UTC"``.

    Raises:
        ComputeError: nothing is configured and the sources recorded different zones.
    """
    if configured:
        return configured
    if not store.con.execute("SELECT 1 FROM information_schema.tables "
                             "WHERE table_name = 'source_calendar'").fetchall():
        return "UTC"  # a store not migrated yet (opened read-only)
    return zone_of(store.con.execute(ZONES_SQL).fetchall())


#: The zones ``source_calendar`` records, each with its sources (any engine runs it).
ZONES_SQL = ("SELECT time_zone, string_agg(source, ', ' ORDER BY source) FROM source_calendar "
             "GROUP BY time_zone ORDER BY time_zone")


def zone_of(zones: Sequence[Sequence[Any]]) -> str:
    """The one zone of the rows of :data:`ZONES_SQL` (``"UTC"`` for none).

    Raises:
        ComputeError: the sources recorded different zones.
    """
    if not zones:
        return "UTC"
    if len(zones) > 1:
        named = "; ".join(f"{zone} ({sources})" for zone, sources in zones)
        msg = (f"the sources keep their calendars in different time zones ({named}); "
               "set reporting_timezone in the config to the one to report in")
        raise ComputeError(msg)
    return str(zones[0][0])
