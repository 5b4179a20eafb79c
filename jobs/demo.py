"""``partnerkpi demo``: the whole product on the real data set, through both CRM APIs.

The demo starts the CRM sandbox in-process on a free port, serving the Maven Analytics CRM data
set (``fixtures/maven``) as a Salesforce org and as a HubSpot portal (the documented mapping in
``crm_sandbox.datasets``: 6 partner organisations, 35 reps, 8,800 opportunities). For each CRM it
writes a config (``<workdir>/<crm>.yaml``) pointing the connector at the sandbox, then runs the
main job: sync -> compute -> the partner leaderboard -> the write-back plan (``push --dry-run``)
-> the HTML report. Each CRM gets its own DuckDB file (``<workdir>/<crm>.duckdb``): a store holds
one company's CRM, and the two stores' KPIs come out equal.

The sandbox's credentials are not secrets; they reach the connectors the way real secrets do,
through environment variables the config names (set for this process only).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobs.config import AppConfig, load_config
from jobs.sync import open_store, sync_sources
from jobs.run import push_targets
from connectors.sync import SyncResult
from connectors.writeback import PushResult
from kpi_engine.kpis import ComputeSummary, compute
from kpi_engine.report import write_report

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CRMS = ("salesforce", "hubspot")

# The sandbox's built-in credentials (crm_sandbox.salesforce_auth / crm_sandbox.hubspot).
_DEMO_ENV = {
    "PARTNERKPI_DEMO_SF_PASSWORD": "sandbox-password",
    "PARTNERKPI_DEMO_SF_TOKEN": "SANDBOXTOKEN",
    "PARTNERKPI_DEMO_SF_CLIENT_ID": "partnerkpi-sandbox-client",
    "PARTNERKPI_DEMO_SF_CLIENT_SECRET": "partnerkpi-sandbox-secret",
}
_KPIS = {
    "fiscal_year_start_month": 1,
    "quality_score": {"min_closed_deals": 5, "weights": {"won_amount": 0.5, "deals_won": 0.5}},
}


def maven_team_units() -> dict[str, str]:
    """HubSpot has no unit field: the data set's manager -> regional office, as config."""
    with (FIXTURES / "maven" / "sales_teams.csv").open(newline="", encoding="utf-8") as f:
        return {row["manager"]: row["regional_office"] for row in csv.DictReader(f)}


def _source(crm: str, url: str, ca_bundle: str) -> dict[str, Any]:
    if crm == "salesforce":
        return {
            "auth": "password",
            "login_url": url,
            "ca_bundle": ca_bundle,
            "username": "sandbox@partnerkpi.example",
            "password_env": "PARTNERKPI_DEMO_SF_PASSWORD",
            "security_token_env": "PARTNERKPI_DEMO_SF_TOKEN",
            "client_id_env": "PARTNERKPI_DEMO_SF_CLIENT_ID",
            "client_secret_env": "PARTNERKPI_DEMO_SF_CLIENT_SECRET",
        }
    return {
        "host": url,
        "ca_bundle": ca_bundle,
        "token_env": "PARTNERKPI_DEMO_HUBSPOT_TOKEN",
        "team_units": maven_team_units(),
    }


_WRITEBACK = {
    "salesforce": {
        "object": "Account",
        "grain": "quarter",
        "fields": {
            "win_rate": "Partner_Win_Rate__c",
            "average_deal_size": "Partner_Avg_Deal_Size__c",
            "quality_score": "Partner_Quality_Score__c",
        },
    },
    "hubspot": {
        "object": "companies",
        "grain": "quarter",
        "fields": {
            "win_rate": "partner_win_rate",
            "average_deal_size": "partner_avg_deal_size",
            "quality_score": "partner_quality_score",
        },
    },
}


def demo_config(workdir: Path, crm: str, url: str, ca_bundle: str) -> AppConfig:
    """Write ``<workdir>/<crm>.yaml`` (the CRM pointed at the sandbox) and load it."""
    data = {
        "database": str((workdir / f"{crm}.duckdb").resolve()),
        "reporting_currency": "USD",
        "sources": {crm: _source(crm, url, ca_bundle)},
        "kpis": _KPIS,
        "writeback": {crm: _WRITEBACK[crm]},
    }
    path = workdir / f"{crm}.yaml"
    path.write_text(
        "# written by partnerkpi demo (the CRM sandbox it points at has stopped)\n"
        + yaml.safe_dump(data, sort_keys=False),
        encoding="utf-8",
    )
    return load_config(path)


@dataclass
class CrmDemo:
    """One CRM's run of the main job."""

    crm: str
    config: AppConfig
    syncs: list[SyncResult]
    summary: ComputeSummary
    pushes: list[PushResult]
    report: Path


@dataclass
class DemoResult:
    """What the demo did, per CRM."""

    workdir: Path
    runs: list[CrmDemo] = field(default_factory=list)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_demo(workdir: Path) -> DemoResult:
    """Serve the real data set from the CRM sandbox and run the main job against each CRM.

    Args:
        workdir: where the configs, DuckDB files and reports are left.

    Returns:
        Per CRM: sync results, compute summary, push plan (dry run), report path.

    Raises:
        ConnectorError / EngineError: as the job itself would.
    """
    from crm_sandbox.datasets import load_maven
    from crm_sandbox.hubspot import DEFAULT_TOKEN
    from crm_sandbox.server import Sandbox

    workdir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(workdir=workdir)
    env = {**_DEMO_ENV, "PARTNERKPI_DEMO_HUBSPOT_TOKEN": DEFAULT_TOKEN}
    with _environment(env), Sandbox(load_maven()).start() as sb:
        for crm in CRMS:
            config = demo_config(workdir, crm, sb.url, sb.ca_bundle)
            report = workdir / f"{crm}-report.html"
            with open_store(config) as store:
                syncs = sync_sources(config, store)
                summary = compute(store, config.kpi_settings())
                pushes = push_targets(config, store, dry_run=True)
                write_report(store, config.kpi_settings(), report, dimension="partner")
            result.runs.append(CrmDemo(crm, config, syncs, summary, pushes, report))
    return result
