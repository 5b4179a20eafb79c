"""partnerkpi's command line: parse, call one library function, print. No SQL, no HTTP here.

Commands (each has ``--help``; the README's "Commands" table is the same list):

- ``sync``: pull the configured sources into the DuckDB store, incrementally.
- ``compute``: compute every partner KPI into ``kpi_values`` (``--engine spark``: on Spark).
- ``export-canonical``: the store's canonical tables as Parquet (the Spark compute's input).
- ``sql``: the KPI SQL steps in DuckDB, Spark, Snowflake or BigQuery SQL (text).
- ``export``: write the computed KPIs (CSV, JSON, Parquet; wide CSV and xlsx for people).
- ``status``: rows per table and source, the last runs, rejects, the last compute (``--json``;
  ``--history``: every sync run).
- ``health``: when the last good sync run was; exit 5 when older than ``--max-age``.
- ``check``: the preflight: credentials, scopes, API version, every configured field, the
  write-back targets, the API allowance (``--json``); exit 1 naming every problem.
- ``push``: write partner KPIs into the CRM fields under ``writeback:``, against the values the
  CRM holds now (``--force``: every value the fields' policies allow).
- ``run``: the scheduled job: sync, compute, push (then the HTML report).
- ``report``: the HTML report of one period.
- ``demo``: the main job against the CRM sandbox serving the built-in data set.
- ``sandbox``: serve the local CRM sandbox until Ctrl-C.

Exit codes, the one table every command follows (``sync``, ``compute``, ``push``, ``run`` ...);
each error class carries its code (``exit_code``), nothing is decided from a message's text:

====  ==============================================================================
code  meaning
====  ==============================================================================
0     ok
1     failed (config, network, API error, bad data); what was committed stays
2     partial push: some records were not written (listed; sent again next push); a
      field a policy keeps (``if_empty``, ``never``) is no failure;
      also click's usage error (a mistyped option), told apart by its ``Usage:`` lines
      on standard error before anything ran (``run --json`` says ``"status": "partial"``)
3     locked: another job holds the store (our lock file or DuckDB's file lock)
4     API limit: a CRM's allowance (or ``max_api_share``) stopped the job; what was
      committed stays; run it again later
5     stale (``health``): the last good sync run is older than ``--max-age``, or none
6     credentials refused: the CRM refused the login (a revoked grant, a changed password,
      an expired token); what was committed stays; fix the credentials
130   interrupted (Ctrl-C); 143: terminated (SIGTERM); one line; the page in flight (or
      the whole compute) rolls back
====  ==============================================================================

Errors are one line on standard error (a config with several problems: one line each).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

import connectors.errors as connector_errors
import jobs.preflight as jobs_preflight
import jobs.run as jobs_run
import kpi_engine.errors as engine_errors
import kpi_engine.health as health
from connectors import registry
from connectors.errors import ConfigError, ConnectorError
from connectors.sync import StreamResult, other_tables
from jobs.config import AppConfig, load_config
from jobs.publish import open_reader, publish_store
from jobs.sync import open_store, sync_sources
from kpi_engine.dialects import DIALECTS
from kpi_engine.dialects import render as render_sql
from kpi_engine.errors import EngineError
from kpi_engine.export import ALL, COMPLETE, FORMATS, export, plain_number
from kpi_engine.hygiene import hygiene_lines
from kpi_engine.kpis import DIMENSIONS, GRAINS, KPI_NAMES, ComputeSummary, compute
from kpi_engine.leaderboard import leaderboard
from kpi_engine.periods import CURRENT, LATEST, Period, choose_period
from kpi_engine.report_credit import BASELINE, credit_data
from kpi_engine.status import rejects_query, store_status
from kpi_engine.waterfall import GROUP as WATERFALL
from kpi_engine.waterfall import export_deals

#: The exit codes (the module docstring's table; errors carry theirs as ``exit_code``).
EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = jobs_run.EXIT_OK, jobs_run.EXIT_FAILED, jobs_run.EXIT_PARTIAL
EXIT_LOCKED = engine_errors.EXIT_LOCKED
EXIT_LIMIT = connector_errors.EXIT_LIMIT
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
EXIT_STALE = health.EXIT_STALE
EXIT_AUTH = connector_errors.EXIT_AUTH
#: Exit code of a command stopped by a CRM's API allowance (state kept; run again later).
LIMIT_EXIT_CODE = EXIT_LIMIT

# a pipe or a file gets 140 columns (rich's default of 80 wraps the partner tables)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _Failed(click.ClickException):
    """A library error as click's exception: one line, the error's own exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click declares a class-wide default

    def show(self, file: object = None) -> None:
        """Print ``error: <message>`` on standard error."""
        err.print(f"error: {self.message}", markup=False)


