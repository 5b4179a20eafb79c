"""End-to-end: the Salesforce connector against the CRM sandbox (a local HTTPS Salesforce).

One module-scoped sandbox serves a small World (read-only tests); tests that change records or
inject faults start their own (a sandbox starts in milliseconds). Waits are recorded, never slept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from connectors.errors import ConfigError, LimitReachedError
from connectors.sync import StreamResult
from crm_sandbox.server import Sandbox
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.salesforce import (
    N_FILLER,
    NOW,
    Sleeps,
    kpi,
    sandbox_settings,
    snapshot,
    start,
    sync,
)

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandbox]:
    """One read-only sandbox over the small World."""
    with start() as sb:
        yield sb


@pytest.fixture
def own() -> Iterator[Sandbox]:
    """A sandbox of the test's own (records change, faults are injected)."""
    with start() as sb:
        yield sb


# -- first sync, second sync -----------------------------------------------------------------
def test_sync_first_run_loads_every_stream(shared: Sandbox, sleeps: Sleeps) -> None:
    store = Store(":memory:")
    result, connector = sync(store, sandbox_settings(shared, page_size=200), sleeps)
    inserted = {name: c.inserted for name, c in result.streams.items()}
    assert inserted == {
        "currency_rates": 2,
        "stages": 4,
        "owners": 2,
        "partners": 2,
        "deals": 3 + N_FILLER,
        "stage_history": 2 * 2 + 1 + N_FILLER,
        "leads": 2,
        # one OpportunityPartner per partnered deal (the reverse rows left out)
        "deal_partners": 2 + N_FILLER,
        "field_refresh": 0,
        "deleted_sweep": 0,
    }
    assert result.streams["deals"].pages == 3  # 453 deals in pages of 200
    assert store.con.execute("SELECT name FROM partners ORDER BY name").fetchall() == [
        ("Partner North Ltd",),
        ("Société Générale Partenaires",),
    ]
    assert store.con.execute("SELECT team, unit FROM owners WHERE name = 'Rep One'").fetchall() == [
        ("EMEA Channel", "EMEA")
    ]
    # describes, one query per stream, more pages (902 OpportunityPartner rows: 4 more), the
    # count of deals and of partners, DatedConversionRate
    assert connector.api_usage.calls == 9 + 8 + 4 + 4 + 2 + 1
    assert connector.api_usage.left == connector.api_usage.max - connector.api_usage.used


def test_sync_second_run_unchanged_one_query_per_stream_writes_nothing(
    own: Sandbox, sleeps: Sleeps
) -> None:
    store = Store(":memory:")
    sync(store, sandbox_settings(own), sleeps)
    before = snapshot(store)
    state = store.con.execute("SELECT * FROM sync_state ORDER BY ALL").fetchall()
    own.calls.clear()
    result, _ = sync(store, sandbox_settings(own), sleeps)
    queries = [p for m, p in own.calls if "/query" in p]
    # one per stream (currency_rates .. deal_partners), DatedConversionRate, the Accounts no
    # longer partners, the counts of deals and partners
    assert len(queries) == 8 + 1 + 1 + 2
    assert sum(p.endswith("/queryAll/") for p in queries) == 8 + 1 + 1
    assert all(c.inserted == c.updated == c.deleted == 0 for c in result.streams.values())
    assert snapshot(store) == before
    assert store.con.execute("SELECT * FROM sync_state ORDER BY ALL").fetchall() == state


# -- incremental: changes and deletes ---------------------------------------------------------
def test_sync_incremental_after_changes_and_deletes(own: Sandbox, sleeps: Sleeps) -> None:
    store = Store(":memory:")
    sync(store, sandbox_settings(own), sleeps)
    sf = own.salesforce
    own.clock.advance(3600)
    d3 = sf.id_for("Opportunity", "D3")
    sf.update("Opportunity", d3, {"Amount": Decimal("777.77"), "StageName": "Negotiation"})
    sf.delete("Opportunity", sf.id_for("Opportunity", "F0001"))
    new = sf.create(
        "Opportunity",
        {
            "Name": "New",
            "StageName": "Prospecting",
            "CloseDate": date(2024, 7, 1),
            "OwnerId": sf.id_for("User", "U1"),
        },
    )
    result, _ = sync(store, sandbox_settings(own), sleeps)
    deals = result.streams["deals"]
    assert (deals.inserted, deals.updated, deals.deleted) == (1, 1, 1)
    assert store.con.execute(
        "SELECT amount, stage FROM deals WHERE deal_id = ?", [d3]
    ).fetchall() == [(Decimal("777.770000"), "Negotiation")]
    assert store.con.execute(
        "SELECT is_deleted FROM deals WHERE deal_id = ?", [sf.id_for("Opportunity", "F0001")]
    ).fetchall() == [(True,)]
    assert store.con.execute("SELECT count(*) FROM deals WHERE deal_id = ?", [new]).fetchall() == [
        (1,)
    ]
    assert result.streams["stage_history"].inserted == 2  # D3 changed stage; the new deal
    assert store.watermarks("salesforce").get("deals") == "2024-06-01T11:00:00.000000+00:00"


