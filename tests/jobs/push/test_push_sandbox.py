"""Write-back against the CRM sandbox with the Maven World: plan, push, no-op second push,
per-record failures (C-10), field checks, ``--create-properties``."""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from connectors.errors import ConfigError
from crm_sandbox.server import Sandbox
from jobs.run import push_targets
from kpi_engine.store import Store
from kpi_engine.writeback import Target
from tests.helpers.writeback import (
    HS_FIELDS,
    PERIOD,
    SF_FIELDS,
    app_config,
    config_dict,
    policy,
    writes,
)

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

#: Salesforce Account id -> (name, Partner_Win_Rate__c %, Partner_Avg_Deal_Size__c,
#: Partner_Quality_Score__c) for 2017-Q4, worked out from the KPIs (rates x100, 2 places).
SF_EXPECTED = {
    "001XX0000000001YAA": ("Cara Losch Partners", "58.80", "2271.15", "16.67"),
    "001XX0000000002YAA": ("Celia Rouche Partners", "61.72", "2403.42", "50.00"),
    "001XX0000000003YAA": ("Dustin Brinkmann Partners", "63.20", "1488.23", "50.00"),
    "001XX0000000004YAA": ("Melvin Marxen Partners", "55.61", "2760.44", "91.67"),
    "001XX0000000005YAA": ("Rocco Neubert Partners", "57.76", "2935.46", "50.00"),
    "001XX0000000006YAA": ("Summer Sewald Partners", "64.68", "2247.59", "91.67"),
}
TODAY = date(2025, 6, 1)


def kpis_of(store_path: Path, source: str) -> dict[tuple[str, str], Decimal]:
    """(member, kpi) -> value for the partners of ``source`` in 2017-Q4 (independent query)."""
    with Store(store_path, read_only=True) as store:
        rows = store.con.execute(
            "SELECT k.member, k.kpi, k.value FROM kpi_values k JOIN partners p "
            "ON p.partner_id = k.member AND p.source = ? WHERE k.grain = 'quarter' "
            "AND k.period_start = ? AND k.dimension = 'partner'", [source, PERIOD]).fetchall()
    return {(m, k): v for m, k, v in rows}


def test_push_dry_run_plans_the_six_salesforce_partners(maven: Sandbox, store_path: Path) -> None:
    config = app_config(config_dict(maven, store_path))
    maven.calls.clear()
    with Store(store_path) as store:
        (result,) = push_targets(config, store, target="salesforce", dry_run=True, today=TODAY,
                                 policy=policy())
        assert store.con.execute("SELECT count(*) FROM push_log").fetchall() == [(0,)]
    assert writes(maven) == []
    assert result.period_start == date(2017, 10, 1)
    got = {}
    for c in result.cells:
        got.setdefault(c.record_id, [c.name])
        got[c.record_id].append(str(c.new))
        assert (c.action, c.old, c.old_known) == ("write", None, True)
    assert {k: tuple(v) for k, v in got.items()} == SF_EXPECTED
    kpis = kpis_of(store_path, "salesforce")
    for c in result.cells:
        raw = kpis[(c.record_id, c.kpi)]
        scaled = raw * 100 if c.kpi == "win_rate" else raw
        assert c.new == scaled.quantize(Decimal("0.01"))


def test_push_dry_run_hubspot_rounds_money_and_ratios_to_2_places(
    maven: Sandbox, store_path: Path
) -> None:
    config = app_config(config_dict(maven, store_path))
    with Store(store_path) as store:
        (result,) = push_targets(config, store, target="hubspot", dry_run=True, today=TODAY,
                                 policy=policy())
    kpis = kpis_of(store_path, "hubspot")
    assert len(result.cells) == 18
    assert {(c.record_id, c.kpi): c.new for c in result.cells} == {
        k: v.quantize(Decimal("0.01"), ROUND_HALF_UP) for k, v in kpis.items()
        if k[1] in HS_FIELDS}
    first, second = result.cells[:2]
    assert (first.record_id, first.field, first.kpi_value, first.new) == (
        "5000000001", "partner_win_rate", Decimal("0.5879828326"), Decimal("0.59"))
    assert (second.field, second.kpi_value, second.new) == (
        "partner_avg_deal_size", Decimal("2271.1532846715"), Decimal("2271.15"))


