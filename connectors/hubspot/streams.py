"""The HubSpot streams, declared as data, and the paging loops that read them.

Deals are read with the CRM search endpoint in keyset order: every page is a new search for
``(hs_lastmodifieddate, hs_object_id) > (last timestamp, last id)`` sorted by both ascending,
``limit`` 200. A search can page through at most 10,000 results
(https://developers.hubspot.com/docs/api-reference/search/guide#limitations) and offset paging
over a result set that changes while it is read skips records (an edited record moves to the
end and every later one shifts back by one); keyset pages have neither problem, cost the same
number of calls, and each page ends on a (timestamp, id) a new run can resume from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from connectors.base import Stream
from connectors.errors import FatalAPIError
from connectors.hubspot.rows import epoch_ms
from connectors.paging import paginate
from connectors.values import parse_instant

MODIFIED = "hs_lastmodifieddate"
OBJECT_ID = "hs_object_id"

STAGES = Stream("stages", "pipelines/deals", "id")
OWNERS = Stream("owners", "owners", "id")
PARTNERS = Stream("partners", "companies", "id")
CURRENCY_RATES = Stream("currency_rates", "config", "currency")
DEALS = Stream("deals", "deals", "id", MODIFIED)
ARCHIVED_DEALS = Stream("archived_deals", "deals?archived=true", "id")
#: the association sweep (:mod:`connectors.hubspot.sweep`); its watermark is the last deal id
#: of the previous rotating slice ("" when every deal is swept)
ASSOCIATION_SWEEP = Stream("association_sweep", "associations/deals/companies", "id")
#: the owners' goals (``goal_kpis`` set): re-read whole each run (goals.py)
TARGETS = Stream("targets", "goal_targets", "id")

#: Pull order: deals need the stage map, the owner ids and the partner ids first; the sweep
#: comes last, over the deals as this run left them.
STREAMS = (STAGES, OWNERS, PARTNERS, CURRENCY_RATES, DEALS, ARCHIVED_DEALS, ASSOCIATION_SWEEP)


def _gte(lower: datetime) -> dict[str, str]:
    return {"propertyName": MODIFIED, "operator": "GTE", "value": epoch_ms(lower)}


def keyset_groups(
    lower: datetime | None, last: tuple[datetime, int] | None
) -> list[dict[str, Any]]:
    """``filterGroups`` for the page after ``last`` (groups are ORed, filters ANDed).

    Args:
        lower: the run's lower bound (watermark - lookback), UTC; None = everything.
        last: (timestamp, id) of the last deal read in this run, or None for the first page.

    Returns:
        ``[]`` (no filter), ``[ts >= lower]``, or ``[ts > T, (ts = T and id > I)]``.
    """
    if last is None:
        return [{"filters": [_gte(lower)]}] if lower is not None else []
    stamp, last_id = last
    value = epoch_ms(stamp)
    return [
        {"filters": [{"propertyName": MODIFIED, "operator": "GT", "value": value}]},
        {"filters": [{"propertyName": MODIFIED, "operator": "EQ", "value": value},
                     {"propertyName": OBJECT_ID, "operator": "GT", "value": str(last_id)}]},
    ]


def search_deal_pages(
    search: Callable[[dict[str, Any]], dict[str, Any]],
    properties: list[str],
    lower: datetime | None,
    page_size: int,
) -> Iterator[tuple[list[dict[str, Any]], datetime]]:
    """Yield (deals, timestamp of the page's last deal) for every deal modified since ``lower``.

    Args:
        search: ``POST /crm/v3/objects/deals/search`` (body -> response JSON).
        properties: deal properties to ask for.
        lower: UTC lower bound on ``hs_lastmodifieddate`` (None: all deals).
        page_size: deals per page (at most 200).

    Raises:
        FatalAPIError: a page does not move past the previous one (a repeated cursor), or a
            deal has no ``hs_lastmodifieddate`` to page past.
    """
    sorts = [{"propertyName": MODIFIED, "direction": "ASCENDING"},
             {"propertyName": OBJECT_ID, "direction": "ASCENDING"}]

    def fetch(last: tuple[datetime, int] | None) -> dict[str, Any]:
        return search({"filterGroups": keyset_groups(lower, last), "sorts": sorts,
                       "properties": properties, "limit": page_size})

    def next_cursor(response: dict[str, Any]) -> tuple[datetime, int] | None:
        results = response.get("results") or []
        if not results or not (response.get("paging") or {}).get("next"):
            return None  # the search says there is no more (never judged by the page's size)
        return _cursor(results[-1])

    for response in paginate(fetch, next_cursor, "HubSpot deal search",
                             token_name="keyset cursor", increasing=True):
        results = response.get("results") or []
        if results:
            yield results, _cursor(results[-1])[0]


def _cursor(deal: dict[str, Any]) -> tuple[datetime, int]:
    """(``hs_lastmodifieddate``, id) of a deal: where the next keyset page starts."""
    stamp = parse_instant((deal.get("properties") or {}).get(MODIFIED) or deal.get("updatedAt"))
    if stamp is None:
        msg = f"deal {deal.get('id')}: no {MODIFIED}; cannot page past it"
        raise FatalAPIError(msg)
    return stamp, int(deal["id"])


def cursor_pages(
    fetch: Callable[[str | None], dict[str, Any]], what: str
) -> Iterator[list[dict[str, Any]]]:
    """Yield ``results`` of every page of a cursor-paged GET (``paging.next.after``).

    Raises:
        FatalAPIError: the same ``after`` comes back twice.
    """
    def next_after(body: dict[str, Any]) -> str | None:
        return ((body.get("paging") or {}).get("next") or {}).get("after") or None

    for body in paginate(fetch, next_after, f"HubSpot {what}", token_name="paging cursor"):
        yield body.get("results") or []


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    """``items`` in consecutive lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