def test_sync_watermark_never_later_than_the_sync_start(own: Sandbox, sleeps: Sleeps) -> None:
    own.clock.advance(60)  # a record edited after "our" start
    own.salesforce.update("Opportunity", own.salesforce.id_for("Opportunity", "D1"), {"Name": "x"})
    store = Store(":memory:")
    sync(store, sandbox_settings(own), sleeps, now=NOW)
    assert store.watermarks("salesforce").get("deals") == "2024-06-01T10:00:00.000000+00:00"


# -- crash between pages ---------------------------------------------------------------------
def test_sync_crash_between_pages_then_rerun_equals_a_clean_run(
    own: Sandbox, sleeps: Sleeps
) -> None:
    settings = sandbox_settings(own, page_size=200)

    def crash(stream: str, counts: StreamResult) -> None:
        if stream == "deals" and counts.pages == 2:
            raise KeyboardInterrupt

    crashed = Store(":memory:")
    with pytest.raises(KeyboardInterrupt):
        sync(crashed, settings, sleeps, progress=crash)
    assert crashed.con.execute("SELECT count(*) FROM deals").fetchall() == [(400,)]
    sync(crashed, settings, sleeps)
    clean = Store(":memory:")
    sync(clean, settings, sleeps)
    assert snapshot(crashed) == snapshot(clean)


# -- faults ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("status", {"status": 503}),
        ("status", {"status": 500}),
        ("drop", {}),
        ("malformed_json", {}),
        ("delay", {"seconds": 0.0}),
    ],
    ids=["503", "500", "dropped-connection", "broken-json", "slow"],
)
def test_sync_transient_faults_are_retried(
    own: Sandbox, sleeps: Sleeps, kind: str, options: dict
) -> None:
    own.faults.add(kind, "GET", "/services/data/*/queryAll/*-*", times=2, **options)
    store = Store(":memory:")
    sync(store, sandbox_settings(own, page_size=200), sleeps)
    assert store.con.execute("SELECT count(*) FROM deals").fetchall() == [(3 + N_FILLER,)]
    assert len(sleeps) == (0 if kind == "delay" else 2)


def test_sync_short_pages_read_until_done_c01(own: Sandbox, sleeps: Sleeps) -> None:
    own.faults.add("short_pages", "GET", "/services/data/*/queryAll*", page_size=100, times=None)
    store = Store(":memory:")
    result, connector = sync(store, sandbox_settings(own), sleeps)
    assert result.streams["deals"].pages == 5
    assert connector.totals["deals"] == 3 + N_FILLER
    assert store.con.execute("SELECT count(DISTINCT deal_id) FROM deals").fetchall() == [
        (3 + N_FILLER,)
    ]


def test_sync_session_expired_mid_pagination_c08(own: Sandbox, sleeps: Sleeps) -> None:
    store = Store(":memory:")
    settings = sandbox_settings(own, page_size=200, streams=["deals"])
    own.calls.clear()

    def expire(stream: str, counts: StreamResult) -> None:
        if counts.pages == 1:
            own.salesforce.expire_sessions_after(0)

    result, connector = sync(store, settings, sleeps, progress=expire)
    assert result.status == "ok"
    assert store.con.execute("SELECT count(DISTINCT deal_id) FROM deals").fetchall() == [
        (3 + N_FILLER,)
    ]
    assert connector.client.logins == 2
    paths = [p for _, p in own.calls if "/query" in p or "oauth2" in p]
    dead = paths.index("/services/oauth2/token", 1)
    assert paths[dead - 1].startswith("/services/data/v60.0/queryAll/01g")  # the 401
    assert paths[dead + 1] == "/services/data/v60.0/queryAll/"  # re-issued, not the locator