def test_push_writes_salesforce_then_second_push_makes_no_write_call(
    maven: Sandbox, store_path: Path
) -> None:
    config = app_config(config_dict(maven, store_path))
    maven.calls.clear()
    with Store(store_path) as store:
        (first,) = push_targets(config, store, target="salesforce", today=TODAY, policy=policy())
        assert (first.status, first.records_written, first.fields_written, first.write_calls) == (
            "ok", 6, 18, 1)
        for rid, (_, rate, size, score) in SF_EXPECTED.items():
            rec = maven.salesforce.store.get("Account", rid)
            assert (rec["Partner_Win_Rate__c"], rec["Partner_Avg_Deal_Size__c"],
                    rec["Partner_Quality_Score__c"]) == (Decimal(rate), Decimal(size),
                                                         Decimal(score))
            assert rec["IsPartner"] is True
        logged = store.con.execute(
            "SELECT record_id, field, old_value, new_value, status FROM push_log "
            "WHERE record_id = '001XX0000000004YAA' ORDER BY field").fetchall()
        assert logged == [
            ("001XX0000000004YAA", "Partner_Avg_Deal_Size__c", None, Decimal("2760.44"), "written"),
            ("001XX0000000004YAA", "Partner_Quality_Score__c", None, Decimal("91.67"), "written"),
            ("001XX0000000004YAA", "Partner_Win_Rate__c", None, Decimal("55.61"), "written"),
        ]
        maven.calls.clear()
        (second,) = push_targets(config, store, target="salesforce", today=TODAY, policy=policy())
    assert (second.status, second.write_calls, second.count("unchanged")) == ("ok", 0, 18)
    assert writes(maven) == []


def test_push_writes_hubspot_then_second_push_makes_no_write_call(
    maven: Sandbox, store_path: Path
) -> None:
    config = app_config(config_dict(maven, store_path))
    kpis = kpis_of(store_path, "hubspot")
    maven.calls.clear()
    with Store(store_path) as store:
        (first,) = push_targets(config, store, target="hubspot", today=TODAY, policy=policy())
        assert (first.status, first.records_written, first.write_calls) == ("ok", 6, 1)
        for (member, kpi), value in kpis.items():
            if kpi in HS_FIELDS:
                props = maven.hubspot.record("companies", member).props
                rounded = value.quantize(Decimal("0.01"), ROUND_HALF_UP).normalize()
                assert props[HS_FIELDS[kpi]] == format(rounded, "f")
        maven.calls.clear()
        (second,) = push_targets(config, store, target="hubspot", today=TODAY, policy=policy())
    assert (second.write_calls, second.count("unchanged")) == (0, 18)
    assert writes(maven) == []


def test_push_only_sends_changed_fields_after_a_kpi_changes(
    maven: Sandbox, store_path: Path
) -> None:
    config = app_config(config_dict(maven, store_path))
    with Store(store_path) as store:
        push_targets(config, store, target="salesforce", today=TODAY, policy=policy())
        store.con.execute(
            "UPDATE kpi_wide SET win_rate = 0.5 WHERE grain = 'quarter' AND period_start = ? "
            "AND member = '001XX0000000003YAA'", [PERIOD])
        (result,) = push_targets(config, store, target="salesforce", today=TODAY, policy=policy())
    assert [(c.record_id, c.field, c.old, c.new) for c in result.cells if c.action == "write"] == [
        ("001XX0000000003YAA", "Partner_Win_Rate__c", Decimal("63.20"), Decimal("50.00"))]
    assert (result.records_written, result.write_calls) == (1, 1)
    assert maven.salesforce.store.get("Account", "001XX0000000003YAA")[
        "Partner_Win_Rate__c"] == Decimal("50")


