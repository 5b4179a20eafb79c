"""The association sweep's rule (connectors/hubspot/sweep.py) over a real store: which stored
deals a run re-reads, the rotating slice's cursor and wrap-around, the flagged partners' deals
on top, and the calls the rule costs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.hubspot.sweep import changed_partners, choose_slice, sweep_calls
from connectors.sync import StoreView
from kpi_engine.store import Store

#: deal id -> stored partner; 106 is flagged deleted, partner P2 is flagged
DEALS = {"101": "P1", "102": "P2", "103": None, "104": "P1", "105": "P1", "106": "P1"}


@pytest.fixture
def view() -> Iterator[StoreView]:
    with Store(":memory:") as store:
        store.upsert("partners", [
            {"source": "hubspot", "partner_id": "P1", "is_deleted": False},
            {"source": "hubspot", "partner_id": "P2", "is_deleted": True},
            {"source": "salesforce", "partner_id": "P3", "is_deleted": True},
        ])
        store.upsert("deals", [
            {"source": "hubspot", "deal_id": d, "partner_id": p, "is_closed": False,
             "is_won": False, "is_deleted": d == "106"} for d, p in DEALS.items()
        ] + [{"source": "salesforce", "deal_id": "201", "partner_id": "P3", "is_closed": False,
              "is_won": False, "is_deleted": False}])
        yield StoreView(store, "hubspot")


def test_sweep_within_the_size_reads_every_live_deal_every_run(view) -> None:
    chosen = choose_slice(view, "103", 5)  # a cursor left by an earlier size is ignored
    assert chosen.pairs == [("101", "P1"), ("102", "P2"), ("103", None), ("104", "P1"),
                            ("105", "P1")]
    assert (chosen.cursor, chosen.live) == (None, 5)


def test_sweep_above_the_size_rotates_and_wraps_with_flagged_partners_on_top(view) -> None:
    slices, cursor = [], None
    for _ in range(3):
        chosen = choose_slice(view, cursor, 2)
        slices.append([d for d, _ in chosen.pairs])
        cursor = chosen.cursor
    # 102 (partner P2 flagged) is in every run's slice; 105 then 101 after the wrap-around
    assert slices == [["101", "102"], ["103", "104", "102"], ["105", "101", "102"]]
    assert cursor == "101"


def test_sweep_changed_partners_only() -> None:
    pairs = [("101", "P1"), ("102", "P2"), ("103", None), ("104", "P1")]
    found = {"101": "P1", "102": "P9", "103": "P1"}  # 104: HubSpot said nothing about it
    assert changed_partners(pairs, found) == [("102", "P9"), ("103", "P1")]


@pytest.mark.parametrize(("live", "size", "calls"), [
    (50_000, 50_000, 50), (1_000_000, 50_000, 50), (1_000_000, 10**9, 1_000), (120, 50_000, 1),
    (0, 50_000, 0), (50_000, 0, 0),
])
def test_sweep_calls_from_the_rule(live: int, size: int, calls: int) -> None:
    assert sweep_calls(live, size) == calls
