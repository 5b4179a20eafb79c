"""Run health: the history of the sync runs, ``status`` as JSON, and the freshness check
``partnerkpi health --max-age 26h`` (for a monitor or a scheduler's alerting).

Every instant is UTC; durations are seconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kpi_engine.errors import EngineError
from kpi_engine.hygiene import PartnerHygiene
from kpi_engine.periods import Period, now
from kpi_engine.status import StoreStatus
from kpi_engine.store import Store
from kpi_engine.targets import TARGETS_SOURCE

#: Exit code of ``health`` when the last good run is older than ``--max-age`` (or none).
EXIT_STALE = 5

_AGE = re.compile(r"(\d+)\s*([dhm])")
_UNIT = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    """``26h``, ``1d``, ``90m``, ``1d12h`` as a :class:`timedelta`.

    Raises:
        EngineError: not a sum of ``<n>d``, ``<n>h`` and ``<n>m``, or zero.
    """
    compact = text.replace(" ", "").lower()
    parts = _AGE.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        msg = f"--max-age {text!r} is not an age such as 26h, 2d, 90m or 1d12h"
        raise EngineError(msg)
    age = timedelta()
    for n, u in parts:
        age += timedelta(**{_UNIT[u]: int(n)})
    if not age:
        msg = f"--max-age {text!r} is zero: give an age such as 26h"
        raise EngineError(msg)
    return age


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def run_history(store: Store) -> list[dict[str, Any]]:
    """Every sync run, oldest first.

    Returns:
        One dict per ``sync_runs`` row: ``run_id``, ``source``, ``started_at``,
        ``finished_at`` (UTC datetimes; None while running), ``duration_s`` (seconds, 3
        places; None while running), ``status`` (running, ok, failed, stopped, crashed),
        ``counts`` ({stream: {inserted, updated, unchanged, deleted, rejected, pages}}, the
        stream's own table; a stream whose pages carried other tables also has ``tables``:
        {table: {inserted, updated, unchanged}}),
        ``error`` and the ``pid`` / ``host`` that ran it (None before migration 006).
    """
    history = []
    has = store.table_info("sync_runs").columns  # a store not yet migrated to 006 (read-only)
    holder = ", ".join(c if c in has else f"NULL AS {c}" for c in ("pid", "host"))
    for run_id, source, started, finished, status, rows, error, pid, host in store.con.execute(
        "SELECT run_id, source, started_at, finished_at, status, rows, error, "
        f"{holder} FROM sync_runs ORDER BY run_id"
    ).fetchall():
        history.append({
            "run_id": run_id, "source": source, "started_at": started, "finished_at": finished,
            "duration_s": None if finished is None
            else round((finished - started).total_seconds(), 3),
            "status": status, "counts": json.loads(rows) if rows else {}, "error": error,
            "pid": pid, "host": host,
        })
    return history


def history_json(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`run_history` JSON-ready (instants as ISO 8601 strings, UTC)."""
    return [{k: _iso(v) for k, v in run.items()} for run in history]


def _period_json(period: Period | None) -> dict[str, Any] | None:
    if period is None:
        return None
    return {"start": period.start.isoformat(), "end": period.end.isoformat(),
            "as_of": period.as_of.isoformat(), "complete": period.complete,
            "label": period.label}


