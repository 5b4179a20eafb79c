"""The write-back jobs the CLI runs: ``push`` (plan and write KPIs into the CRMs) and ``run``
(the scheduled job: sync every source -> compute -> push -> publish the readers' copy), one job
per store at a time.

Exit codes (:data:`EXIT_CODES`, the table ``cli.py`` and the README show): 0 ok, 1 failed,
2 partial (some records not written), 3 locked (another job holds the store), 4 stopped by a
CRM's API limit. An error carries its own code (``exit_code``), so ``sync``, ``push`` and ``run``
exit alike for the same stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from connectors import registry
from connectors.base import Pusher, PushingConnector
from connectors.errors import ConfigError, ConnectorError
from connectors.http import RetryPolicy
from connectors.preflight import Finding
from connectors.sync import StreamResult, SyncResult, other_tables
from connectors.writeback import PushResult, run_push
from jobs.config import AppConfig
from jobs.notify import notify
from jobs.preflight import require, source_findings
from jobs.publish import publish_store, published_json
from jobs.sync import open_store, sync_sources
from kpi_engine.errors import EXIT_LOCKED, EngineError
from kpi_engine.health import run_history
from kpi_engine.kpis import GRAINS, ComputeSummary, compute
from kpi_engine.lock import LockedError, StoreLock
from kpi_engine.publish import Published
from kpi_engine.store import Store

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 2
#: Exit code by ``run`` status; a ``failed`` run exits with its error's code (an API limit: 4).
EXIT_CODES = {"ok": EXIT_OK, "failed": EXIT_FAILED, "partial": EXIT_PARTIAL, "locked": EXIT_LOCKED}


def make_pusher(config: AppConfig, name: str, *, policy: RetryPolicy | None = None,
                preflight: list[Finding] | None = None) -> Pusher:
    """The push side of a CRM configured in both ``sources`` and ``writeback``: its
    connector's :meth:`pusher`, sharing the connector's client. With a ``preflight`` list, the
    source's preflight for ``push`` runs first and its findings are added to it.

    Raises:
        ConfigError: the CRM is unknown, or not configured as a source or for write-back.
    """
    if name not in registry.push_names():
        msg = f"cannot push to {name!r}: use {registry.either(registry.push_names())}"
        raise ConfigError(msg)
    writeback = config.writeback_target(name)
    if writeback is None:
        msg = f"writeback.{name} is not configured (see config.example.yaml)"
        raise ConfigError(msg)
    settings = config.source(name)
    if settings is None:
        msg = (f"writeback.{name} needs sources.{name}: partners are matched by the record ids "
               "synced from it")
        raise ConfigError(msg)
    check_no_echo(config, name)
    connector = registry.adapter(name).connect(settings, config.reporting_currency,
                                               policy=policy)
    if preflight is not None:
        preflight += source_findings(config, name, connector, ("push",))
    return cast(PushingConnector, connector).pusher(writeback)


def pulled_fields(config: AppConfig, name: str) -> set[str]:
    """Partner-record fields the source's pull reads as data (lower-cased)."""
    settings = config.source(name)
    if settings is None:
        return set()
    return set(registry.adapter(name).pulled_fields(settings))


def check_no_echo(config: AppConfig, name: str) -> None:
    """KPI target fields must never be pulled as data: our own writes would come back as input.

    Raises:
        ConfigError: a target field is also read by the pull (e.g. ``partner_tier_field``).
    """
    writeback = config.writeback_target(name)
    if writeback is None:
        return
    read = pulled_fields(config, name)
    named = {**{f"fields.{k}": t for k, t in writeback.fields.items()},
             **writeback.extra_fields()}
    echo = [f"writeback.{name}.{key}: {target} is also pulled by sources.{name}; a "
            "KPI field must not be read back as data" for key, target in named.items()
            if target.lower() in read]
    if echo:
        raise ConfigError(echo)