def _fail(exc: ConnectorError | EngineError) -> _Failed:
    if isinstance(exc, ConfigError) and len(exc.problems) > 1:
        for line in exc.problems[:-1]:
            err.print(f"error: {line}", markup=False)
        return _Failed(exc.problems[-1], exc.exit_code)
    return _Failed(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code)


def _config(
    ctx: click.Context, *, check_secrets: bool = False, sources: list[str] | None = None,
    offline: bool = False,
) -> AppConfig:
    try:
        return load_config(ctx.obj["config"], check_secrets=check_secrets, sources=sources,
                           offline=offline)
    except ConfigError as exc:
        raise _fail(exc) from None


def _note(line: str) -> None:
    err.print(f"note: {line}", markup=False)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, systemd or a CI runner cancelling the job), raised where the
    process is, so it unwinds like Ctrl-C: the page in flight rolls back, the run is marked
    stopped."""


#: The signal that stopped the command, if any: DuckDB turns the handler's exception into its
#: own ``RuntimeError`` (``Query interrupted``), so the signal itself is what tells them apart.
_signalled: list[int] = []


def _on_signal(signum: int, frame: object) -> None:
    _signalled.append(signum)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


class _Group(click.Group):
    """Ctrl-C (SIGINT) ends with one line and exit code 130; SIGTERM the same way with 143
    (128 + 15, what a shell reports for a process ended by SIGTERM)."""

    def invoke(self, ctx: click.Context) -> object:
        import duckdb

        previous = {}
        if threading.current_thread() is threading.main_thread():
            _signalled.clear()
            previous = {sig: signal.signal(sig, _on_signal)
                        for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return super().invoke(ctx)
        except Exception as exc:  # KeyboardInterrupt is not one: see below
            # after a signal, DuckDB's "Query interrupted" (or whatever the unwinding raised)
            if not _signalled or isinstance(exc, click.exceptions.Exit):
                raise
            self._interrupted(ctx, signal.SIGTERM in _signalled)
        except (KeyboardInterrupt, duckdb.InterruptException) as exc:
            self._interrupted(ctx, isinstance(exc, Terminated) or signal.SIGTERM in _signalled)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return None

    @staticmethod
    def _interrupted(ctx: click.Context, term: bool) -> None:
        what = "terminated (SIGTERM)" if term else "interrupted"
        err.print(f"error: {what}; every committed page is kept, nothing half-written",
                  markup=False)
        ctx.exit(EXIT_TERMINATED if term else EXIT_INTERRUPTED)


@click.group(cls=_Group)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $PARTNERKPI_CONFIG, else ./partnerkpi.yaml).",
)
@click.version_option(package_name="partnerkpi")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """partnerkpi: partner KPIs from your CRM, computed in DuckDB."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


def _print_sync(results: list) -> None:
    for result in results:
        table = Table(title=f"sync {result.source}: {result.status}", title_justify="left")
        for col in ("stream", "pages", "inserted", "updated", "unchanged", "deleted", "rejected"):
            table.add_column(col, justify="left" if col == "stream" else "right")
        for name, c in result.streams.items():
            table.add_row(
                name,
                str(c.pages),
                str(c.inserted),
                str(c.updated),
                str(c.unchanged),
                str(c.deleted),
                str(c.rejected),
            )
            for other, t in other_tables(name, c).items():  # rows the stream's pages carry
                table.add_row(f"  {other} (in {name})", "", str(t.inserted), str(t.updated),
                              str(t.unchanged), "", "")
        out.print(table)
        rejected = {name: c.rejected for name, c in result.streams.items() if c.rejected}
        if rejected:
            per_stream = ", ".join(f"{name} {n}" for name, n in rejected.items())
            total = sum(rejected.values())
            out.print(
                f"rejected: {total} bad value{'' if total == 1 else 's'} ({per_stream}), handled "
                f"per on_bad_record; partnerkpi status lists them, and the store's rejects table "
                f"has them all ({rejects_query(run_id=result.run_id)})",
                markup=False,
            )
        if result.api_calls is not None:
            left = result.api_allowance_left
            out.print(
                f"API calls: {result.api_calls} used by this run"
                + (f"; {left} left in the daily allowance" if left is not None else ""),
                markup=False,
            )
        for counts in result.streams.values():
            for warning in counts.warnings:
                out.print(f"warning: {warning}", markup=False)


