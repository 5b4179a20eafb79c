"""on_bad_record through the Salesforce connector against the sandbox: text in an Amount, an
impossible CloseDate, a StageName the org's OpportunityStage list lacks and a partner id naming
no synced partner Account are rejected (the rest of the page committed), kept with the value
NULL (keep; never for a stage) or stop the run with one line, the store left as before the page.

The sandbox, like Salesforce, cannot store such values, so the answers are spoiled on their way
from the client to the connector (as a Bulk CSV or a broken proxy could send them)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors.errors import RecordError
from connectors.salesforce.client import SalesforceClient
from crm_sandbox.server import Sandbox
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.salesforce import Sleeps, kpi, sandbox_settings, snapshot, start, sync

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]


@pytest.fixture
def own() -> Iterator[Sandbox]:
    with start() as sb:
        yield sb


def spoil(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Answers carry text in D1's Amount and an impossible CloseDate for D2."""
    sf = sb.salesforce
    text, day = sf.id_for("Opportunity", "D1"), sf.id_for("Opportunity", "D2")
    bad = {text: {"Amount": "n/a"}, day: {"CloseDate": "2024-13-45"}}
    real = SalesforceClient.query_pages

    def query_pages(self: SalesforceClient, soql: str, what: str) -> Iterator[dict[str, Any]]:
        for body in real(self, soql, what):
            for record in body.get("records") or []:
                record.update(bad.get(record.get("Id"), {}) if "Amount" in record else {})
            yield body

    monkeypatch.setattr(SalesforceClient, "query_pages", query_pages)
    return text, day