def push_targets(
    config: AppConfig,
    store: Store,
    *,
    target: str | None = None,
    dry_run: bool = False,
    create_fields: bool = False,
    today: date | None = None,
    policy: RetryPolicy | None = None,
    pushers: dict[str, Pusher] | None = None,
    force: bool = False,
) -> list[PushResult]:
    """Push to one CRM, or every CRM in ``writeback`` (in registry order).

    Pushers are all built (and their settings checked) before the first call.

    Args:
        config: the config.
        store: the open store (writable unless ``dry_run``).
        target: one CRM (default: every CRM under ``writeback``).
        dry_run: plan only, write nothing.
        create_fields: create missing target fields first (HubSpot ``--create-properties``).
        today: the date deciding the period (default: today in ``reporting_timezone``).
        policy: retry policy for the CRM calls (tests pass a recording sleep).
        pushers: ready pushers by CRM name (tests); the others are built from the config.
        force: write every value a field's policy allows, even where the CRM holds it already.

    Raises:
        ConfigError: nothing configured for write-back, or a bad target or field.
        ConnectorError: a CRM call failed (earlier CRMs' results are recorded).
    """
    names = [target] if target else config.writeback.targets()
    if not names:
        where = registry.either([f"writeback.{n}" for n in registry.push_names()])
        msg = f"nothing to push: add {where} to the config"
        raise ConfigError(msg)
    findings: list[Finding] = []
    built = {n: (pushers or {}).get(n) or make_pusher(config, n, policy=policy,
                                                      preflight=findings) for n in names}
    require(findings)  # every problem of every target before the first data request
    day = today or config.today(store)
    results = []
    for n in names:
        writeback = config.writeback_target(n)
        if writeback is None:
            msg = f"writeback.{n} is not configured (see config.example.yaml)"
            raise ConfigError(msg)
        results.append(run_push(store, built[n], writeback, dry_run=dry_run,
                                create_fields=create_fields, today=day, force=force))
    return results


@dataclass
class RunSummary:
    """The outcome of ``partnerkpi run``.

    Attributes:
        status: ``ok``, ``partial`` (a CRM refused some records), ``failed`` or ``locked``.
        step: the step that failed or was stopped (``lock``, ``sync``, ``compute``, ``push``,
            ``publish``).
    """

    status: str = "running"
    syncs: list[SyncResult] = field(default_factory=list)
    compute: ComputeSummary | None = None
    pushes: list[PushResult] = field(default_factory=list)
    error: str | None = None
    step: str | None = None
    lock_holder: dict[str, Any] | None = None
    stale_lock: dict[str, Any] | None = None
    #: the exit code the error carries (``failed``: 1, or 4 for an API limit)
    error_exit_code: int | None = None
    #: when the job started and ended (UTC)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: this job's ``sync_runs`` rows (:func:`kpi_engine.health.run_history`), failed ones too
    sync_runs: list[dict[str, Any]] = field(default_factory=list)
    #: why the ``notify:`` webhook could not be sent (None: sent, not due or not configured)
    notify_error: str | None = None
    #: the published copy for readers (None: not published: disabled, or no compute committed)
    published: Published | None = None

    @property
    def duration_s(self) -> float | None:
        """The job's wall time in seconds (3 places), None before it ended."""
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    @property
    def exit_code(self) -> int:
        """0 ok, 1 failed, 2 partial, 3 locked, 4 stopped by an API limit."""
        if self.status == "failed" and self.error_exit_code is not None:
            return self.error_exit_code
        return EXIT_CODES.get(self.status, EXIT_FAILED)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (the ``--json`` output)."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": self.duration_s,
            "step": self.step,
            "error": self.error,
            "lock_holder": self.lock_holder,
            "stale_lock_taken_over": self.stale_lock,
            "sync": [{"source": s.source, "status": s.status, "run_id": s.run_id,
                      "api_calls": s.api_calls,
                      "streams": {n: _stream_json(n, c) for n, c in s.streams.items()}}
                     for s in self.syncs],
            "compute": None if self.compute is None else {
                "deals": self.compute.deals, "rows": self.compute.rows,
                "as_of": self.compute.as_of.isoformat() if self.compute.as_of else None,
                "warnings": self.compute.warning_lines()},
            "push": [push_json(p) for p in self.pushes],
            "notify_error": self.notify_error,
            "published": published_json(self.published),
        }


def _stream_json(name: str, c: StreamResult) -> dict[str, Any]:
    body: dict[str, Any] = {"inserted": c.inserted, "updated": c.updated,
                            "unchanged": c.unchanged, "deleted": c.deleted,
                            "rejected": c.rejected}
    others = other_tables(name, c)
    if others:  # the rows of other tables its pages carried (HubSpot deals: stage_history)
        body["tables"] = {t: {"inserted": o.inserted, "updated": o.updated,
                              "unchanged": o.unchanged} for t, o in others.items()}
    return body