def status_json(status: StoreStatus, database: str) -> dict[str, Any]:
    """Everything ``partnerkpi status`` prints, JSON-ready (instants ISO 8601, UTC).

    Returns:
        ``{"store", "rows": [{table, source, rows, deleted}], "streams": [...],
        "rejects": [...], "rejects_total": {source: n}, "last_compute": [...],
        "periods": [{grain, latest, current}], "partner_hygiene": {...}, "notes": [{source,
        topic, note, updated_at}], "completeness": [{source, stream, window_start, window_end,
        crm_count, store_count, checked_at, repair_from, repairs}]}``; a period is ``{start, end
        (exclusive), as_of, complete, label}`` or None.
    """
    return {
        "store": database,
        "rows": [{"table": t, "source": s, "rows": n, "deleted": d}
                 for (t, s), (n, d) in status.rows.items()],
        "streams": [{k: _iso(v) for k, v in s.items()} for s in status.streams],
        "rejects": status.rejects,
        "rejects_total": status.rejects_total,
        "last_compute": [{k: _iso(v) for k, v in c.items()} for c in status.last_compute],
        "periods": [{"grain": g, "latest": _period_json(latest),
                     "current": _period_json(current)} for g, latest, current in status.periods],
        "partner_hygiene": hygiene_json(status.partner_hygiene),
        "notes": [{k: _iso(v) for k, v in n.items()} for n in status.notes],
        "completeness": [{k: _iso(v) for k, v in c.items()} for c in status.completeness],
    }


def hygiene_json(h: PartnerHygiene) -> dict[str, Any]:
    """The partner hygiene figures JSON-ready (amounts as text, exact)."""
    return {
        "reporting_currency": h.reporting_currency,
        "won_without_partner": h.won_without_partner,
        "won_without_partner_amount": str(h.won_without_partner_amount),
        "top_owners": [{"owner": o, "deals": n, "amount": str(a)} for o, n, a in h.top_owners],
        "sourced_amount": str(h.sourced_amount),
        "top5_share": None if h.top5_share is None else str(h.top5_share),
        "top_partners": [{"partner": p, "amount": str(a)} for p, a in h.top_partners],
        "changed_after_close": [
            {"source": s, "deal_id": d, "deal_name": n, "close_date": str(c),
             "old_partner_id": o, "new_partner_id": w, "changed_at": _iso(t)}
            for s, d, n, c, o, w, t in h.changed_after_close],
    }


@dataclass
class Health:
    """The outcome of :func:`check_health`.

    Attributes:
        ok: every source's last good run finished within the age.
        line: one line saying when the last good run was (the stalest source's).
        last_good: per source, the ``finished_at`` (UTC) of its latest ``ok`` run, or None.
    """

    ok: bool
    line: str
    last_good: dict[str, datetime | None]


def _ago(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return (f"{days}d {hours}h" if days else f"{hours}h {mins}m" if hours else f"{mins}m") + " ago"


def check_health(store: Store, max_age: timedelta, sources: list[str] | None = None,
                 at: datetime | None = None) -> Health:
    """Whether the last good (``ok``) sync run of every source finished within ``max_age``.

    Args:
        store: the store (read-only is enough).
        max_age: the oldest a good run may be.
        sources: the sources to check (the config's); default and also: every source with a
            sync run in the store.
        at: the instant to measure from (default: now, UTC).

    Returns:
        A :class:`Health`; not ok when a source has no good run, or its latest is older than
        ``max_age``.
    """
    at = at or now()
    last_good: dict[str, datetime | None] = dict.fromkeys(sources or [])
    for source, finished in store.con.execute(
        "SELECT source, max(finished_at) FILTER (WHERE status = 'ok') FROM sync_runs "
        "WHERE source <> ? GROUP BY source ORDER BY source", [TARGETS_SOURCE]
    ).fetchall():  # the target checks of a compute are no sync of a source
        last_good[source] = finished
    if not last_good:
        return Health(False, "stale: no sync run in the store yet", last_good)
    never = [s for s, t in last_good.items() if t is None]
    if never:
        return Health(False, f"stale: {never[0]} has no good run yet", last_good)
    source, finished = min(((s, t) for s, t in last_good.items() if t is not None),
                           key=lambda st: st[1])
    age = at - finished
    when = f"{finished:%Y-%m-%d %H:%M:%S} UTC ({_ago(age)})"
    many = len(last_good) > 1
    who = f" of {source}" if many else ""
    if age > max_age:
        return Health(False, f"stale: last good run{who} {when}, older than {_age(max_age)}",
                      last_good)
    return Health(True, f"ok: last good run{who} {when}", last_good)


def _age(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (mins, "m")) if n) or "0m"
