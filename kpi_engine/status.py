"""What is in the store: rows per table and source, the last run per stream, the rejects, the
last compute, and per grain the latest complete period and the one in progress."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from kpi_engine.completeness import notes_and_counts
from kpi_engine.hygiene import PartnerHygiene, partner_hygiene
from kpi_engine.periods import CURRENT, LATEST, Period, choose_period, reporting_today
from kpi_engine.store import CANONICAL_TABLES, Store

_GRAINS = ("month", "quarter", "year")


@dataclass
class StoreStatus:
    """A snapshot of the store.

    Attributes:
        rows: (table, source) -> (rows, rows flagged deleted).
        streams: one dict per (source, stream) of each source's last run: watermark,
            updated_at, counts (inserted/updated/unchanged/deleted/pages), and the run's status,
            times and error.
        last_compute: per grain: computed_at, as_of, rows; ``kpi_values`` rows in total.
        rejects: the latest ``REJECTS_SHOWN`` rows of the ``rejects`` table per source (newest
            run first): run_id, source, stream, record_id, field, value, reason.
        rejects_total: rows in the ``rejects`` table per source.
        periods: per computed grain, (grain, the latest complete period, the period in
            progress), each None when ``kpi_values`` has none (:mod:`kpi_engine.periods`).
        partner_hygiene: won deals without a partner, top-5 concentration, partner changed
            after close (:mod:`kpi_engine.hygiene`).
        notes: what each source said about itself (source, topic, note, updated_at): which
            rule its amounts follow (``currency_rule``), its calculated fields
            (:mod:`kpi_engine.completeness`).
        completeness: per (source, stream) the last completeness check: window, the CRM's
            count, the store's, ``repair_from`` (the next run re-reads from there) and repairs.
    """

    rows: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    streams: list[dict[str, Any]] = field(default_factory=list)
    last_compute: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    rejects_total: dict[str, int] = field(default_factory=dict)
    periods: list[tuple[str, Period | None, Period | None]] = field(default_factory=list)
    partner_hygiene: PartnerHygiene = field(default_factory=PartnerHygiene)
    notes: list[dict[str, Any]] = field(default_factory=list)
    completeness: list[dict[str, Any]] = field(default_factory=list)


#: Rows of the ``rejects`` table :func:`store_status` lists per source.
REJECTS_SHOWN = 20


def rejects_query(*, run_id: int | None = None, source: str | None = None) -> str:
    """The query a user runs (DuckDB CLI, any SQL client) to list rejects of a run or a source,
    for messages pointing at the ``rejects`` table."""
    if run_id is not None:
        return f"SELECT * FROM rejects WHERE run_id = {int(run_id)}"
    where = "" if source is None else " WHERE source = '" + source.replace("'", "''") + "'"
    return f"SELECT * FROM rejects{where} ORDER BY run_id DESC"


def store_status(store: Store, today: date | None = None) -> StoreStatus:
    """Read a :class:`StoreStatus` (read-only queries).

    Args:
        store: the store.
        today: the date in the reporting time zone, for the periods (default: today in UTC).
    """
    status = StoreStatus()
    for table in CANONICAL_TABLES:
        has_deleted = "is_deleted" in store.table_info(table).columns
        deleted = "count(*) FILTER (WHERE is_deleted)" if has_deleted else "0"
        for source, total, gone in store.con.execute(
            f"SELECT source, count(*), {deleted} FROM {table} GROUP BY source ORDER BY source"
        ).fetchall():
            status.rows[(table, source)] = (total, gone)
    watermarks = {
        (source, stream): (watermark, updated)
        for source, stream, watermark, updated in store.con.execute(
            "SELECT source, stream, watermark, updated_at FROM sync_state"
        ).fetchall()
    }
    runs = store.con.execute(
        "SELECT source, status, started_at, finished_at, error, rows FROM sync_runs "
        "QUALIFY run_id = max(run_id) OVER (PARTITION BY source) ORDER BY source"
    ).fetchall()
    for source, run_status, started, finished, error, counts in runs:
        per_stream = json.loads(counts) if counts else {}
        names = list(per_stream) + sorted(
            {st for (src, st) in watermarks if src == source} - set(per_stream)
        )
        for stream in names:
            watermark, updated = watermarks.get((source, stream), (None, None))
            status.streams.append({
                "source": source, "stream": stream, "watermark": watermark,
                "updated_at": updated, "counts": per_stream.get(stream, {}),
                "last_run_status": run_status, "last_run_started": started,
                "last_run_finished": finished, "last_run_error": error,
            })
    status.rejects_total = dict(store.con.execute(
        "SELECT source, count(*) FROM rejects GROUP BY source ORDER BY source"
    ).fetchall())
    keys = ("run_id", "source", "stream", "record_id", "field", "value", "reason")
    status.rejects = [dict(zip(keys, row, strict=True)) for row in store.con.execute(
        f"SELECT {', '.join(keys)} FROM rejects QUALIFY row_number() OVER (PARTITION BY source "
        "ORDER BY run_id DESC, stream, record_id, field) <= ? "
        "ORDER BY source, run_id DESC, stream, record_id, field", [REJECTS_SHOWN]
    ).fetchall()]
    for grain, computed_at, as_of, rows in store.con.execute(
        "SELECT grain, arg_max(computed_at, computed_at), arg_max(as_of, computed_at), "
        "arg_max(rows, computed_at) FROM kpi_runs GROUP BY grain ORDER BY grain"
    ).fetchall():
        status.last_compute.append({"grain": grain, "computed_at": computed_at, "as_of": as_of,
                                    "rows": rows})
    tables = {r[0] for r in store.con.execute(
        "SELECT table_name FROM information_schema.tables").fetchall()}
    if {"source_notes", "stream_counts"} <= tables:  # a store migrated to 014
        status.notes, status.completeness = notes_and_counts(store)
    day = today or reporting_today()
    computed = {r[0] for r in store.con.execute("SELECT DISTINCT grain FROM kpi_values").fetchall()}
    for grain in (g for g in _GRAINS if g in computed):
        status.periods.append((grain, choose_period(store, grain, LATEST, today=day),
                               choose_period(store, grain, CURRENT, today=day)))
    status.partner_hygiene = partner_hygiene(store)
    return status