def push_json(p: PushResult, *, plan: bool = False) -> dict[str, Any]:
    """A push result as JSON (``plan``: with every cell of the plan)."""
    body: dict[str, Any] = {
        "source": p.source, "object": p.crm_object, "status": p.status, "grain": p.grain,
        "period_start": p.period_start.isoformat() if p.period_start else None,
        "period_to_date": p.period is not None and not p.period.complete,
        "run_id": p.run_id, "records_written": p.records_written,
        "records_failed": p.records_failed, "fields_written": p.fields_written,
        "fields_unchanged": p.count("unchanged"), "fields_kept": p.count("keep"),
        "fields_to_write": p.count("write"), "fields_skipped": p.count("skip"),
        "write_calls": p.write_calls, "read_calls": p.read_calls, "forced": p.force,
        "created_fields": p.created_fields, "error": p.error,
        "failures": [{"record_id": f.record_id, "name": f.name, "fields": f.fields,
                      "error_code": f.error_code, "message": f.message} for f in p.failures],
    }
    if plan:
        body["plan"] = [{"record_id": c.record_id, "name": c.name, "field": c.field,
                         "kpi": c.kpi, "kpi_value": plan_value(c.kpi_value),
                         "old": plan_value(c.old), "old_known": c.old_known,
                         "new": plan_value(c.new), "action": c.action, "policy": c.policy}
                        for c in p.cells]
    return body


def plan_value(value: Any) -> str | None:
    """A plan value as text: a number without trailing zeros, a day in ISO form."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value.isoformat() if isinstance(value, date) else str(value)


def run_job(
    config: AppConfig,
    *,
    as_of: date | None = None,
    allow_mass_delete: bool = False,
    today: date | None = None,
    policy: RetryPolicy | None = None,
    pushers: dict[str, Pusher] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> RunSummary:
    """The scheduled job: sync every configured source, compute every grain, push every
    ``writeback`` target, then publish the copy for readers (``publish:``; after the compute
    committed, also when the push failed), holding the store's lock throughout.

    Never raises for a job failure: the summary says ``failed`` / ``locked`` with the one-line
    error (the CLI turns it into the exit code).

    Args:
        config: the config.
        as_of: compute as at the start of this day (as ``compute --as-of``; default: today).
        allow_mass_delete: let full-snapshot imports flag more than their share of rows
            deleted (as ``sync --allow-mass-delete``).
        today: the date deciding the pushed period and the default ``as_of`` (default: today
            in ``reporting_timezone``).
        policy: retry policy for the pushes (tests pass a recording sleep).
        pushers: ready pushers by CRM name (tests).
        on_step: told the name of each step as it starts (``sync``, ``compute``, ``push``).
    """
    summary = RunSummary(started_at=datetime.now(UTC))
    try:
        _run(summary, config, as_of=as_of, allow_mass_delete=allow_mass_delete,
             today=today, policy=policy, pushers=pushers, on_step=on_step)
    finally:
        summary.finished_at = datetime.now(UTC)
    if config.notify is not None:
        summary.notify_error = notify(config.notify, summary)
    return summary


def _run(
    summary: RunSummary,
    config: AppConfig,
    *,
    as_of: date | None,
    allow_mass_delete: bool,
    today: date | None,
    policy: RetryPolicy | None,
    pushers: dict[str, Pusher] | None,
    on_step: Callable[[str], None] | None,
) -> RunSummary:
    lock = StoreLock(config.database, command="partnerkpi run")
    try:
        lock.acquire()
    except LockedError as exc:
        summary.status, summary.step, summary.error = "locked", "lock", str(exc)
        summary.lock_holder = exc.holder
        return summary
    summary.stale_lock = lock.took_over
    try:
        summary.step = "lock"
        with open_store(config) as store:
            summary.step = "sync"
            if on_step:
                on_step("sync")
            if config.source_names():
                before = max((r["run_id"] for r in run_history(store)), default=0)
                try:
                    summary.syncs = sync_sources(config, store,
                                                 allow_mass_delete=allow_mass_delete)
                finally:  # a failed source's run too: its id, status and counts so far
                    summary.sync_runs = [r for r in run_history(store) if r["run_id"] > before]
            summary.step = "compute"
            if on_step:
                on_step("compute")
            summary.compute = compute(store, config.kpi_settings(), tuple(GRAINS), as_of=as_of,
                                      today=today)
            summary.step = "push"
            if on_step:
                on_step("push")
            push_error: ConnectorError | EngineError | None = None
            try:
                if config.writeback.targets():
                    summary.pushes = push_targets(config, store, today=today, policy=policy,
                                                  pushers=pushers)
            except (ConnectorError, EngineError) as exc:
                push_error = exc
            # the compute has committed: readers get it whatever the push did
            summary.step = "publish"
            summary.published = publish_store(config, store)
            if push_error is not None:
                summary.step = "push"
                raise push_error
    except (ConnectorError, EngineError) as exc:
        summary.status = "locked" if isinstance(exc, LockedError) else "failed"
        summary.error_exit_code = exc.exit_code
        summary.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return summary
    finally:
        lock.release()
    summary.step = None
    summary.status = "partial" if any(p.status == "partial" for p in summary.pushes) else "ok"
    return summary