def test_salesforce_bad_records_rejected_rest_of_page_committed(
    own: Sandbox, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(":memory:") as store:
        text, day = spoil(own, monkeypatch)
        result, _ = sync(store, sandbox_settings(own, on_bad_record="reject"), sleeps)
        deals = {r[0] for r in store.con.execute("SELECT deal_id FROM deals").fetchall()}
        rejects = store.con.execute(
            "SELECT source, stream, record_id, field, value, reason, run_id FROM rejects "
            "ORDER BY record_id"
        ).fetchall()
    assert rejects == sorted([
        ("salesforce", "deals", text, "Amount", "n/a", "'n/a' is not a number", result.run_id),
        ("salesforce", "deals", day, "CloseDate", "2024-13-45",
         "'2024-13-45' is not a date (YYYY-MM-DD)", result.run_id),
    ])
    assert text not in deals
    assert day not in deals
    assert len(deals) == 451  # D3 and the 450 fillers
    assert result.streams["deals"].rejected == 2


def test_salesforce_stop_fails_with_one_line_and_store_as_before_the_page(
    own: Sandbox, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(":memory:") as store:
        sync(store, sandbox_settings(own), sleeps)
        before = snapshot(store)
        own.salesforce.update("Opportunity", own.salesforce.id_for("Opportunity", "D3"),
                              {"Name": "changed"})
        _, day = spoil(own, monkeypatch)  # D2 comes first (ordered by SystemModstamp)
        with pytest.raises(RecordError) as info:
            sync(store, sandbox_settings(own, on_bad_record="stop"), sleeps)
        assert snapshot(store) == before
        assert store.con.execute("SELECT count(*) FROM rejects").fetchall() == [(0,)]
    assert str(info.value) == (
        f"deal {day}: CloseDate '2024-13-45': '2024-13-45' is not a date (YYYY-MM-DD) "
        "(on_bad_record: stop; set it to keep or reject to go on)"
    )


# -- references: a deal's stage and partner must be records synced from the org ----------------
STOP_HINT = "(on_bad_record: stop; set it to keep or reject to go on)"
NOT_A_PARTNER = (
    "is not a partner Account synced from this org (not matched by partner_filter, or deleted)"
)
NO_STAGE = "is not a stage in the org's OpportunityStage list"


def rejects_of(store: Store) -> list[tuple]:
    return store.con.execute(
        "SELECT source, stream, record_id, field, value, reason, run_id FROM rejects "
        "ORDER BY record_id, field"
    ).fetchall()


def won_amount(store: Store, member: str) -> Any:
    compute(store, KpiSettings(reporting_currency="USD"), ["quarter"])
    return kpi(store, "partner", member, "won_amount")


def test_salesforce_unknown_stage_name_left_out_even_under_keep(
    own: Sandbox, sleeps: Sleeps
) -> None:
    sf = own.salesforce
    d1 = sf.id_for("Opportunity", "D1")
    sf.update("Opportunity", d1, {"StageName": "Closed Won (old)"})
    with Store(":memory:") as store:
        result, _ = sync(store, sandbox_settings(own), sleeps)
        deals = {r[0] for r in store.con.execute("SELECT deal_id FROM deals").fetchall()}
        assert rejects_of(store) == [
            ("salesforce", "deals", d1, "StageName", "Closed Won (old)", NO_STAGE, result.run_id)
        ]
        p1 = sf.id_for("Account", "P1")
        assert won_amount(store, p1) == Decimal("80000")  # D2 only (100000 CAD at 1.25)
    assert d1 not in deals
    assert len(deals) == 2 + 450
    assert result.streams["deals"].rejected == 1


def test_salesforce_unknown_stage_name_stops_with_one_line(own: Sandbox, sleeps: Sleeps) -> None:
    sf = own.salesforce
    with Store(":memory:") as store:
        sync(store, sandbox_settings(own), sleeps)
        before = snapshot(store)
        d3 = sf.id_for("Opportunity", "D3")
        sf.update("Opportunity", d3, {"StageName": "Qualify"})
        with pytest.raises(RecordError) as info:
            sync(store, sandbox_settings(own, on_bad_record="stop"), sleeps)
        assert snapshot(store) == before
        assert store.con.execute("SELECT count(*) FROM rejects").fetchall() == [(0,)]
        assert store.con.execute(
            "SELECT status, error FROM sync_runs ORDER BY run_id DESC LIMIT 1"
        ).fetchall() == [("failed", str(info.value))]
    assert str(info.value) == f"deal {d3}: StageName 'Qualify': {NO_STAGE} {STOP_HINT}"
    assert (info.value.record, info.value.field, info.value.value) == (d3, "StageName", "Qualify")


def test_salesforce_new_stage_synced_in_the_same_run_is_known(own: Sandbox, sleeps: Sleeps) -> None:
    sf = own.salesforce
    with Store(":memory:") as store:
        sync(store, sandbox_settings(own), sleeps)
        sf.create("OpportunityStage", {"ApiName": "Qualify", "MasterLabel": "Qualify",
                                       "IsActive": True, "IsClosed": False, "IsWon": False,
                                       "DefaultProbability": 20, "SortOrder": 5})
        d3 = sf.id_for("Opportunity", "D3")
        sf.update("Opportunity", d3, {"StageName": "Qualify"})
        result, _ = sync(store, sandbox_settings(own, on_bad_record="stop"), sleeps)
        stage = store.con.execute("SELECT stage FROM deals WHERE deal_id = ?", [d3]).fetchall()
    assert stage == [("Qualify",)]
    assert result.streams["deals"].rejected == 0


def point_d1_at_a_customer(sb: Sandbox) -> tuple[str, str]:
    """D1's partner becomes the customer Account Acme Corp (outside partner_filter)."""
    sf = sb.salesforce
    d1, acme = sf.id_for("Opportunity", "D1"), sf.id_for("Account", "customer:Acme Corp")
    sf.update("Opportunity", d1, {"PartnerAccountId": acme})
    return d1, acme


def test_salesforce_unknown_partner_kept_unattributed_under_keep(
    own: Sandbox, sleeps: Sleeps
) -> None:
    d1, acme = point_d1_at_a_customer(own)
    p1 = own.salesforce.id_for("Account", "P1")
    with Store(":memory:") as store:
        result, _ = sync(store, sandbox_settings(own), sleeps)
        deal = store.con.execute(
            "SELECT partner_id, amount, is_won FROM deals WHERE deal_id = ?", [d1]
        ).fetchall()
        assert rejects_of(store) == [
            ("salesforce", "deals", d1, "PartnerAccountId", acme, NOT_A_PARTNER, result.run_id)
        ]
        assert won_amount(store, p1) == Decimal("80000")  # was 180000 with D1
        assert kpi(store, "partner", "none", "won_amount") == Decimal("100000")
        assert kpi(store, "partner", acme, "won_amount") is None  # never grouped under the id
    assert deal == [(None, Decimal("100000.000000"), True)]
    assert result.streams["deals"].rejected == 1


def test_salesforce_unknown_partner_rejected_or_stops(own: Sandbox, sleeps: Sleeps) -> None:
    d1, acme = point_d1_at_a_customer(own)
    with Store(":memory:") as store:
        result, _ = sync(store, sandbox_settings(own, on_bad_record="reject"), sleeps)
        left_out = store.con.execute(
            "SELECT count(*) FROM deals WHERE deal_id = ?", [d1]
        ).fetchall()
        assert [r[2:4] for r in rejects_of(store)] == [(d1, "PartnerAccountId")]
    assert left_out == [(0,)]
    assert result.streams["deals"].tables["deals"].inserted == 2 + 450
    with Store(":memory:") as store, pytest.raises(RecordError) as info:
        sync(store, sandbox_settings(own, on_bad_record="stop"), sleeps)
    assert str(info.value) == f"deal {d1}: PartnerAccountId '{acme}': {NOT_A_PARTNER} {STOP_HINT}"


def test_salesforce_partner_known_from_an_earlier_sync_or_the_same_run(
    own: Sandbox, sleeps: Sleeps
) -> None:
    """Partners are pulled incrementally: on the second run P1 is only in the store, and a
    partner created since is pulled (partners before deals) in the run that meets its deal."""
    sf = own.salesforce
    d1, d3 = sf.id_for("Opportunity", "D1"), sf.id_for("Opportunity", "D3")
    p1 = sf.id_for("Account", "P1")
    with Store(":memory:") as store:
        sync(store, sandbox_settings(own), sleeps)
        sf.update("Opportunity", d1, {"Name": "USD deal, renamed"})
        new = sf.create("Account", {"Name": "Partner New", "Type": "Partner"})
        sf.update("Opportunity", d3, {"PartnerAccountId": new})
        result, _ = sync(store, sandbox_settings(own, on_bad_record="stop"), sleeps)
        partners = store.con.execute(
            "SELECT deal_id, partner_id FROM deals WHERE deal_id IN (?, ?) ORDER BY deal_id",
            [d1, d3],
        ).fetchall()
    assert result.streams["partners"].inserted == 1  # only the new one: P1 came from the store
    assert result.streams["deals"].updated == 2
    assert partners == sorted([(d1, p1), (d3, new)])
