"""Completeness of the HubSpot deals stream: after a sync, the portal's own count of live deals
modified in the window the run read (a deal search with ``limit: 1`` answers ``total``: one
call) for the store to compare with its own count (:mod:`kpi_engine.completeness`). A mismatch
makes the next run re-read the deals from the window's start (:func:`repair_watermark`).

The count is taken after ``archived_deals``, so deals archived since the last run are flagged
in the store before it is compared. Search docs:
https://developers.hubspot.com/docs/api-reference/search/guide (``total``; filters on
``hs_lastmodifieddate`` in epoch milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from connectors.base import CountCheck, Page
from connectors.hubspot.rows import epoch_ms
from connectors.hubspot.streams import MODIFIED
from connectors.values import format_instant, parse_instant

STREAM = "deals"


def repair_watermark(watermark: str | None, state: Mapping[str, str | None]) -> str | None:
    """The deals watermark to read from: the stored one, or the start of a window whose count
    did not match last run (``repair_from:deals``), whichever is earlier."""
    repair = parse_instant(state.get(f"repair_from:{STREAM}"))
    stored = parse_instant(watermark) if watermark else None
    if repair is None or stored is None or repair >= stored:
        return watermark
    return format_instant(repair)


def deal_count_page(
    search: Callable[[dict[str, Any]], dict[str, Any]],
    window_start: datetime | None,
    window_end: datetime,
) -> Page:
    """The page carrying the portal's count of live deals with ``hs_lastmodifieddate`` in
    ``[window_start, window_end)`` (UTC; None: from the beginning).

    Args:
        search: ``POST /crm/v3/objects/deals/search`` (body -> response JSON).
        window_start: the run's lower bound (watermark - lookback), or None.
        window_end: the sync's start.
    """
    filters = [{"propertyName": MODIFIED, "operator": "LT", "value": epoch_ms(window_end)}]
    if window_start is not None:
        filters.append({"propertyName": MODIFIED, "operator": "GTE",
                        "value": epoch_ms(window_start)})
    body = search({"filterGroups": [{"filters": filters}], "properties": [MODIFIED],
                   "limit": 1})
    total = int(body.get("total") or 0)
    return Page({}, counts=[CountCheck("deals", total, window_start, window_end, stream=STREAM)])
