"""The headline: the real data set synced from the sandbox's Salesforce gives the same KPIs as the
CSV import of the same deals.

"The same deals": the CRM always has a ``CreatedDate``. The Maven file leaves ``engage_date``
blank for its 500 Prospecting deals, and the sandbox gives those Opportunities the data set's
first day (2016-10-20, see ``crm_sandbox.datasets``), so the CSV side imports a copy of the file
with that date filled in. The Salesforce side pulls every stream but ``stage_history``: the CSV
export has no stage history, and with it the weighted pipeline would (rightly) use the stage each
deal was in at the period's end instead of its current stage. ``partner`` differs by design (the
CSV config has no partner column).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_sandbox.datasets import load_maven
from crm_sandbox.server import Sandbox
from jobs.config import load_config
from jobs.sync import open_store, sync_sources
from kpi_engine.kpis import compute
from kpi_engine.store import Store
from tests.helpers.maven import maven_config, maven_pipeline_with_created_dates, write_config
from tests.helpers.salesforce import Sleeps, sandbox_settings, sync

DIMENSIONS = ("overall", "owner", "team", "unit")

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]


@pytest.fixture(scope="module")
def maven() -> Iterator[Sandbox]:
    """One sandbox over the Maven World (8,800 Opportunities, 35 Users, 6 partner Accounts)."""
    with Sandbox(load_maven()).start() as sb:
        yield sb


def kpi_values(store: Store) -> dict[tuple, tuple]:
    """(grain, period, dimension, member name, kpi) -> (value, n) for the compared dimensions."""
    rows = store.con.execute(
        "SELECT grain, period_start, dimension, "
        "CASE WHEN dimension = 'owner' THEN member_name ELSE member END, kpi, value, n "
        "FROM kpi_values WHERE dimension IN ('overall', 'owner', 'team', 'unit')"
    ).fetchall()
    return {r[:5]: r[5:] for r in rows}


def test_maven_salesforce_sync_then_compute_equals_csv_import(
    maven: Sandbox, tmp_path: Path, sleeps: Sleeps
) -> None:
    deals = maven_pipeline_with_created_dates(tmp_path / "sales_pipeline.csv")
    config = load_config(
        write_config(tmp_path / "partnerkpi.yaml", maven_config(tmp_path / "csv.duckdb", deals))
    )
    with open_store(config) as csv_store:
        sync_sources(config, csv_store)
        compute(csv_store, config.kpi_settings())
        expected = kpi_values(csv_store)

    sf_store = Store(tmp_path / "salesforce.duckdb")
    streams = ["currency_rates", "stages", "owners", "partners", "deals", "leads"]
    result, connector = sync(sf_store, sandbox_settings(maven, streams=streams), sleeps)
    assert result.streams["deals"].inserted == 8800
    assert result.streams["partners"].inserted == 6
    assert result.streams["owners"].inserted == 35
    compute(sf_store, config.kpi_settings())
    got = kpi_values(sf_store)

    assert {k[2] for k in expected} == set(DIMENSIONS)
    assert {k[0] for k in expected} == {"month", "quarter", "year"}
    assert len(expected) > 10000
    missing = sorted(set(expected) - set(got))[:5]
    extra = sorted(set(got) - set(expected))[:5]
    differ = [
        (k, expected[k], got[k]) for k in sorted(expected) if k in got and got[k] != expected[k]
    ]
    assert (missing, extra, differ[:5]) == ([], [], [])
    # describes, one query per stream, 4 more deal pages, the counts of deals and partners,
    # DatedConversionRate
    assert connector.api_usage.calls == 7 + 6 + 4 + 2 + 1
