"""on_bad_record through the HubSpot connector against the sandbox: text in an amount, an
impossible date, an unknown stage id and a partner id naming no company are rejected (the rest
of the page committed), kept with the value NULL (keep; never for a stage) or stop the run with
one line, the store left as before the page."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.errors import RecordError
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.hubspot import rows, sync
from tests.helpers.hubspot_cases import cases_world

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

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


# -- a deal whose partner id names no company ----------------------------------------------------
NO_PARTNER = "is not a company of this portal synced as a partner (no such company)"
BY_PROPERTY = {"partner_property": "partner_company_id"}


def add_unknown_partner_deal(sb: Sandbox) -> str:
    """A won deal of 700 (closed 2024-05-02) whose partner_company_id names no company."""
    return sb.hubspot.create("deals", {"dealname": "ghost", "dealstage": "Won", "amount": "700",
                                       "closedate": "2024-05-02", "partner_company_id": "999999"})


def test_hubspot_unknown_partner_kept_unattributed_under_keep() -> None:
    with Sandbox(cases_world(), clock=Clock(NOW)) as sb, Store(":memory:") as store:
        sync(store, sb, **BY_PROPERTY)
        none_before = quarter_won(store, "none")
        ghost = add_unknown_partner_deal(sb)
        result = sync(store, sb, **BY_PROPERTY)
        deal = rows(store, "SELECT partner_id, amount, is_won FROM deals WHERE deal_id = ?", ghost)
        rejects = rows(store, "SELECT source, stream, record_id, field, value, reason, run_id "
                              "FROM rejects")
        none_after = quarter_won(store, "none")
        ghost_member = quarter_won(store, "999999")
    assert deal == [(None, Decimal(700), True)]
    assert rejects == [("hubspot", "deals", ghost, "partner_company_id", "999999", NO_PARTNER,
                        result.run_id)]
    assert (none_before, none_after, ghost_member) == (None, Decimal(700), None)
    assert result.streams["deals"].rejected == 1


def test_hubspot_unknown_partner_rejected_or_stops() -> None:
    with Sandbox(cases_world(), clock=Clock(NOW)) as sb, Store(":memory:") as store:
        sync(store, sb, **BY_PROPERTY)
        before = snapshot(store)
        ghost = add_unknown_partner_deal(sb)
        with pytest.raises(RecordError) as info:
            sync(store, sb, on_bad_record="stop", **BY_PROPERTY)
        assert snapshot(store) == before
        result = sync(store, sb, on_bad_record="reject", **BY_PROPERTY)
        left_out = rows(store, "SELECT count(*) FROM deals WHERE deal_id = ?", ghost)
        fields = rows(store, "SELECT record_id, field, value FROM rejects")
    assert str(info.value) == (
        f"deal {ghost}: partner_company_id '999999': {NO_PARTNER} "
        "(on_bad_record: stop; set it to keep or reject to go on)"
    )
    assert left_out == [(0,)]
    assert fields == [(ghost, "partner_company_id", "999999")]
    assert result.streams["deals"].rejected == 1


def test_hubspot_partner_of_another_type_read_through_its_deal_is_known() -> None:
    """A company that is not of a partner type is read through the deal naming it (same page)."""
    with Sandbox(cases_world(), clock=Clock(NOW)) as sb, Store(":memory:") as store:
        sync(store, sb, **BY_PROPERTY)
        hs = sb.hubspot
        other = hs.create("companies", {"name": "Other Co", "type": "VENDOR"})
        deal = hs.create("deals", {"dealname": "via vendor", "dealstage": "Won", "amount": "5",
                                   "partner_company_id": other})
        result = sync(store, sb, on_bad_record="stop", **BY_PROPERTY)
        kept = rows(store, "SELECT partner_id FROM deals WHERE deal_id = ?", deal)
    assert kept == [(other,)]
    assert result.streams["deals"].rejected == 0


def quarter_won(store: Store, member: str) -> Decimal | None:
    """won_amount of the partner ``member`` in Q2 2024, computed now."""
    compute(store, KpiSettings(reporting_currency="USD"), ["quarter"])
    found = rows(store, "SELECT value FROM kpi_values WHERE grain = 'quarter' AND "
                        "period_start = DATE '2024-04-01' AND dimension = 'partner' AND "
                        "member = ? AND kpi = 'won_amount'", member)
    return found[0][0] if found else None
