"""One data set, three ways in: the Maven CSV import, the Salesforce connector and the HubSpot
connector (both against the CRM sandbox serving the same World) give the same KPIs.

- Salesforce vs HubSpot: every dimension (partner and owner by member name: ids differ between
  CRMs), every KPI, every grain, the weighted pipeline included (both CRMs carry the World's stage
  history).
- CRM vs CSV: overall, owner, team and unit (the CSV config has no partner column), every KPI but
  the weighted pipeline (the CSV export has no stage history). A CRM always has a created date:
  the sandbox dates the data set's 500 undated Prospecting deals 2016-10-20, so the CSV side
  imports a copy of the file with that date filled in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_sandbox.datasets import load_maven
from crm_sandbox.hubspot import DEFAULT_TOKEN
from crm_sandbox.server import Sandbox
from jobs.config import AppConfig
from jobs.demo import maven_team_units
from jobs.sync import sync_sources
from kpi_engine.kpis import compute
from kpi_engine.store import Store
from tests.helpers.hubspot import TOKEN_ENV
from tests.helpers.hubspot import sync as hubspot_sync
from tests.helpers.maven import maven_config, maven_pipeline_with_created_dates
from tests.helpers.salesforce import SANDBOX_ENV, Sleeps, sandbox_settings
from tests.helpers.salesforce import sync as salesforce_sync

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

KPIS_SQL = """
    SELECT grain, period_start, dimension,
           CASE WHEN dimension IN ('partner', 'owner') THEN member_name ELSE member END, kpi,
           value, n
    FROM kpi_values
"""


def _kpis(store: Store) -> dict[tuple, tuple]:
    return {r[:5]: r[5:] for r in store.con.execute(KPIS_SQL).fetchall()}


def _diff(a: dict, b: dict) -> dict:
    return {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


@pytest.fixture(scope="module")
def kpis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict]]:
    tmp = tmp_path_factory.mktemp("three")
    config = AppConfig.model_validate(
        maven_config(tmp / "csv.duckdb", deals=maven_pipeline_with_created_dates(tmp / "sales_pipeline.csv"))
    )
    settings = config.kpi_settings()
    out = {}
    with pytest.MonkeyPatch.context() as env, Sandbox(load_maven()).start() as sb:
        for name, value in {**SANDBOX_ENV, TOKEN_ENV: DEFAULT_TOKEN}.items():
            env.setenv(name, value)
        with Store(config.database) as store:
            sync_sources(config, store, source="csv")
            compute(store, settings)
            out["csv"] = _kpis(store)
        with Store(tmp / "salesforce.duckdb") as store:
            result, _ = salesforce_sync(store, sandbox_settings(sb), Sleeps())
            assert result.status == "ok"
            compute(store, settings)
            out["salesforce"] = _kpis(store)
        with Store(tmp / "hubspot.duckdb") as store:
            result = hubspot_sync(store, sb, Sleeps(), team_units=maven_team_units())
            assert result.status == "ok"
            compute(store, settings)
            out["hubspot"] = _kpis(store)
    yield out


def test_three_sources_salesforce_equals_hubspot_everywhere(kpis: dict[str, dict]) -> None:
    sf, hs = kpis["salesforce"], kpis["hubspot"]
    assert {k[2] for k in sf} == {"overall", "partner", "owner", "team", "unit", "channel"}
    partners = sorted({k[3] for k in sf if k[2] == "partner"})
    assert partners == ["Cara Losch Partners", "Celia Rouche Partners", "Dustin Brinkmann Partners",
                        "Melvin Marxen Partners", "Rocco Neubert Partners", "Summer Sewald Partners"]
    assert len(sf) > 20_000
    assert _diff(sf, hs) == {}


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_three_sources_crm_equals_csv_import(kpis: dict[str, dict], crm: str) -> None:
    def comparable(values: dict) -> dict:
        return {k: v for k, v in values.items()
                if k[2] in ("overall", "owner", "team", "unit")
                and k[4] != "pipeline_weighted_amount"}

    expected, got = comparable(kpis["csv"]), comparable(kpis[crm])
    assert len(expected) > 10_000
    assert _diff(expected, got) == {}


def test_three_sources_quarter_figures(kpis: dict[str, dict]) -> None:
    # the figures for quarter 2017-04-01, overall, the same from all three
    from datetime import date
    from decimal import Decimal

    for values in kpis.values():
        key = ("quarter", date(2017, 4, 1), "overall", "all")
        assert values[(*key, "deals_won")] == (Decimal(1254), 1254)
        assert values[(*key, "deals_lost")] == (Decimal(778), 778)
        assert values[(*key, "won_amount")] == (Decimal(3086111), 1254)