def _progress_bar() -> tuple[Progress, Callable[[str, StreamResult], None]]:
    """A progress bar per stream (records, pages, records/s) on standard error."""
    bar = Progress(
        TextColumn("{task.description:<15}"),
        BarColumn(),
        TextColumn("{task.completed:>9,.0f} records"),
        TextColumn("{task.fields[pages]:>5} pages"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err,
    )
    tasks: dict[str, tuple[TaskID, float]] = {}
    last = [time.monotonic()]

    def update(stream: str, counts: StreamResult) -> None:
        if stream not in tasks:
            tasks[stream] = (bar.add_task(stream, total=None, pages=0, rate=""), last[0])
        task, started = tasks[stream]
        now = last[0] = time.monotonic()
        records = counts.inserted + counts.updated + counts.unchanged + counts.deleted
        rate = f"{records / (now - started):>9,.0f} records/s" if now > started else ""
        bar.update(task, completed=records, pages=counts.pages, rate=rate)

    return bar, update


@cli.command()
@click.option(
    "--source",
    type=click.Choice(registry.names()),
    default=None,
    help="Sync only this source (default: every configured source).",
)
@click.option("--full-refresh", is_flag=True, help="Ignore watermarks and read everything again.")
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="Let a full-snapshot import (CSV) flag more than sources.csv.max_delete_share of a "
    "stream's rows deleted.",
)
@click.pass_context
def sync(ctx: click.Context, source: str | None, full_refresh: bool,
         allow_mass_delete: bool) -> None:
    """Pull the configured sources into the DuckDB store (incremental)."""
    config = _config(ctx, check_secrets=True, sources=[source] if source else None)

    bar, progress = _progress_bar()
    try:
        with bar, open_store(config) as store:
            results = sync_sources(
                config, store, source=source, full_refresh=full_refresh, progress=progress,
                allow_mass_delete=allow_mass_delete,
            )
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    _print_sync(results)


def _print_compute(summary: ComputeSummary) -> None:
    rows = ", ".join(f"{g} {n}" for g, n in summary.rows.items())
    out.print(f"computed KPIs over {summary.deals} deals: {rows} rows", markup=False)
    for line in summary.warning_lines():
        out.print(f"warning: {line}", markup=False)


@cli.command(name="compute")
@click.option(
    "--grain",
    "grains",
    multiple=True,
    type=click.Choice(list(GRAINS)),
    help="Grain(s) to compute (default: month, quarter and year).",
)
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Compute as at the start of this day (in the reporting time zone; default: today, "
    "the period in progress to date).",
)
@click.option(
    "--from",
    "date_from",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First period: the one holding this date.",
)
@click.option(
    "--to",
    "date_to",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last period: the one holding this date.",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default=None,
    help="Where the KPI SQL runs: the store (duckdb) or Spark (the config's spark: section). "
    "Default: the config's engine (duckdb).",
)
@click.option(
    "--into-store",
    is_flag=True,
    default=None,
    help="Spark: also copy the rows into the store(s), for export, push and report.",
)
@click.pass_context
def compute_cmd(ctx: click.Context, grains: tuple[str, ...], as_of, date_from, date_to,
                engine: str | None, into_store: bool | None) -> None:
    """Compute every partner KPI into kpi_wide (as rows: the view kpi_values), or on Spark."""
    config = _config(ctx, offline=True)

    def day(value) -> date | None:
        return value.date() if value else None

    if (engine or config.engine) == "spark":
        _compute_spark(config, grains or tuple(GRAINS), day(as_of), day(date_from), day(date_to),
                       into_store)
        return
    try:
        with open_store(config, must_exist=True) as store:
            summary = compute(
                store,
                config.kpi_settings(),
                grains or tuple(GRAINS),
                as_of=day(as_of),
                date_from=day(date_from),
                date_to=day(date_to),
            )
            published = publish_store(config, store)
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    _print_compute(summary)
    if published is not None:
        out.print(f"published {published.database}", markup=False)


def _compute_spark(config: AppConfig, grains: tuple[str, ...], as_of: date | None,
                   date_from: date | None, date_to: date | None, into_store: bool | None) -> None:
    from jobs.spark_compute import compute_on_spark

    try:
        run = compute_on_spark(config, grains, as_of=as_of, date_from=date_from,
                               date_to=date_to, into_store=into_store)
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    for tenant, summary in run.summaries.items():
        if tenant:
            out.print(f"tenant {tenant}:", markup=False)
        _print_compute(summary)
    out.print(f"wrote the KPI rows to {run.output}"
              + (f" and table {run.table}" if run.table else ""), markup=False)
    for database in run.into_store:
        out.print(f"copied them into {database}", markup=False)
    for database in run.published:
        out.print(f"published {database}", markup=False)


@cli.command(name="export-canonical")
@click.option("--to", "directory", required=True, type=click.Path(file_okay=False),
              help="The folder: one sub-folder of Parquet files per canonical table.")