def test_sync_daily_limit_403_stops_with_state_kept_c09(own: Sandbox, sleeps: Sleeps) -> None:
    store = Store(":memory:")
    settings = sandbox_settings(own, page_size=200, streams=["deals"])

    def exhaust(stream: str, counts: StreamResult) -> None:
        own.salesforce.exhaust_api_limit()

    with pytest.raises(LimitReachedError, match=r"API limit reached.*REQUEST_LIMIT_EXCEEDED"):
        sync(store, settings, sleeps, progress=exhaust)
    assert sleeps == []
    assert store.con.execute("SELECT status FROM sync_runs").fetchall() == [("stopped",)]
    assert store.watermarks("salesforce").get("deals") is not None
    assert store.con.execute("SELECT count(*) FROM deals").fetchall() == [(200,)]


def test_sync_stops_before_the_configured_share_of_the_allowance(
    own: Sandbox, sleeps: Sleeps
) -> None:
    own.salesforce.set_api_usage(used=7990, max_calls=10000)
    store = Store(":memory:")
    with pytest.raises(LimitReachedError, match="8000 of the org's 10000"):
        sync(store, sandbox_settings(own, page_size=200), sleeps)
    assert own.salesforce.usage.used == 8000


def test_sync_unknown_configured_field_fails_before_any_query(own: Sandbox, sleeps: Sleeps) -> None:
    own.calls.clear()
    with pytest.raises(ConfigError, match="User has no field Region__c"):
        sync(Store(":memory:"), sandbox_settings(own, owner_unit_field="Region__c"), sleeps)
    assert not [p for _, p in own.calls if "/query" in p]


# -- values: currencies (C-05), relationship fields and null parents (C-07) --------------------
def test_sync_then_compute_converts_currencies_c05(shared: Sandbox, sleeps: Sleeps) -> None:
    store = Store(":memory:")
    sync(store, sandbox_settings(shared), sleeps)
    assert store.con.execute(
        "SELECT currency, per_currency, rate FROM currency_rates ORDER BY currency"
    ).fetchall() == [
        ("CAD", "USD", Decimal("1.250000000000")),
        ("USD", "USD", Decimal("1.000000000000")),
    ]
    assert store.con.execute(
        "SELECT amount, currency FROM deals WHERE name = 'CAD deal'"
    ).fetchall() == [(Decimal("100000.000000"), "CAD")]
    compute(store, KpiSettings(reporting_currency="USD"), ["quarter"])
    p1 = shared.salesforce.id_for("Account", "P1")
    assert kpi(store, "partner", p1, "won_amount") == Decimal("180000")
    assert kpi(store, "partner", p1, "average_deal_size") == Decimal("90000")


def test_sync_relationship_fields_and_null_parents_c07(shared: Sandbox, sleeps: Sleeps) -> None:
    store = Store(":memory:")
    sync(store, sandbox_settings(shared, partner_field="Partner_Account__c"), sleeps)
    rows = store.con.execute(
        "SELECT name, partner_id IS NULL, account_name FROM deals WHERE name IN "
        "('USD deal', 'Orphan') ORDER BY name"
    ).fetchall()
    assert rows == [("Orphan", True, None), ("USD deal", False, "Acme Corp")]
    compute(store, KpiSettings(reporting_currency="USD"), ["quarter"])
    assert kpi(store, "partner", "none", "deals_created", "2024-01-01") == Decimal(1)


# -- large windows: Bulk API 2.0 ---------------------------------------------------------------
def test_sync_over_bulk_threshold_reads_through_bulk_with_the_same_rows(
    own: Sandbox, sleeps: Sleeps
) -> None:
    rest = Store(":memory:")
    sync(rest, sandbox_settings(own), sleeps)
    own.calls.clear()
    bulk = Store(":memory:")
    result, _ = sync(bulk, sandbox_settings(own, bulk_threshold=100), sleeps)
    assert any(p.endswith("/jobs/query") for _, p in own.calls)
    assert result.streams["deals"].inserted == 3 + N_FILLER
    assert snapshot(bulk) == snapshot(rest)  # UTF-8 names (case C-11), amounts, instants equal
