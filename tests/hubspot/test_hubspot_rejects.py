"""on_bad_record through the HubSpot connector against the sandbox: text in an amount, an
impossible date and an unknown stage id are rejected (the rest of the page committed) or stop
the run with one line, the store left as before the page."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.errors import RecordError
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store
from tests.hubspot.cases_world import cases_world
from tests.hubspot.hubspot_helpers import rows, sync

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
TABLES = ("deals", "partners", "owners", "stages", "stage_history")


def snapshot(store: Store) -> dict[str, list[tuple]]:
    return {t: sorted(rows(store, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def add_bad_and_good(sb: Sandbox) -> tuple[str, str, str, str]:
    hs = sb.hubspot
    text = hs.create("deals", {"dealname": "text", "dealstage": "Won", "amount": "n/a"})
    day = hs.create("deals", {"dealname": "day", "dealstage": "Won", "amount": "10",
                              "closedate": "2024-13-45"})
    stage = hs.create("deals", {"dealname": "stage", "dealstage": "nosuchstage", "amount": "5"})
    good = hs.create("deals", {"dealname": "good", "dealstage": "Won", "amount": "7"})
    return text, day, stage, good


def test_hubspot_bad_records_rejected_rest_of_page_committed() -> None:
    with Sandbox(cases_world(), clock=Clock(NOW)) as sb, Store(":memory:") as store:
        clean = sync(store, sb)
        text, day, stage, good = add_bad_and_good(sb)
        result = sync(store, sb, on_bad_record="reject")
        kept = rows(store, "SELECT deal_id, amount FROM deals WHERE deal_id IN (?, ?, ?, ?)",
                    text, day, stage, good)
        rejects = rows(store, "SELECT source, stream, record_id, field, value, reason, run_id "
                              "FROM rejects ORDER BY record_id")
    assert clean.streams["deals"].rejected == 0
    assert kept == [(good, Decimal(7))]
    expected = [
        ("hubspot", "deals", text, "amount", "n/a", "'n/a' is not a number", result.run_id),
        ("hubspot", "deals", day, "closedate", "2024-13-45",
         "'2024-13-45' is not an ISO-8601 date-time", result.run_id),
        ("hubspot", "deals", stage, "dealstage", "nosuchstage",
         "is not a stage of pipeline 'default'", result.run_id),
    ]
    assert rejects == sorted(expected)
    assert result.streams["deals"].rejected == 3
    assert result.streams["deals"].tables["deals"].inserted == 1


def test_hubspot_stop_fails_with_one_line_and_store_as_before_the_page() -> None:
    with Sandbox(cases_world(), clock=Clock(NOW)) as sb, Store(":memory:") as store:
        sync(store, sb)
        before = snapshot(store)
        hs = sb.hubspot
        good = hs.create("deals", {"dealname": "good", "dealstage": "Won", "amount": "7"})
        text = hs.create("deals", {"dealname": "text", "dealstage": "Won", "amount": "n/a"})
        with pytest.raises(RecordError) as info:
            sync(store, sb, on_bad_record="stop")
        assert snapshot(store) == before
        assert rows(store, "SELECT count(*) FROM rejects") == [(0,)]
        assert rows(store, "SELECT status, error FROM sync_runs ORDER BY run_id DESC LIMIT 1") == [
            ("failed", str(info.value))]
    assert good
    assert str(info.value) == (
        f"deal {text}: amount 'n/a': 'n/a' is not a number "
        "(on_bad_record: stop; set it to keep or reject to go on)"
    )
    assert (info.value.record, info.value.field, info.value.value) == (text, "amount", "n/a")


def test_hubspot_default_keep_stores_bad_values_as_null_but_not_unknown_stages() -> None:
    with Sandbox(cases_world(), clock=Clock(NOW)) as sb, Store(":memory:") as store:
        sync(store, sb)
        text, day, stage, good = add_bad_and_good(sb)
        result = sync(store, sb)
        kept = rows(store, "SELECT deal_id, amount, close_date FROM deals "
                           "WHERE deal_id IN (?, ?, ?, ?) ORDER BY deal_id", text, day, stage, good)
        reasons = rows(store, "SELECT record_id, field FROM rejects ORDER BY record_id")
    # text and day are kept with the unreadable value NULL; the unknown stage is left out
    assert [k[0] for k in kept] == sorted([text, day, good])
    assert dict((k[0], k[1]) for k in kept)[text] is None
    assert dict((k[0], k[2]) for k in kept)[day] is None
    assert sorted(reasons) == sorted([(text, "amount"), (day, "closedate"), (stage, "dealstage")])
    assert result.streams["deals"].rejected == 3