@click.option("--tenant", default=None,
              help="Write <table>/<TENANT>.parquet with a tenant column (several stores, one "
              "folder).")
@click.pass_context
def export_canonical_cmd(ctx: click.Context, directory: str, tenant: str | None) -> None:
    """Export the store's canonical tables as Parquet (the input of compute --engine spark)."""
    from kpi_engine.canonical import export_canonical

    config = _config(ctx)
    try:
        with open_store(config, read_only=True, must_exist=True) as store:
            counts = export_canonical(store, directory, tenant)
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    rows = ", ".join(f"{t} {n}" for t, n in counts.items())
    out.print(f"wrote {rows} rows to {directory}", markup=False)


@cli.command(name="sql")
@click.option("--dialect", type=click.Choice(DIALECTS), default="duckdb", show_default=True)
@click.option("--grain", type=click.Choice(list(GRAINS)), default="month", show_default=True,
              help="The grain the per-grain steps are written for.")
@click.option("--step", default=None, help="Only this step (default: every step, in run order).")
@click.option("--fiscal-year-start-month", "fiscal", type=click.IntRange(1, 12), default=1,
              show_default=True,
              help="First month of quarters and years (setting kpis: fiscal_year_start_month).")
def sql_cmd(dialect: str, grain: str, step: str | None, fiscal: int) -> None:
    """Print the KPI SQL steps in run order, transpiled from DuckDB to another dialect."""
    try:
        text = render_sql(dialect, grain, step, fiscal)
    except EngineError as exc:
        raise _fail(exc) from None
    click.echo(text, nl=False)


