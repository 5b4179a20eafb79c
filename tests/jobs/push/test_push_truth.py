"""Push against the CRM's truth, through the CRM sandbox over real HTTP: a value a person edits
in the CRM is seen and rewritten (the drift test), per-field policies, ``--force``, rounding of
the values sent, the period / as-of fields, and the read calls counted."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from click.testing import CliRunner

from cli import cli
from crm_sandbox.server import Sandbox
from jobs.run import push_targets
from kpi_engine.store import Store
from tests.helpers.maven import write_config
from tests.helpers.writeback import (
    DESCRIBE,
    DESCRIBE_BODY,
    HS_FIELDS,
    PERIOD,
    SF_FIELDS,
    MockOrg,
    add_salesforce_preflight,
    app_config,
    config_dict,
    policy,
    seed_store,
    sf_config,
    writes,
)

TODAY = date(2025, 6, 1)
#: Cara Losch Partners: win rate 0.5879828326 in 2017-Q4 (58.80 in the percent field)
SF_CARA, HS_CARA = "001XX0000000001YAA", "5000000001"


def person_edits(sb: Sandbox, crm: str, record_id: str, values: dict[str, Any]) -> None:
    """A person changes fields in the CRM (the sandbox's update control, over HTTP)."""
    object_type = "Account" if crm == "salesforce" else "companies"
    resp = requests.post(f"{sb.url}/_sandbox/{crm}/update", timeout=30, verify=sb.ca_bundle,
                         json={"object_type": object_type, "id": record_id, "values": values})
    resp.raise_for_status()


def sf_field(sb: Sandbox, record_id: str, field: str) -> Any:
    return sb.salesforce.store.get("Account", record_id)[field]


def hs_prop(sb: Sandbox, record_id: str, prop: str) -> Any:
    return sb.hubspot.record("companies", record_id).props.get(prop)


def wb(crm: str, **settings: Any) -> dict[str, Any]:
    """``writeback`` for one CRM: the three Maven fields plus ``settings``."""
    fields = dict(SF_FIELDS if crm == "salesforce" else HS_FIELDS)
    return {crm: {"fields": {**fields, **settings.pop("fields", {})}, **settings}}


def push(sb: Sandbox, store_path: Path, crm: str, *, force: bool = False,
         dry_run: bool = False, **settings: Any) -> Any:
    config = app_config(config_dict(sb, store_path, writeback=wb(crm, **settings)))
    with Store(store_path) as store:
        (result,) = push_targets(config, store, target=crm, today=TODAY, policy=policy(),
                                 force=force, dry_run=dry_run)
    return result


def as_of_of(store_path: Path) -> date:
    """The day the 2017-Q4 values were measured at (``kpi_values.as_of``)."""
    with Store(store_path, read_only=True) as store:
        ((as_of,),) = store.con.execute(
            "SELECT DISTINCT as_of FROM kpi_values WHERE grain = 'quarter' AND "
            "period_start = ? AND dimension = 'partner'", [PERIOD]).fetchall()
    return as_of


@pytest.mark.slow
def test_push_drift_salesforce_field_edited_in_the_crm_is_rewritten(
    maven: Sandbox, store_path: Path
) -> None:
    first = push(maven, store_path, "salesforce")
    assert (first.records_written, first.read_calls) == (6, 1)
    person_edits(maven, "salesforce", SF_CARA, {"Partner_Win_Rate__c": 10})
    assert sf_field(maven, SF_CARA, "Partner_Win_Rate__c") == Decimal(10)

    plan = push(maven, store_path, "salesforce", dry_run=True)
    assert [(c.record_id, c.field, c.old, c.new) for c in plan.cells if c.action == "write"] == [
        (SF_CARA, "Partner_Win_Rate__c", Decimal(10), Decimal("58.80"))]
    assert plan.count("unchanged") == 17

    maven.calls.clear()
    again = push(maven, store_path, "salesforce")
    assert (again.records_written, again.fields_written, again.write_calls, again.read_calls) == (
        1, 1, 1, 1)
    assert sf_field(maven, SF_CARA, "Partner_Win_Rate__c") == Decimal("58.8")
    assert [c for c in maven.calls if c[0] == "POST" and "composite" in c[1]] == [
        ("POST", "/services/data/v60.0/composite/sobjects/Account")]
    with Store(store_path, read_only=True) as store:
        logged = store.con.execute(
            "SELECT old_value, new_value FROM push_log WHERE record_id = ? AND run_id = ?",
            [SF_CARA, again.run_id]).fetchall()
    assert logged == [(Decimal(10), Decimal("58.80"))]  # old: the CRM's value, not ours


@pytest.mark.slow
def test_push_drift_hubspot_property_edited_and_cleared_in_the_crm_is_rewritten(
    maven: Sandbox, store_path: Path
) -> None:
    push(maven, store_path, "hubspot")
    assert hs_prop(maven, HS_CARA, "partner_win_rate") == "0.59"
    person_edits(maven, "hubspot", HS_CARA, {"partner_win_rate": "0.1",
                                             "partner_avg_deal_size": ""})
    maven.calls.clear()
    again = push(maven, store_path, "hubspot")
    assert [(c.field, c.old, c.new) for c in again.cells if c.action == "write"] == [
        ("partner_win_rate", Decimal("0.1"), Decimal("0.59")),
        ("partner_avg_deal_size", None, Decimal("2271.15"))]
    assert (again.records_written, again.write_calls, again.read_calls) == (1, 1, 1)
    assert (hs_prop(maven, HS_CARA, "partner_win_rate"),
            hs_prop(maven, HS_CARA, "partner_avg_deal_size")) == ("0.59", "2271.15")
    assert [c for c in maven.calls if c[1].endswith("/batch/read")] == [
        ("POST", "/crm/v3/objects/companies/batch/read")]


@pytest.mark.slow
def test_push_policies_if_empty_keeps_a_persons_value_never_writes_nothing(
    maven: Sandbox, store_path: Path
) -> None:
    person_edits(maven, "salesforce", SF_CARA, {"Partner_Win_Rate__c": 10})
    result = push(maven, store_path, "salesforce", fields={
        "win_rate": {"field": "Partner_Win_Rate__c", "policy": "if_empty"},
        "quality_score": {"field": "Partner_Quality_Score__c", "policy": "never"}})
    by = {(c.record_id, c.kpi): c for c in result.cells}
    assert (by[SF_CARA, "win_rate"].action, by[SF_CARA, "win_rate"].old) == ("skip", Decimal(10))
    assert by["001XX0000000002YAA", "win_rate"].action == "write"  # empty: written
    assert {c.action for c in result.cells if c.kpi == "quality_score"} == {"skip"}
    assert (result.count("write"), result.count("skip"), result.records_written) == (11, 7, 6)
    assert sf_field(maven, SF_CARA, "Partner_Win_Rate__c") == Decimal(10)
    assert sf_field(maven, "001XX0000000002YAA", "Partner_Win_Rate__c") == Decimal("61.72")
    assert {sf_field(maven, rid, "Partner_Quality_Score__c")
            for rid in (SF_CARA, "001XX0000000006YAA")} == {None}


@pytest.mark.slow
def test_push_force_rewrites_every_unchanged_value_but_not_a_policys_skip(
    maven: Sandbox, store_path: Path
) -> None:
    push(maven, store_path, "salesforce")
    person_edits(maven, "salesforce", SF_CARA, {"Partner_Quality_Score__c": 99})
    settings = {"fields": {
        "quality_score": {"field": "Partner_Quality_Score__c", "policy": "if_empty"}}}
    assert push(maven, store_path, "salesforce", **settings).write_calls == 0
    maven.calls.clear()
    forced = push(maven, store_path, "salesforce", force=True, **settings)
    assert (forced.force, forced.records_written, forced.fields_written, forced.write_calls) == (
        True, 6, 12, 1)
    assert forced.count("skip") == 6  # six quality scores hold a value: if_empty keeps them
    assert sf_field(maven, SF_CARA, "Partner_Quality_Score__c") == Decimal(99)
    (patch,) = [c for c in maven.calls if c[0] == "PATCH"]
    assert patch == ("PATCH", "/services/data/v60.0/composite/sobjects")


@pytest.mark.slow
def test_push_cli_force_flag_rewrites_and_says_so_in_json(
    maven: Sandbox, store_path: Path, tmp_path: Path
) -> None:
    path = write_config(tmp_path / "f.yaml", config_dict(maven, store_path,
                                                         writeback=wb("hubspot")))
    runner = CliRunner()
    first = runner.invoke(cli, ["--config", str(path), "push", "--json"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(cli, ["--config", str(path), "push", "--json"])
    forced = runner.invoke(cli, ["--config", str(path), "push", "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    (s,), (f,) = json.loads(second.output), json.loads(forced.output)
    assert (s["write_calls"], s["read_calls"], s["fields_unchanged"], s["forced"]) == (
        0, 1, 18, False)
    assert (f["write_calls"], f["read_calls"], f["fields_written"], f["forced"]) == (
        1, 1, 18, True)


@pytest.mark.slow
def test_push_hubspot_rounding_as_configured_percent_and_scale(
    maven: Sandbox, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.hubspot.client import HubSpotClient

    bodies: list[dict[str, Any]] = []
    original = HubSpotClient.update_companies

    def recording(self: HubSpotClient, body: dict[str, Any]) -> dict[str, Any]:
        bodies.append(json.loads(json.dumps(body)))
        return original(self, body)

    monkeypatch.setattr(HubSpotClient, "update_companies", recording)
    result = push(maven, store_path, "hubspot", fields={
        "win_rate": {"field": "partner_win_rate", "percent": True, "scale": 1},
        "quality_score": {"field": "partner_quality_score", "scale": 0}})
    by = {(c.record_id, c.kpi): c for c in result.cells}
    assert (by[HS_CARA, "win_rate"].kpi_value, by[HS_CARA, "win_rate"].new) == (
        Decimal("0.5879828326"), Decimal("58.8"))
    # exact strings sent: 0.5879828326 x100 -> 58.8; 2271.1532846715 -> 2271.15; 16.67 -> 17
    (body,) = bodies
    assert body["inputs"][0] == {"id": HS_CARA, "properties": {
        "partner_win_rate": "58.8", "partner_avg_deal_size": "2271.15",
        "partner_quality_score": "17"}}
    props = maven.hubspot.record("companies", HS_CARA).props
    assert (props["partner_win_rate"], props["partner_avg_deal_size"],
            props["partner_quality_score"]) == ("58.8", "2271.15", "17")


@pytest.mark.slow
@pytest.mark.parametrize(("crm", "record_id", "period_field", "as_of_field"), [
    pytest.param("salesforce", SF_CARA, "Partner_KPI_Period__c", "Partner_KPI_As_Of__c",
                 id="salesforce"),
    pytest.param("hubspot", HS_CARA, "kpi_period", "kpi_as_of", id="hubspot"),
])
def test_push_writes_period_and_as_of_with_the_values(
    maven: Sandbox, store_path: Path, crm: str, record_id: str, period_field: str,
    as_of_field: str
) -> None:
    settings = {"kpi_period": period_field, "kpi_as_of": as_of_field}
    as_of = as_of_of(store_path)
    first = push(maven, store_path, crm, **settings)
    assert (first.records_written, first.fields_written) == (6, 30)
    if crm == "salesforce":
        stored = (sf_field(maven, record_id, period_field), sf_field(maven, record_id, as_of_field))
        assert stored == ("2017-Q4", as_of)
    else:
        stored = (hs_prop(maven, record_id, period_field), hs_prop(maven, record_id, as_of_field))
        assert stored == ("2017-Q4", as_of.isoformat())
    assert push(maven, store_path, crm, **settings).write_calls == 0  # nothing changed
    person_edits(maven, crm, record_id, {period_field: "2016-Q1"})
    again = push(maven, store_path, crm, **settings)
    assert [(c.kpi, c.old, c.new) for c in again.cells if c.action == "write"] == [
        ("kpi_period", "2016-Q1", "2017-Q4"), ("kpi_as_of", as_of.isoformat()
                                               if crm == "hubspot" else str(as_of), as_of)]
    assert (again.records_written, again.fields_written) == (1, 2)


@pytest.fixture
def sf_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WB_SF_ACCESS_TOKEN", "00Dtest!token")


@pytest.mark.usefixtures("sf_token")
def test_push_period_field_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    from connectors.errors import ConfigError

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(DESCRIBE, json=DESCRIBE_BODY)
        add_salesforce_preflight(rsps)
        config = sf_config(tmp_path / "s.duckdb", kpi_period="Partner_Quality_Score__c",
                           fields={"win_rate": "Partner_Win_Rate__c"})
        with Store(config.database) as store, pytest.raises(ConfigError) as refused:
            push_targets(config, store, today=TODAY, policy=policy())
    assert refused.value.problems == [
        "salesforce: Account.Partner_Quality_Score__c is of type double; kpi_period needs a "
        "text field (writeback.salesforce.kpi_period)"]


@pytest.mark.usefixtures("sf_token")
def test_push_salesforce_reads_4001_partners_in_3_calls_of_at_most_2000(tmp_path: Path) -> None:
    ids = [f"001XX{n:010d}AAA" for n in range(1, 4002)]
    seed_store(tmp_path / "s.duckdb", "salesforce", [(pid, f"P{n}") for n, pid in
                                                     enumerate(ids, start=1)],
               {"quality_score": {pid: "50" for pid in ids}})
    org = MockOrg(known=set(ids[:-1]))  # the last Account is gone from the org
    config = sf_config(tmp_path / "s.duckdb", fields={"quality_score": "Partner_Quality_Score__c"})
    with responses.RequestsMock() as rsps:
        rsps.get(DESCRIBE, json=DESCRIBE_BODY)
        add_salesforce_preflight(rsps)
        org.register(rsps)
        with Store(config.database) as store:
            (result,) = push_targets(config, store, today=TODAY, policy=policy())
    assert [len(r["ids"]) for r in org.retrieves] == [2000, 2000, 1]
    assert org.retrieves[2] == {"ids": [ids[-1]], "fields": ["Id", "Partner_Quality_Score__c"]}
    assert result.read_calls == 3  # ceil(4001 / 2000)
    assert (result.count("write"), result.write_calls) == (4001, 21)  # ceil(4001 / 200)
    gone = result.cells[-1]
    assert (gone.record_id, gone.old_known, gone.action) == (ids[-1], False, "write")


def test_writeback_field_options_validate() -> None:
    from connectors.salesforce.settings import SalesforceWriteback

    wb_settings = SalesforceWriteback.model_validate({"policy": "if_empty", "fields": {
        "win_rate": {"field": "Partner_Win_Rate__c", "policy": "overwrite", "scale": 1},
        "quality_score": "Partner_Quality_Score__c"}, "kpi_period": "Partner_KPI_Period__c"})
    assert wb_settings.fields == {"win_rate": "Partner_Win_Rate__c",
                                  "quality_score": "Partner_Quality_Score__c"}
    assert (wb_settings.policy_of("win_rate"), wb_settings.policy_of("quality_score")) == (
        "overwrite", "if_empty")
    assert wb_settings.field_options["win_rate"].scale == 1
    assert wb_settings.extra_fields() == {"kpi_period": "Partner_KPI_Period__c"}
    with pytest.raises(ValueError, match=r"kpi_as_of: Partner_Win_Rate__c is also written by "
                                         r"fields\.win_rate"):
        SalesforceWriteback.model_validate({"fields": {"win_rate": "Partner_Win_Rate__c"},
                                            "kpi_as_of": "Partner_Win_Rate__c"})
    with pytest.raises(ValueError, match="policy"):
        SalesforceWriteback.model_validate({"fields": {"win_rate": {
            "field": "Partner_Win_Rate__c", "policy": "sometimes"}}})


@pytest.mark.slow
def test_push_values_the_crm_holds_already_are_recorded_not_sent(
    maven: Sandbox, store_path: Path, tmp_path: Path
) -> None:
    """A store that never pushed (or lost a killed push's bookkeeping) meets a CRM that holds
    the values: no write call, and ``push_state`` records them."""
    import shutil

    fresh = tmp_path / "fresh.duckdb"
    shutil.copy(store_path, fresh)
    push(maven, store_path, "hubspot")
    maven.calls.clear()
    result = push(maven, fresh, "hubspot")
    assert (result.write_calls, result.count("unchanged"), writes(maven)) == (0, 18, [])
    with Store(fresh, read_only=True) as store:
        state = store.con.execute("SELECT count(*), count(DISTINCT record_id) FROM push_state "
                                  "WHERE run_id = ?", [result.run_id]).fetchall()
        logged = store.con.execute("SELECT count(*) FROM push_log").fetchall()
    assert (state, logged) == ([(18, 6)], [(0,)])


@pytest.mark.parametrize(("kind", "expected"), [
    ("date", date(2018, 1, 1)),
    ("datetime", datetime(2018, 1, 1, tzinfo=UTC)),
    ("text", "2018-01-01"),
], ids=["date", "datetime", "text"])
def test_push_as_of_value_follows_the_field_type(kind: str, expected: object) -> None:
    from connectors.base import FieldInfo
    from connectors.salesforce.settings import SalesforceWriteback
    from connectors.writeback import _extras
    from kpi_engine.periods import Period

    settings = SalesforceWriteback.model_validate({
        "fields": {"win_rate": "Partner_Win_Rate__c"}, "kpi_period": "Partner_KPI_Period__c",
        "kpi_as_of": "Partner_KPI_As_Of__c"})
    fields = {"partner_kpi_as_of__c": FieldInfo("Partner_KPI_As_Of__c", kind, True, True,
                                                False, kind=kind)}
    q4 = Period("quarter", date(2017, 10, 1), date(2018, 1, 1), date(2018, 1, 1), True)
    assert _extras(settings, q4, fields) == [
        ("kpi_period", "Partner_KPI_Period__c", "2017-Q4"),
        ("kpi_as_of", "Partner_KPI_As_Of__c", expected)]
    to_date = Period("quarter", date(2026, 10, 1), date(2027, 1, 1), date(2026, 12, 3), False)
    assert _extras(settings, to_date, fields)[0][2] == "2026-Q4 to date"
