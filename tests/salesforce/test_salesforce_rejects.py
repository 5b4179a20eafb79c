"""on_bad_record through the Salesforce connector against the sandbox: text in an Amount and an
impossible CloseDate are rejected (the rest of the page committed) or stop the run with one line,
the store left as before the page.

The sandbox, like Salesforce, cannot store such values, so the answers are spoiled on their way
from the client to the connector (as a Bulk CSV or a broken proxy could send them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.errors import RecordError
from connectors.salesforce.client import SalesforceClient
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store
from tests.salesforce.conftest import Sleeps, sandbox_settings, sync
from tests.salesforce.test_sandbox_sync import snapshot, start

pytestmark = pytest.mark.usefixtures("sandbox_env")


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
