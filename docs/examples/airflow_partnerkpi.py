"""partnerkpi as an Airflow task: the scheduled job (sync -> compute -> push -> publish) through
the library, once a night, one run at a time.

Copy into your DAGs folder (``pip install partnerkpi`` in the workers' environment); set
``PARTNERKPI_CONFIG`` to the config file and the secrets it names in the workers' environment (or
an Airflow connection you export to them). Airflow is not a dependency of partnerkpi.
docs/scheduling.md explains the choices.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.decorators import dag, task
from airflow.exceptions import AirflowException

from jobs.config import load_config
from jobs.run import run_job


@dag(
    dag_id="partnerkpi",
    schedule="17 2 * * *",  # an odd minute, as in the cron line of docs/scheduling.md
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,  # a run computes as at today: there is nothing to backfill day by day
    max_active_runs=1,  # one store: one run at a time (the store's lock guards as well)
    tags=["partnerkpi"],
)
def partnerkpi() -> None:
    """The nightly partnerkpi run."""

    # a run stopped by the store's lock (exit 3) or an API limit (exit 4) is worth a retry later
    @task(retries=2, retry_delay=timedelta(minutes=10), execution_timeout=timedelta(hours=1))
    def run() -> dict:
        config = load_config(os.environ.get("PARTNERKPI_CONFIG"), check_secrets=True)
        summary = run_job(config)
        if summary.status in ("failed", "locked"):
            msg = (f"partnerkpi run {summary.status} at {summary.step} (exit "
                   f"{summary.exit_code}): {summary.error}")
            raise AirflowException(msg)
        return summary.to_json()  # pushed to XCom: status, times, counts, published copy

    run()


partnerkpi()
