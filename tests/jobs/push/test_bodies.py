"""Exact request bodies: Salesforce sObject Collections through ``responses`` (batches of 200,
only changed fields, C-10's per-position failure), HubSpot batch updates through the sandbox
(batches of 100) with a World of 250 partners."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses

from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.push import HubSpotPusher
from connectors.salesforce.push import SalesforcePusher
from connectors.sync import run_sync
from crm_sandbox.datasets import synthetic
from crm_sandbox.server import Sandbox
from crm_sandbox.world import Partner, World
from jobs.config import AppConfig
from jobs.run import push_targets
from kpi_engine.store import Store
from tests.helpers.writeback import (
    COLLECTIONS,
    DESCRIBE,
    DESCRIBE_BODY,
    HS_FIELDS,
    RETRIEVE,
    MockOrg,
    Sleeps,
    add_salesforce_preflight,
    hs_source,
    insert_kpis,
    policy,
    seed_store,
    sf_config,
)

TODAY = date(2025, 6, 1)


@pytest.fixture
def sf_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WB_SF_ACCESS_TOKEN", "00Dtest!token")


@responses.activate
@pytest.mark.usefixtures("sf_token")
def test_salesforce_bodies_batches_of_200_then_only_changed_fields(tmp_path: Path) -> None:
    ids = [f"001XX{n:010d}AAA" for n in range(1, 251)]
    partners = [(pid, f"Partner {n}") for n, pid in enumerate(ids, start=1)]
    seed_store(tmp_path / "s.duckdb", "salesforce", partners, {
        "win_rate": {pid: f"0.{n % 100:02d}" for n, pid in enumerate(ids, start=1)},
        "average_deal_size": {pid: f"{1000 + n}.125" for n, pid in enumerate(ids, start=1)},
        "quality_score": {pid: "50" for pid in ids},
    })
    org = MockOrg()
    seen = org.updates
    responses.get(DESCRIBE, json=DESCRIBE_BODY)
    add_salesforce_preflight(responses)
    org.register(responses)
    config = sf_config(tmp_path / "s.duckdb")
    with Store(config.database) as store:
        (first,) = push_targets(config, store, today=TODAY, policy=policy())
    assert [len(b["records"]) for b in seen] == [200, 50]
    assert all(b["allOrNone"] is False for b in seen)
    assert seen[0]["records"][0] == {
        "attributes": {"type": "Account"}, "id": "001XX0000000001AAA",
        "Partner_Win_Rate__c": 1, "Partner_Avg_Deal_Size__c": 1001.13,
        "Partner_Quality_Score__c": 50}
    assert seen[1]["records"][-1] == {
        "attributes": {"type": "Account"}, "id": "001XX0000000250AAA",
        "Partner_Win_Rate__c": 50, "Partner_Avg_Deal_Size__c": 1250.13,
        "Partner_Quality_Score__c": 50}
    assert (first.records_written, first.write_calls, first.read_calls) == (250, 2, 1)
    assert org.retrieves == [{"ids": ids, "fields": [
        "Id", "Partner_Win_Rate__c", "Partner_Avg_Deal_Size__c", "Partner_Quality_Score__c"]}]

    # one KPI of two partners changes: one call, only those records, only that field
    with Store(config.database) as store:
        store.con.execute("UPDATE kpi_wide SET win_rate = 0.333 WHERE member IN (?, ?)",
                          [ids[4], ids[210]])
        seen.clear()
        (second,) = push_targets(config, store, today=TODAY, policy=policy())
    assert seen == [{"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "id": ids[4], "Partner_Win_Rate__c": 33.3},
        {"attributes": {"type": "Account"}, "id": ids[210], "Partner_Win_Rate__c": 33.3}]}]
    assert (second.records_written, second.fields_written, second.write_calls) == (2, 2, 1)


C10_IDS = ["001XX00000000P1AAA", "001XX00000000P2AAA", "001XX00000000P3AAA"]


@responses.activate
@pytest.mark.usefixtures("sf_token")
def test_salesforce_c10_failure_attributed_by_input_position(tmp_path: Path) -> None:
    """C-10: the failed result carries ``id: null``; it is P2's because it is second."""
    seed_store(tmp_path / "s.duckdb", "salesforce",
               [(pid, f"P{n}") for n, pid in enumerate(C10_IDS, start=1)],
               {"average_deal_size": dict(zip(C10_IDS, ("90000.00", "25000.00", "0.00"),
                                              strict=True)),
                "win_rate": dict(zip(C10_IDS, ("0.50", "0.75", "0.00"), strict=True))})
    c10 = [
        {"success": True, "created": False, "id": C10_IDS[0], "errors": []},
        {"success": False, "created": False, "id": None, "errors": [
            {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
             "message": "Tier must be set before KPIs", "fields": []}]},
        {"success": True, "created": False, "id": C10_IDS[2], "errors": []},
    ]
    responses.get(DESCRIBE, json=DESCRIBE_BODY)
    add_salesforce_preflight(responses)
    MockOrg().register(responses)
    responses.replace(responses.PATCH, COLLECTIONS, json=c10)
    (call,) = [r for r in responses.registered() if r.method == "PATCH"]
    fields = {"average_deal_size": "Partner_Avg_Deal_Size__c", "win_rate": "Partner_Win_Rate__c"}
    config = AppConfig.model_validate({
        **sf_config(tmp_path / "s.duckdb").model_dump(exclude={"writeback", "path"}),
        "writeback": {"salesforce": {"fields": fields}}})
    with Store(config.database) as store:
        (result,) = push_targets(config, store, today=TODAY, policy=policy())
        state = store.con.execute(
            "SELECT record_id, count(*) FROM push_state GROUP BY 1 ORDER BY 1").fetchall()
    assert json.loads(call.calls[0].request.body)["records"] == [
        {"attributes": {"type": "Account"}, "id": C10_IDS[0],
         "Partner_Avg_Deal_Size__c": 90000, "Partner_Win_Rate__c": 50},
        {"attributes": {"type": "Account"}, "id": C10_IDS[1],
         "Partner_Avg_Deal_Size__c": 25000, "Partner_Win_Rate__c": 75},
        {"attributes": {"type": "Account"}, "id": C10_IDS[2],
         "Partner_Avg_Deal_Size__c": 0, "Partner_Win_Rate__c": 0}]
    assert (result.status, result.records_written, result.records_failed) == ("partial", 2, 1)
    (failure,) = result.failures
    assert (failure.record_id, failure.error_code, failure.message) == (
        "001XX00000000P2AAA", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Tier must be set before KPIs")
    assert state == [(C10_IDS[0], 2), (C10_IDS[2], 2)]  # P2 not marked pushed: retried next time


@responses.activate
@pytest.mark.usefixtures("sf_token")
def test_salesforce_429_is_retried_with_retry_after_and_recording_sleep(tmp_path: Path) -> None:
    seed_store(tmp_path / "s.duckdb", "salesforce", [(C10_IDS[0], "P1")],
               {"quality_score": {C10_IDS[0]: "12.5"}})
    responses.get(DESCRIBE, json=DESCRIBE_BODY)
    add_salesforce_preflight(responses)
    responses.post(RETRIEVE, json=[{"attributes": {"type": "Account"}, "Id": C10_IDS[0],
                                    "Partner_Quality_Score__c": None}])
    responses.patch(COLLECTIONS, status=429, headers={"Retry-After": "7"},
                    json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}])
    responses.patch(COLLECTIONS, json=[{"id": C10_IDS[0], "success": True, "errors": []}])
    sleeps = Sleeps()
    config = sf_config(tmp_path / "s.duckdb", fields={"quality_score": "Partner_Quality_Score__c"})
    with Store(config.database) as store:
        pusher = SalesforcePusher(config.sources.salesforce, config.writeback.salesforce,
                                  policy=policy(sleeps))
        (result,) = push_targets(config, store, pushers={"salesforce": pusher})
    assert sleeps == [7.0]
    assert (result.status, result.write_calls) == ("ok", 2)


