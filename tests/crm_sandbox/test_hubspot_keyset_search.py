"""The sandbox answers keyset search pages (sorted by hs_lastmodifieddate then hs_object_id,
``ts >= L`` or ``ts > T OR (ts = T AND id > I)``) from a sorted index: the records and their
order must equal the general path's (filter every record, then sort)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from connectors.hubspot.streams import keyset_groups
from connectors.values import parse_instant
from crm_sandbox.datasets import synthetic
from crm_sandbox.hubspot_search import compile_filter_groups, parse_sorts, sort_records
from crm_sandbox.server import Sandbox

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

SORTS = [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"},
         {"propertyName": "hs_object_id", "direction": "ASCENDING"}]


def _general(facade, body):
    """The general path: every live deal through the compiled filter, then sorted."""
    properties = facade.properties["deals"]
    store = facade.stores["deals"]
    predicate = compile_filter_groups(body["filterGroups"], properties)
    records = [store.by_id[i] for i in store.active]
    if predicate is not None:
        records = [r for r in records if predicate(r)]
    return [r.id for r in sort_records(records, parse_sorts(body["sorts"]), properties)]


def test_keyset_pages_equal_the_general_search() -> None:
    with Sandbox(synthetic(600, seed=3)) as sb:
        facade = sb.hubspot
        live = sorted(facade.stores["deals"].active)
        # edits at one frozen instant: many deals share one hs_lastmodifieddate (ties on ts)
        sb.clock.advance(timedelta(days=3).total_seconds())
        for deal_id in random.Random(5).sample(live, 60):
            facade.update("deals", str(deal_id), {"amount": "1234"})
        records = [facade.stores["deals"].by_id[i] for i in live]
        stamps = sorted({parse_instant(r.props["hs_lastmodifieddate"]) for r in records})
        probes = [None, stamps[0], stamps[len(stamps) // 2], stamps[-1]]
        checked = 0
        for lower in probes:
            body = {"filterGroups": keyset_groups(lower, None), "sorts": SORTS}
            if lower is not None:  # the first page of an incremental run: ts >= L
                assert [r.id for r in facade._search_matches("deals", body)] == _general(
                    facade, body)
                checked += 1
            for stamp in (stamps[1], stamps[-1], stamps[len(stamps) // 3]):
                tied = sorted(r.id for r in records
                              if parse_instant(r.props["hs_lastmodifieddate"]) == stamp)
                for last_id in (tied[0], tied[-1], tied[len(tied) // 2] + 0):
                    body = {"filterGroups": keyset_groups(lower, (stamp, last_id)),
                            "sorts": SORTS}
                    fast = [r.id for r in facade._search_matches("deals", body)]
                    assert fast == _general(facade, body)
                    checked += 1
        assert checked == 3 + 4 * 9
        # the index was used: it is cached for the store's version
        assert facade._keyset_indexes
