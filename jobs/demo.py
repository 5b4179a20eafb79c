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

from connectors import registry
from connectors.errors import ConfigError
from connectors.sync import SyncResult
from connectors.writeback import PushResult
from jobs.config import AppConfig, load_config
from jobs.run import push_targets
from jobs.sync import open_store, sync_sources
from kpi_engine.kpis import ComputeSummary, compute
from kpi_engine.report import write_report

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

_KPIS = {
    "fiscal_year_start_month": 1,
    "quality_score": {"min_closed_deals": 5, "weights": {"won_amount": 0.5, "deals_won": 0.5}},
}


def maven_team_units() -> dict[str, str]:
    """The data set's manager -> regional office, for a CRM whose owners carry no unit field."""
    with (FIXTURES / "maven" / "sales_teams.csv").open(newline="", encoding="utf-8") as f:
        return {row["manager"]: row["regional_office"] for row in csv.DictReader(f)}


def demo_config(
    workdir: Path, crm: str, source: dict[str, Any], writeback: dict[str, Any]
) -> AppConfig:
    """Write ``<workdir>/<crm>.yaml`` (``sources.<crm>`` and ``writeback.<crm>`` as the CRM's
    adapter points them at the sandbox) and load it."""
    data = {
        "database": str((workdir / f"{crm}.duckdb").resolve()),
        "reporting_currency": "USD",
        "sources": {crm: source},
        "kpis": _KPIS,
        # every partner of a deal credited in full (totals count a deal once): the demo shows
        # sourced and influenced side by side; the partner leaderboard stays the primary one
        "attribution": {"credit": "full"},
        "writeback": {crm: writeback},
    }
    path = workdir / f"{crm}.yaml"
    path.write_text(
        "# written by partnerkpi demo (the CRM sandbox it points at has stopped)\n"
        + yaml.safe_dump(data, sort_keys=False),
        encoding="utf-8",
    )
    return load_config(path)


def _demo_settings(
    crm: str, url: str, ca_bundle: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    demo = registry.adapter(crm).demo
    if demo is None:
        msg = f"source {crm!r} has no demo against the CRM sandbox"
        raise ConfigError(msg)
    return demo(url, ca_bundle, maven_team_units())


def demo_crms() -> list[str]:
    """The CRMs the demo runs against (those whose adapter can point at the sandbox)."""
    return [a.name for a in registry.ADAPTERS if a.demo is not None]


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
    from crm_sandbox.server import Sandbox
    from crm_sandbox.synthetic import add_partner_links

    workdir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(workdir=workdir)
    # the Maven deals' partner is their sourcing partner; some get influencers too (labelled
    # links: OpportunityPartner roles, HubSpot association labels), for sourced vs influenced
    with Sandbox(add_partner_links(load_maven())).start() as sb:
        assert sb.url is not None  # set once started
        assert sb.ca_bundle is not None
        for crm in demo_crms():
            source, writeback, env = _demo_settings(crm, sb.url, sb.ca_bundle)
            report = workdir / f"{crm}-report.html"
            with _environment(env):
                config = demo_config(workdir, crm, source, writeback)
                with open_store(config) as store:
                    syncs = sync_sources(config, store)
                    summary = compute(store, config.kpi_settings())
                    pushes = push_targets(config, store, dry_run=True)
                    write_report(store, config.kpi_settings(), report, dimension="partner")
            result.runs.append(CrmDemo(crm, config, syncs, summary, pushes, report))
    return result