@cli.command(name="export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option("--output", default="-", show_default=True, help="File, or - for standard output.")
@click.option("--grain", type=click.Choice(list(GRAINS)), default=None)
@click.option("--dimension", type=click.Choice(DIMENSIONS), default=None)
@click.option("--kpi", type=click.Choice([*KPI_NAMES, WATERFALL]), default=None,
              help=f"One KPI, or {WATERFALL} (its nine buckets).")
@click.option(
    "--period",
    default=COMPLETE,
    show_default=True,
    help="complete (every complete period), latest (the latest complete one), current (the "
    "period in progress, to date), all, or YYYY-MM-DD: the period holding it.",
)
@click.option("--change", is_flag=True,
              help="Add previous,change,change_ratio,year_ago,yoy_change,yoy_ratio columns.")
@click.option("--member", default=None, help="With --deals: the member (id, or all).")
@click.option("--deals", is_flag=True,
              help=f"With --kpi {WATERFALL} --member X --period P: the deals of each bucket.")
@click.pass_context
def export_cmd(ctx: click.Context, fmt: str, output: str, grain, dimension, kpi,
               period: str, change: bool, member: str | None, deals: bool) -> None:
    """Export computed KPIs: grain,period_start,dimension,member,member_name,kpi,value,n,
    period_status (complete or to date); wide-csv and xlsx: one row per period and member, a
    column per KPI, values rounded by unit."""
    config = _config(ctx, offline=True)
    if deals and (kpi != WATERFALL or member is None or period in (COMPLETE, ALL)):
        msg = f"--deals needs --kpi {WATERFALL}, --member and --period latest, current or a date"
        raise _Failed(msg)
    which = _period_option(period, (COMPLETE, ALL))
    try:
        with open_reader(config, _note) as store:
            target = sys.stdout if output == "-" else Path(output)
            if deals:
                assert member is not None
                count = export_deals(
                    store, config.kpi_settings(), fmt, target, grain=grain or "quarter",
                    period=which, member=member,
                    dimension="overall" if member == "all" else dimension or "partner",
                    today=config.today(store))
            else:
                count = export(store, fmt, target, grain=grain, dimension=dimension, kpi=kpi,
                               period=which, today=config.today(store), change=change)
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    if output != "-":
        err.print(f"wrote {count} rows to {output}", markup=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@click.option("--history", is_flag=True,
              help="Every sync run instead: id, source, start, end, duration, status, counts "
              "per stream, error.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, history: bool) -> None:
    """Show what is in the store: rows per table and source, last runs, rejects, last compute."""
    config = _config(ctx, offline=True)
    try:
        with open_reader(config, _note) as store:
            st = store_status(store, config.today(store))
            runs = health.run_history(store) if history else []
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    if history:
        _print_history(runs, as_json)
        return
    if as_json:
        out.print(json.dumps(health.status_json(st, store.path), indent=2,
                             default=str), markup=False)
        return
    out.print(f"store: {store.path}", markup=False)
    rows = Table(title="rows", title_justify="left")
    for col in ("table", "source", "rows", "deleted"):
        rows.add_column(col)
    for (table, source), (total, gone) in st.rows.items():
        rows.add_row(table, source, str(total), str(gone))
    out.print(rows)
    streams = Table(title="streams", title_justify="left")
    for col in ("source", "stream", "last run", "finished (UTC)", "records", "rejected",
                "watermark", "error"):
        streams.add_column(col)
    for s in st.streams:
        c = s["counts"]
        records = sum(c.get(k, 0) for k in ("inserted", "updated", "unchanged"))
        finished = s["last_run_finished"]
        streams.add_row(
            s["source"],
            s["stream"],
            s["last_run_status"] or "",
            f"{finished:%Y-%m-%d %H:%M:%S}" if finished else "",
            str(records),
            str(c.get("rejected", 0)),
            s["watermark"] or "",
            s["last_run_error"] or "",
        )
    out.print(streams)
    if st.rejects:
        rejects = Table(title="rejects (latest first)", title_justify="left")
        for col in ("run", "source", "stream", "record", "field", "value", "reason"):
            rejects.add_column(col)
        for r in st.rejects:
            rejects.add_row(str(r["run_id"]), r["source"], r["stream"], r["record_id"],
                            r["field"], "" if r["value"] is None else repr(r["value"]),
                            r["reason"])
        out.print(rejects)
        for source, total in st.rejects_total.items():
            shown = sum(1 for r in st.rejects if r["source"] == source)
            if total > shown:
                out.print(
                    f"{source}: {total} rejects in all, {shown} shown: "
                    f"{rejects_query(source=source)}",
                    markup=False,
                )
    for n in st.notes:
        out.print(f"note: {n['note']}", markup=False)
    for c in st.completeness:
        start = f"{c['window_start']:%Y-%m-%d %H:%M:%S}" if c["window_start"] else "the beginning"
        state = ("complete" if c["crm_count"] == c["store_count"] else
                 "MISMATCH: the next sync re-reads it" if c["repair_from"] else
                 "MISMATCH after a repair read: run sync --full-refresh")
        out.print(f"completeness {c['source']} {c['stream']}: {start} .. "
                  f"{c['window_end']:%Y-%m-%d %H:%M:%S} UTC: CRM {c['crm_count']}, store "
                  f"{c['store_count']}: {state}", markup=False)
    for c in st.last_compute:
        out.print(
            f"last compute ({c['grain']}): {c['computed_at']:%Y-%m-%d %H:%M:%S} UTC, "
            f"{c['rows']} rows",
            markup=False,
        )
    for grain, latest, current in st.periods:
        done = f"latest complete {latest.label}" if latest else f"no complete {grain} yet"
        going = f"in progress {current.label}" if current else "nothing in progress computed"
        out.print(f"{grain}: {done}; {going}", markup=False)
    out.print("partner hygiene:", markup=False)
    for line in hygiene_lines(st.partner_hygiene):
        out.print(f"  {line}", markup=False)


def _print_history(runs: list[dict], as_json: bool) -> None:
    if as_json:
        out.print(json.dumps(health.history_json(runs), indent=2, default=str), markup=False)
        return
    table = Table(title="sync runs", title_justify="left")
    for col in ("run", "source", "started (UTC)", "finished (UTC)", "seconds", "status",
                "records", "rejected", "error"):
        table.add_column(col, justify="right" if col in ("run", "seconds", "records",
                                                          "rejected") else "left")
    for r in runs:
        counts = r["counts"].values()
        table.add_row(
            str(r["run_id"]), r["source"], f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
            f"{r['finished_at']:%Y-%m-%d %H:%M:%S}" if r["finished_at"] else "",
            "" if r["duration_s"] is None else f"{r['duration_s']:.1f}", r["status"],
            str(sum(c.get(k, 0) for c in counts for k in ("inserted", "updated", "unchanged"))),
            str(sum(c.get("rejected", 0) for c in counts)), r["error"] or "",
        )
    out.print(table)


@cli.command(name="health")
@click.option("--max-age", default="26h", show_default=True,
              help="The oldest the last good sync run may be: 26h, 2d, 90m, 1d12h.")
@click.pass_context
def health_cmd(ctx: click.Context, max_age: str) -> None:
    """Exit 5 unless every source's last good sync run finished within --max-age; print when."""
    config = _config(ctx, offline=True)
    if not config.database.exists():
        err.print(f"stale: no store at {config.database} yet", markup=False)
        ctx.exit(health.EXIT_STALE)
    try:
        age = health.parse_age(max_age)
        with open_reader(config, _note) as store:
            result = health.check_health(store, age, config.source_names())
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    (out if result.ok else err).print(result.line, markup=False)
    if not result.ok:
        ctx.exit(health.EXIT_STALE)


@cli.command(name="check")
@click.option(
    "--source",
    type=click.Choice(registry.names()),
    default=None,
    help="Check only this source (default: every configured source).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def check_cmd(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """Check credentials, scopes, API version, every configured field, the write-back targets
    and the API allowance before anything is read or written; exit 1 naming every problem
    (6 when a CRM refuses the credentials)."""
    config = _config(ctx, check_secrets=True, sources=[source] if source else None)
    try:
        findings = jobs_preflight.check(config, source=source)
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    if as_json:
        print(json.dumps({"ok": not jobs_preflight.problems(findings),
                          "findings": [f.as_dict() for f in findings]}, indent=2))
    else:
        table = Table("source", "check", "result", "detail")
        for f in findings:
            mark = {True: "ok", False: "PROBLEM", None: "not checked"}[f.ok]
            table.add_row(f.source, f.check, mark, f.detail)
        out.print(table)
    try:
        jobs_preflight.require(findings)
    except ConnectorError as exc:
        raise _fail(exc) from None


def _period_title(grain: str, period: Period | None) -> str:
    """``quarter starting 2017-10-01``, with ``, to date (as at ...)`` for a period in
    progress."""
    if period is None:
        return f"{grain}: none computed"
    to_date = "" if period.complete else f", to date (as at {period.as_of})"
    return f"{grain} starting {period.start}{to_date}"


def _print_leaderboard(store, grain: str, dimension: str, today: date) -> None:
    period = choose_period(store, grain, LATEST, today=today)
    if period is None:
        out.print(f"no complete {grain} computed yet", markup=False)
        return
    table = Table(title=f"{dimension} leaderboard, {_period_title(grain, period)}",
                  title_justify="left")
    rows = leaderboard(store, grain, period.start, dimension)
    status = any(row.status for row in rows)  # targets or tiers configured
    for col in (
        "#",
        dimension,
        "quality",
        "won amount",
        "won",
        "win rate",
        "avg deal",
        "cycle (days)",
        *(("target", "tier") if status else ()),
    ):
        table.add_column(col, justify="left" if col in (dimension, "tier") else "right")
    for row in rows:
        v = row.values
        score = v["quality_score"]
        attainment = row.status.get("partner_target_attainment")
        table.add_row(
            str(row.rank),
            row.member_name,
            "insufficient data" if score is None else f"{score:.2f}",
            f"{v['won_amount']:,.0f}",
            plain_number(v["deals_won"]),
            "" if v["win_rate"] is None else f"{v['win_rate'] * 100:.1f}%",
            "" if v["average_deal_size"] is None else f"{v['average_deal_size']:,.0f}",
            "" if v["sales_cycle_days"] is None else f"{v['sales_cycle_days']:.1f}",
            *((("" if attainment is None else f"{attainment * 100:.1f}%"),  # type: ignore[operator]
               str(row.status.get("partner_tier") or "")) if status else ()),
        )
    out.print(table)


def _print_credit(store, grain: str, config) -> None:
    """The partner credit of the latest complete period: won amount per category and partner,
    and partner deals against direct deals (win rate, average deal size, sales cycle)."""
    period = choose_period(store, grain, LATEST, today=config.today())
    if period is None:
        return
    categories = config.attribution.categories
    data = credit_data(store, grain, period.start, categories)
    table = Table(title=f"partner credit ({data.rule or 'n/a'}), {_period_title(grain, period)}",
                  title_justify="left")
    table.add_column("partner")
    for category in categories:
        table.add_column(f"{category} won", justify="right")
    for member, won in sorted(data.won.items(),
                              key=lambda kv: (-sum(kv[1].values()), kv[0])):
        table.add_row(data.names.get(member, member),
                      *(f"{won[c]:,.0f}" if c in won else "" for c in categories))
    out.print(table)
    for category, label in BASELINE.items():
        b = data.baseline.get(category)
        if b is None:
            continue
        rate, size, cycle = b["win_rate"], b["average_deal_size"], b["sales_cycle_days"]
        out.print(
            f"{label}: win rate {'' if rate is None else f'{rate * 100:.1f}%'}, average deal "
            f"{'' if size is None else f'{size:,.0f}'}, sales cycle "
            f"{'' if cycle is None else f'{cycle:.1f} days'}", markup=False)


def _period_option(value: str, extra: tuple[str, ...] = ()) -> str | date:
    """``--period``: latest, current (or one of ``extra``), or a date YYYY-MM-DD."""
    if value in (LATEST, CURRENT, *extra):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        names = ", ".join((LATEST, CURRENT, *extra))
        msg = f"--period {value!r} is not {names} or a date YYYY-MM-DD"
        raise _Failed(msg) from None


@cli.command()
@click.option("--grain", type=click.Choice(list(GRAINS)), default="quarter", show_default=True)
@click.option(
    "--period",
    default="latest",
    show_default=True,
    help="latest (the latest complete period), current (the period in progress, to date), "
    "or YYYY-MM-DD: the period holding it.",
)
@click.option(
    "--dimension",
    type=click.Choice([d for d in DIMENSIONS if d != "overall"]),
    default="partner",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default="report.html",
    show_default=True,
    help="The HTML file to write.",
)
@click.pass_context
def report(ctx: click.Context, grain: str, period: str, dimension: str, output: str) -> None:
    """Write the HTML report: leaderboard and charts for one period (one file, works offline)."""
    from kpi_engine.report import write_report

    config = _config(ctx, offline=True)
    which = _period_option(period)
    try:
        with open_reader(config, _note) as store:
            size = write_report(
                store,
                config.kpi_settings(),
                Path(output),
                grain=grain,
                period=which,
                dimension=dimension,
                today=config.today(store),
            )
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    out.print(f"wrote {output} ({size / 1e6:.1f} MB)", markup=False)


@cli.command()
@click.option("--port", type=int, default=8443, show_default=True, help="Port (0: any free port).")
@click.option(
    "--data",
    type=click.Choice(["maven", "synthetic"]),
    default="maven",
    show_default=True,
    help="The real Maven data set, or generated data.",
)
@click.option(
    "--synthetic",
    "n_deals",
    type=click.IntRange(min=0),
    default=10_000,
    show_default=True,
    help="Deals to generate with --data synthetic.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generator.")
def sandbox(port: int, data: str, n_deals: int, seed: int) -> None:
    """Serve the local CRM sandbox (the CRM APIs it speaks, over HTTPS) until Ctrl-C."""
    import threading

    from crm_sandbox.datasets import load_maven, synthetic
    from crm_sandbox.server import Sandbox

    world = load_maven() if data == "maven" else synthetic(n_deals, seed)
    with Sandbox(world).warm().start(port=port) as sb:
        out.print(f"CRM sandbox at {sb.url} ({data}: {len(world.deals)} deals)", markup=False)
        out.print(f"CA bundle: {sb.ca_bundle}", markup=False)
        for line in sb.endpoints():
            out.print(line, markup=False)
        out.print("Ctrl-C stops it.", markup=False)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            out.print("stopped", markup=False)


@cli.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default="partnerkpi-demo",
    show_default=True,
    help="Folder for the demo's DuckDB file.",
)
def demo(workdir: str) -> None:
    """Serve the real data set as a Salesforce org and a HubSpot portal (the local CRM sandbox)
    and run the main job against each: sync, compute, leaderboard, push plan, report."""
    from jobs.demo import run_demo
    from kpi_engine.store import Store

    try:
        result = run_demo(Path(workdir))
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    for run in result.runs:
        out.rule(f"{run.crm} (CRM sandbox)")
        _print_sync(run.syncs)
        _print_compute(run.summary)
        with Store(run.config.database, read_only=True) as store:
            _print_leaderboard(store, "quarter", "partner", run.config.today(store))
            _print_credit(store, "quarter", run.config)
        for push in run.pushes:
            _print_push(push)
        out.print(f"DuckDB file: {run.config.database}", markup=False)
        out.print(f"report: {run.report.resolve()}", markup=False)
    first = result.runs[0]
    out.print(
        f"try: partnerkpi --config {first.config.path} export --grain quarter --dimension partner",
        markup=False,
    )


def _print_plan(result) -> None:
    """One push's plan (dry run) as a table: partner, field, old -> new, action."""
    table = Table(
        title=f"push {result.source} {result.crm_object}: "
        f"{_period_title(result.grain, result.period)}",
        title_justify="left",
    )
    for col in ("partner", "record", "field", "kpi", "old", "new", "action"):
        table.add_column(col, justify="right" if col in ("old", "new") else "left")
    from jobs.run import plan_value

    for c in result.cells:
        table.add_row(
            c.name or "",
            c.record_id,
            c.field,
            c.kpi,
            (plan_value(c.old) or "") if c.old_known else "?",
            plan_value(c.new) or "",
            c.action if c.action != "skip" else f"skip ({c.policy})",
        )
    out.print(table)


def _print_push(result) -> None:
    if result.dry_run:
        _print_plan(result)
        for name in result.created_fields:
            out.print(f"would create property {name}", markup=False)
        out.print(
            f"dry run: {result.count('write')} fields to write, "
            f"{result.count('unchanged')} unchanged, {result.count('keep')} kept, "
            f"{result.count('skip')} skipped by policy; {result.read_calls} read calls; "
            "nothing written",
            markup=False,
        )
        return
    for name in result.created_fields:
        out.print(f"created property {name}", markup=False)
    if result.period is not None and not result.period.complete:
        out.print(f"push {result.source}: {_period_title(result.grain, result.period)}",
                  markup=False)
    out.print(
        f"push {result.source}: {result.records_written} written, {result.records_failed} "
        f"failed, {result.count('unchanged')} fields unchanged, {result.count('skip')} skipped "
        f"by policy, {result.write_calls} write calls, {result.read_calls} read calls",
        markup=False,
    )
    for f in result.failures:
        err.print(
            f"failed: {result.source} {f.record_id} ({f.name}): {f.error_code}: "
            f"{f.message} (fields {', '.join(f.fields)})",
            markup=False,
        )


@cli.command()
@click.option(
    "--source",
    "target",
    type=click.Choice(registry.push_names()),
    default=None,
    help="Push to this CRM only (default: every CRM under writeback).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan / result as JSON.")
@click.option(
    "--create-properties",
    is_flag=True,
    help="Create missing target fields first, where the CRM allows it (HubSpot properties, in "
    "group partnerkpi).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write every value the fields' policies allow, even where the CRM holds it already.",
)
@click.pass_context
def push(
    ctx: click.Context,
    target: str | None,
    dry_run: bool,
    as_json: bool,
    create_properties: bool,
    force: bool,
) -> None:
    """Write partner KPIs into the CRM (only changed values). Exit 2: some records failed."""
    import json as _json

    from jobs.run import push_json, push_targets
    from kpi_engine.lock import StoreLock

    config = _config(ctx)
    lock = None if dry_run else StoreLock(config.database, command="partnerkpi push")
    try:
        if lock is not None:
            lock.acquire()
        with open_store(config) as store:
            results = push_targets(
                config,
                store,
                target=target,
                dry_run=dry_run,
                create_fields=create_properties,
                force=force,
            )
    except (ConnectorError, EngineError) as exc:
        raise _fail(exc) from None
    finally:
        if lock is not None:
            lock.release()
    if as_json:
        out.print(
            _json.dumps([push_json(r, plan=dry_run) for r in results], indent=2), markup=False
        )
    else:
        for result in results:
            _print_push(result)
    if any(r.status == "partial" for r in results):
        ctx.exit(EXIT_PARTIAL)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Then write the HTML report here (as partnerkpi report with its defaults).",
)
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Compute as at the start of this day (as compute --as-of; default: today).",
)
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="As sync --allow-mass-delete.",
)
@click.pass_context
def run(ctx: click.Context, as_json: bool, report_path: str | None, as_of,
        allow_mass_delete: bool) -> None:
    """The scheduled job: sync, compute, push. Exit 0 ok, 1 failed, 2 partial, 3 locked, 4 API
    limit."""
    import json as _json

    from jobs.run import run_job
    from kpi_engine.report import write_report

    config = _config(ctx, check_secrets=True)
    summary = run_job(
        config, as_of=as_of.date() if as_of else None, allow_mass_delete=allow_mass_delete,
        on_step=None if as_json else (lambda step: err.print(f"{step} ...", markup=False)),
    )
    report_note = None
    if report_path and summary.compute is not None and not summary.error:
        try:
            with open_store(config, read_only=True) as store:
                size = write_report(store, config.kpi_settings(), Path(report_path),
                                    today=config.today(store))
            report_note = f"wrote {report_path} ({size / 1e6:.1f} MB)"
        except (ConnectorError, EngineError) as exc:
            summary.step, summary.error = "report", str(exc).splitlines()[0]
            summary.status = "failed"
    if as_json:
        body = summary.to_json()
        if report_path:
            body["report"] = report_path if report_note else None
        out.print(_json.dumps(body, indent=2, default=str), markup=False)
    else:
        _print_sync(summary.syncs)
        if summary.compute is not None:
            _print_compute(summary.compute)
        for result in summary.pushes:
            _print_push(result)
        if summary.published is not None:
            out.print(f"published {summary.published.database}", markup=False)
        if summary.stale_lock:
            err.print(
                f"warning: took over a stale lock of pid {summary.stale_lock.get('pid')}",
                markup=False,
            )
        if report_note:
            out.print(report_note, markup=False)
    if summary.notify_error:
        err.print(f"warning: {summary.notify_error}", markup=False)
    if summary.error:
        err.print(f"error: {summary.step}: {summary.error}", markup=False)
    ctx.exit(summary.exit_code)


if __name__ == "__main__":
    cli()