@responses.activate
@pytest.mark.usefixtures("sf_token")
def test_salesforce_standard_or_read_only_field_refused_before_any_write(tmp_path: Path) -> None:
    from connectors.errors import ConfigError

    seed_store(tmp_path / "s.duckdb", "salesforce", [(C10_IDS[0], "P1")], {})
    body = json.loads(json.dumps(DESCRIBE_BODY))
    body["fields"][2]["updateable"] = False
    body["fields"].append({"name": "NumberOfEmployees", "type": "int", "updateable": True,
                           "custom": False})
    responses.get(DESCRIBE, json=body)
    add_salesforce_preflight(responses)
    config = AppConfig.model_validate({
        **sf_config(tmp_path / "s.duckdb").model_dump(exclude={"writeback", "path"}),
        "writeback": {"salesforce": {"fields": {
            "win_rate": "Partner_Win_Rate__c", "deals_won": "NumberOfEmployees"},
            "allow_standard_fields": ["NumberOfEmployees"]}}})
    with Store(config.database) as store, pytest.raises(ConfigError) as refused:
        push_targets(config, store, today=TODAY, policy=policy())
    assert refused.value.problems == [
        "salesforce: Account.Partner_Win_Rate__c is not updateable "
        "(writeback.salesforce.fields.win_rate); give the integration user edit access to it"]
    # the preflight's versions, describe and limits: nothing written
    assert [c.request.method for c in responses.calls] == ["GET", "GET", "GET"]