def test_push_salesforce_c10_one_bad_record_others_written_failure_logged_exit_2(
    maven: Sandbox, config_file: Path, store_path: Path
) -> None:
    bad = "001XX0000000002YAA"
    maven.salesforce.fail_record(bad, "Tier must be set before KPIs",
                                 "FIELD_CUSTOM_VALIDATION_EXCEPTION", 1)
    before = maven.salesforce.store.get("Account", bad)["Partner_Win_Rate__c"]
    maven.calls.clear()
    result = CliRunner().invoke(cli, ["--config", str(config_file), "push", "--source",
                                      "salesforce"])
    assert result.exit_code == 2, result.output
    assert "push salesforce: 5 written, 1 failed" in result.output
    assert (f"failed: salesforce {bad} (Celia Rouche Partners): "
            "FIELD_CUSTOM_VALIDATION_EXCEPTION: Tier must be set before KPIs") in result.output
    assert len(writes(maven)) == 1
    assert maven.salesforce.store.get("Account", bad)["Partner_Win_Rate__c"] == before
    assert maven.salesforce.store.get("Account", "001XX0000000003YAA")[
        "Partner_Win_Rate__c"] == Decimal("63.2")
    with Store(store_path) as store:
        failed = store.con.execute(
            "SELECT DISTINCT record_id, status, error_code, message FROM push_log "
            "WHERE status = 'failed'").fetchall()
        assert failed == [(bad, "failed", "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                           "Tier must be set before KPIs")]
        assert store.con.execute(
            "SELECT count(*) FROM push_state WHERE record_id = ?", [bad]).fetchall() == [(0,)]
        assert store.con.execute(
            "SELECT status, records_written, records_failed FROM push_runs").fetchall() == [
            ("partial", 5, 1)]
    # the next push retries only the failed record
    maven.calls.clear()
    again = CliRunner().invoke(cli, ["--config", str(config_file), "push", "--source",
                                     "salesforce", "--json"])
    assert again.exit_code == 0, again.output
    (summary,) = json.loads(again.output)
    assert (summary["records_written"], summary["fields_written"], summary["write_calls"]) == (
        1, 3, 1)
    assert maven.salesforce.store.get("Account", bad)["Partner_Win_Rate__c"] == Decimal("61.72")


def test_push_hubspot_207_failure_is_attributed_and_retried(
    maven: Sandbox, store_path: Path
) -> None:
    config = app_config(config_dict(maven, store_path))
    maven.hubspot.fail_record("companies", "5000000005", "VALIDATION_ERROR", "Locked by a rule")
    try:
        with Store(store_path) as store:
            (result,) = push_targets(config, store, target="hubspot", today=TODAY,
                                     policy=policy())
    finally:
        maven.hubspot.clear_failures()
    assert (result.status, result.records_written, result.records_failed) == ("partial", 5, 1)
    (failure,) = result.failures
    assert (failure.record_id, failure.error_code, failure.message) == (
        "5000000005", "VALIDATION_ERROR", "Locked by a rule")
    with Store(store_path) as store:
        (retry,) = push_targets(config, store, target="hubspot", today=TODAY, policy=policy())
    assert (retry.status, retry.records_written, retry.fields_written) == ("ok", 1, 3)


def test_push_missing_salesforce_field_is_a_one_line_error(
    maven: Sandbox, config_file: Path, store_path: Path, tmp_path: Path
) -> None:
    data = config_dict(maven, store_path, writeback={
        "salesforce": {"fields": {**SF_FIELDS, "deals_won": "Partner_Deals_Won_Q__c"}}})
    from tests.helpers.maven import write_config

    path = write_config(tmp_path / "missing.yaml", data)
    maven.calls.clear()
    result = CliRunner().invoke(cli, ["--config", str(path), "push"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: salesforce: Account has no field Partner_Deals_Won_Q__c "
                               "(writeback.salesforce.fields.deals_won); an admin creates it")
    assert writes(maven) == []


def test_push_hubspot_create_properties_creates_missing_number_property(
    maven: Sandbox, store_path: Path
) -> None:
    fields = {**HS_FIELDS, "deals_won": "partner_deals_won_quarter"}
    config = app_config(config_dict(maven, store_path, writeback={"hubspot": {"fields": fields}}))
    with Store(store_path) as store, pytest.raises(ConfigError) as missing:
        push_targets(config, store, target="hubspot", today=TODAY, policy=policy())
    assert "run partnerkpi push --create-properties" in str(missing.value)
    with Store(store_path) as store:
        (dry,) = push_targets(config, store, target="hubspot", dry_run=True, create_fields=True,
                              today=TODAY, policy=policy())
        assert "partner_deals_won_quarter" not in maven.hubspot.properties["companies"]
        (result,) = push_targets(config, store, target="hubspot", create_fields=True,
                                 today=TODAY, policy=policy())
    assert dry.created_fields == result.created_fields == ["partner_deals_won_quarter"]
    prop = maven.hubspot.properties["companies"]["partner_deals_won_quarter"]
    assert (prop.type, prop.field_type, prop.group_name) == ("number", "number", "partnerkpi")
    assert maven.hubspot.record("companies", "5000000001").props[
        "partner_deals_won_quarter"] == "137"


def test_target_converts_percent_and_scale() -> None:
    assert Target("win_rate", "F", percent=True, scale=2).convert(Decimal("0.5879828326")) == (
        Decimal("58.80"))
    assert Target("quality_score", "F", percent=True, scale=2).convert(Decimal("16.665")) == (
        Decimal("16.67"))
    assert Target("win_rate", "F").convert(Decimal("0.5")) == Decimal("0.5")
    assert Target("deals_won", "F", scale=0).convert(None) is None
