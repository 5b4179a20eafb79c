"""The association sweep: partner associations that changed behind ``hs_lastmodifieddate``.

Moving a deal's partner company association, adding one or removing one does not move the
deal's ``hs_lastmodifieddate``, so the incremental search never returns the deal and its stored
partner stays the old one. The sweep re-reads the partner associations of the deals the store
holds (live ones) with the v4 associations batch read, 1,000 deal ids a call (HubSpot's limit
since 2025-02-10: https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api),
and sends on only the deals whose partner changed.

The rule (``sources.hubspot.association_sweep_max_deals``, *S*, default 50,000):

- a portal with at most *S* live deals has every deal swept on every run:
  ceil(n / 1,000) calls (50 at 50,000 deals);
- above *S*, each run sweeps a rotating slice of *S* deals in deal-id order, resuming after
  the last id of the previous slice (the sweep stream's watermark) and wrapping around:
  ceil(S / 1,000) calls a run (50), and every deal is re-read at least once every
  ceil(n / S) runs (1,000,000 deals: 20 runs; hourly syncs: within 20 hours);
- deals whose stored partner is flagged (archived, merged away, no longer a partner) are
  re-read on every run on top of the slice, so a merged-away partner's deals move to the
  survivor on the next run whatever the portal's size;
- ``0`` turns the sweep off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.base import StoredRecords
from connectors.hubspot import rows as R
from connectors.hubspot.streams import chunks

__all__ = ["ASSOC_BATCH", "SweepSlice", "changed_partners", "choose_slice", "partner_of",
           "read_partners", "sweep_calls"]

#: deal ids per ``POST /crm/v4/associations/deals/companies/batch/read``
ASSOC_BATCH = 1000
NO_ASSOCIATIONS = "crm.associations.NO_ASSOCIATIONS_FOUND"
_COLUMNS = ("deal_id", "partner_id")


@dataclass(frozen=True)
class SweepSlice:
    """The deals one run sweeps.

    Attributes:
        pairs: (deal id, stored partner id or None) of every deal to re-read, each once.
        cursor: the last deal id of a rotating slice (the next run starts after it); None when
            every live deal is swept (the portal is within the size).
        live: live deals stored.
    """

    pairs: list[tuple[str, str | None]]
    cursor: str | None
    live: int


def choose_slice(stored: StoredRecords, cursor: str | None, size: int) -> SweepSlice:
    """The deals this run re-reads (see the module docstring for the rule).

    Args:
        stored: the store's rows of this source.
        cursor: the last deal id swept by the previous run's rotating slice (None: start).
        size: ``association_sweep_max_deals`` (> 0).

    Returns:
        The slice, the deals of flagged partners included.
    """
    live = stored.count("deals")
    if live <= size:
        pairs = [(str(d), p) for d, p in stored.rows("deals", _COLUMNS)]
        next_cursor = None
    else:
        part = stored.rows("deals", _COLUMNS, after=cursor, limit=size)
        if len(part) < size:  # wrap around to the lowest ids
            part += stored.rows("deals", _COLUMNS, limit=size - len(part))
        pairs = [(str(d), p) for d, p in part]
        next_cursor = pairs[-1][0] if pairs else None
    flagged = [p for (p,) in stored.rows("partners", ("partner_id",), deleted=True)]
    if flagged:
        seen = {d for d, _ in pairs}
        pairs += [(str(d), p) for d, p in stored.rows("deals", _COLUMNS,
                                                     where_in=("partner_id", flagged))
                  if str(d) not in seen]
    return SweepSlice(pairs, next_cursor, live)


def sweep_calls(live: int, size: int, batch: int = ASSOC_BATCH) -> int:
    """Association calls of one run's slice (flagged partners' deals not counted).

    >>> sweep_calls(50_000, 50_000), sweep_calls(1_000_000, 50_000), sweep_calls(120, 50_000)
    (50, 50, 1)
    """
    return math.ceil(min(live, size) / batch) if size > 0 else 0


def partner_of(result: Mapping[str, Any], label: str) -> str | None:
    """The deal's partner company from one v4 association result: the one place the sweep turns
    an association into a partner (:func:`connectors.hubspot.rows.partner_from_associations`)."""
    return R.partner_from_associations(result, label)


def read_partners(
    fetch: Callable[[list[str]], dict[str, Any]], deal_ids: Sequence[str], label: str,
    results: dict[str, Mapping[str, Any]] | None = None,
) -> dict[str, str | None]:
    """Deal id -> partner company id (None: no company under ``label``) for the deals HubSpot
    answered about.

    A deal without any company comes back in ``errors`` (``NO_ASSOCIATIONS_FOUND``, HTTP 207):
    its partner is None. A deal HubSpot does not answer about (a result under another id: a
    merged-away deal read as its survivor) is left out: nothing is concluded about it.

    Args:
        fetch: ``POST /crm/v4/associations/deals/companies/batch/read`` (ids -> body).
        deal_ids: the deals to read, sent 1,000 a call.
        label: the association label naming the partner.
        results: when given, filled with deal id -> its association result (every label),
            for the deals answered about (a deal without companies: an empty result).
    """
    found: dict[str, str | None] = {}
    for chunk in chunks(list(deal_ids), ASSOC_BATCH):
        asked = set(chunk)
        body = fetch(chunk)
        for result in body.get("results") or []:
            deal = str((result.get("from") or {}).get("id"))
            if deal in asked:
                found[deal] = partner_of(result, label)
                if results is not None:
                    results[deal] = result
        for error in body.get("errors") or []:
            if error.get("subCategory") != NO_ASSOCIATIONS:
                continue
            for deal in (error.get("context") or {}).get("fromObjectId") or []:
                if str(deal) in asked:
                    found[str(deal)] = None
    return found


def changed_partners(
    pairs: Sequence[tuple[str, str | None]], found: Mapping[str, str | None]
) -> list[tuple[str, str | None]]:
    """(deal id, new partner id) of the swept deals whose partner is not the stored one."""
    return [(deal, found[deal]) for deal, stored in pairs
            if deal in found and found[deal] != stored]