# -- HubSpot: batches of 100 through the sandbox --------------------------------------------


@pytest.fixture(scope="module")
def many_partners() -> Iterator[Sandbox]:
    """A sandbox whose World has 250 partner companies (and no deals)."""
    base = synthetic(400, 11)
    partners = [Partner(f"P{n:04d}", f"Synthetic Partner {n}", "Reseller", "Gold")
                for n in range(1, 251)]
    world = World(partners=partners, owners=base.owners, stages=base.stages, deals=[])
    with Sandbox(world).start() as sb:
        yield sb


@pytest.mark.slow
def test_hubspot_bodies_batches_of_100_from_250_partners(
    many_partners: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = many_partners
    path = tmp_path / "s.duckdb"
    counter = itertools.count(step=100.0)
    settings = HubSpotSettings.model_validate(hs_source(sb))
    with Store(path) as store:
        run_sync(store, HubSpotConnector(settings, "USD", policy=policy(), now=sb.clock.now,
                                         monotonic=lambda: float(next(counter))))
        ids = [r[0] for r in store.con.execute(
            "SELECT partner_id FROM partners WHERE source = 'hubspot' ORDER BY partner_id"
        ).fetchall()]
    assert len(ids) == 250
    with Store(path) as store:
        insert_kpis(store, [(pid, None, "win_rate", str(Decimal(n % 7) / 8))
                            for n, pid in enumerate(ids)])
    bodies: list[dict[str, Any]] = []
    original = HubSpotClient.update_companies

    def recording(self: HubSpotClient, body: dict[str, Any]) -> dict[str, Any]:
        bodies.append(json.loads(json.dumps(body)))
        return original(self, body)

    monkeypatch.setattr(HubSpotClient, "update_companies", recording)
    config = AppConfig.model_validate({
        "database": str(path), "sources": {"hubspot": hs_source(sb)},
        "writeback": {"hubspot": {"fields": {"win_rate": HS_FIELDS["win_rate"]}}}})
    sb.calls.clear()
    with Store(path) as store:
        pusher = HubSpotPusher(settings, config.writeback.hubspot, policy=policy())
        (result,) = push_targets(config, store, pushers={"hubspot": pusher}, today=TODAY)
    assert [len(b["inputs"]) for b in bodies] == [100, 100, 50]
    assert bodies[0]["inputs"][:3] == [
        {"id": ids[0], "properties": {"partner_win_rate": "0"}},
        {"id": ids[1], "properties": {"partner_win_rate": "0.13"}},  # 0.125: 2 places
        {"id": ids[2], "properties": {"partner_win_rate": "0.25"}}]
    assert [c for c in sb.calls if c[1].endswith("batch/update")] == [
        ("POST", "/crm/v3/objects/companies/batch/update")] * 3
    assert (result.records_written, result.write_calls, result.read_calls) == (250, 3, 3)
    assert [c for c in sb.calls if c[1].endswith("batch/read")] == [
        ("POST", "/crm/v3/objects/companies/batch/read")] * 3
    assert sb.hubspot.record("companies", ids[249]).props["partner_win_rate"] == str(
        Decimal(249 % 7) / 8)
