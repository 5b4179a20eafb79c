"""partnerkpi as a Dagster asset: the scheduled job (sync -> compute -> push -> publish) through
the library, one materialization per run, the run's facts as metadata.

Copy into your Dagster code location (``pip install dagster partnerkpi``); set
``PARTNERKPI_CONFIG`` to the config file and the secrets it names in the environment. Dagster is
not a dependency of partnerkpi. docs/scheduling.md explains the choices.
"""

from __future__ import annotations

import os

from dagster import (
    AssetExecutionContext,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    ScheduleDefinition,
    asset,
    define_asset_job,
)

from jobs.config import load_config
from jobs.run import run_job


@asset(
    name="partner_kpis",
    description="Partner KPIs synced from the CRMs, computed, pushed and published for readers",
    # a run stopped by the store's lock (exit 3) or an API limit (exit 4) is worth a retry later
    retry_policy=RetryPolicy(max_retries=2, delay=600),
)
def partner_kpis(context: AssetExecutionContext) -> MaterializeResult:
    """Run ``partnerkpi run`` in-process; fail the asset unless the run is ok or partial."""
    config = load_config(os.environ.get("PARTNERKPI_CONFIG"), check_secrets=True)
    summary = run_job(config)
    facts = summary.to_json()
    if summary.status in ("failed", "locked"):
        # a Failure's metadata shows in the Dagster UI; the notify: webhook fires as well
        raise Failure(description=f"partnerkpi run {summary.status} at {summary.step}: "
                                  f"{summary.error}",
                      metadata={"exit_code": summary.exit_code})
    if summary.status == "partial":
        context.log.warning("some CRM records were not written; the next run sends them again")
    metadata = {
        "status": summary.status,
        "exit_code": summary.exit_code,
        "duration_s": summary.duration_s,
        "deals": facts["compute"]["deals"] if facts["compute"] else None,
        "summary": MetadataValue.json(facts),
    }
    if facts["published"]:  # the copy BI tools read (publish: in the config)
        metadata["published_copy"] = MetadataValue.path(facts["published"]["database"])
    return MaterializeResult(metadata=metadata)


partnerkpi_job = define_asset_job("partnerkpi_nightly", selection=[partner_kpis])

defs = Definitions(
    assets=[partner_kpis],
    jobs=[partnerkpi_job],
    # an odd minute, as in the cron line of docs/scheduling.md; one store: one run at a time
    schedules=[ScheduleDefinition(job=partnerkpi_job, cron_schedule="17 2 * * *",
                                  execution_timezone="UTC")],
)
