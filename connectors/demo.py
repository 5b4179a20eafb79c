"""``partnerkpi demo``: the whole product on the real data set shipped in ``fixtures/maven``.

Until the CRM sandbox lands, the demo imports the data set through the CSV source (the
``config.example.yaml`` settings), computes every KPI, writes the HTML report (by team: the CSV
export has no partner column) and returns the store for the leaderboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from connectors.config import AppConfig, load_config
from connectors.jobs import open_store, sync_sources
from connectors.sync import SyncResult
from kpi_engine.kpis import ComputeSummary, compute
from kpi_engine.report import write_report

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def demo_config(workdir: Path) -> AppConfig:
    """The demo's config: the Maven data set through the CSV source, the store in ``workdir``.

    The config is also written to ``workdir/partnerkpi.yaml`` so the user can go on with
    ``partnerkpi --config workdir/partnerkpi.yaml export ...``.
    """
    maven = FIXTURES / "maven"
    data = {
        "database": str((workdir / "partnerkpi-demo.duckdb").resolve()),
        "reporting_currency": "USD",
        "sources": {"csv": {
            "currency": "USD",
            "deals": {
                "path": str(maven / "sales_pipeline.csv"),
                "columns": {"deal_id": "opportunity_id", "owner_id": "sales_agent",
                            "account_name": "account", "stage": "deal_stage",
                            "created_at": "engage_date", "close_date": "close_date",
                            "amount": "close_value"},
                "won_stages": ["Won"], "lost_stages": ["Lost"],
            },
            "owners": {"path": str(maven / "sales_teams.csv"),
                       "columns": {"owner_id": "sales_agent", "name": "sales_agent",
                                   "team": "manager", "unit": "regional_office"}},
            "stage_probability": {"Prospecting": 0.1, "Engaging": 0.4, "Won": 1.0, "Lost": 0.0},
        }},
    }
    config_file = workdir / "partnerkpi.yaml"
    config_file.write_text(
        "# written by partnerkpi demo\n" + yaml.safe_dump(data, sort_keys=False), encoding="utf-8"
    )
    return load_config(config_file)


@dataclass
class DemoResult:
    """What the demo did: the store path, the sync results, the compute summary, the report."""

    database: Path
    syncs: list[SyncResult]
    summary: ComputeSummary
    report: Path | None = None


def run_demo(workdir: Path) -> DemoResult:
    """Import the real data set, compute all KPIs, write the report; all left in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = demo_config(workdir)
    with open_store(config) as store:
        syncs = sync_sources(config, store)
        summary = compute(store, config.kpi_settings())
        report = workdir / "partnerkpi-report.html"
        write_report(store, config.kpi_settings(), report, dimension="team")
    return DemoResult(database=config.database, syncs=syncs, summary=summary, report=report)
