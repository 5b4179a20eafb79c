"""Completeness and source notes: what the sync loop keeps between runs about a source.

- :func:`check_counts`: after a stream, the CRM's own count of its live records over the window
  the run read (Salesforce ``SELECT COUNT()``, HubSpot search ``total``) against the store's
  count over the same window; a mismatch sets ``stream_counts.repair_from``, and the next run
  re-reads the stream from there (:func:`repair_windows`). One repair per mismatch: when the
  check after a repair read still fails, the mismatch is reported and no further repair is made
  (a repair costs one re-read of the window; ``sync --full-refresh`` reads everything).
- :func:`save_notes`: one line per (source, topic) in ``source_notes`` (which currency rule a
  source's amounts follow, which mapped fields are calculated); returns the lines that are new
  or changed, so the sync shows a note once.

Tables: migration ``014_source_notes_and_counts.sql``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from kpi_engine.store import Store

#: ``repair_from`` of a window that starts at the beginning (a full re-read).
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CountResult:
    """One completeness check.

    Attributes:
        stream: the stream checked.
        crm_count: live records the CRM counts in the window.
        store_count: the store's live rows with ``updated_at`` in the window, plus the records of
            this run left out as rejects (they were read, just not stored).
        window_start: UTC, None: from the beginning.
        window_end: UTC (the run's start).
        repair: the next run re-reads the stream from ``window_start`` (the first mismatch).
        repairs: repair reads made for this mismatch so far (0 on a match).
    """

    stream: str
    crm_count: int
    store_count: int
    window_start: datetime | None
    window_end: datetime
    repair: bool
    repairs: int

    @property
    def ok(self) -> bool:
        """The counts agree."""
        return self.crm_count == self.store_count

    def line(self, source: str) -> str:
        """One line for the sync output (a mismatch) or ``status``."""
        start = self.window_start.isoformat() if self.window_start else "the beginning"
        where = f"{source} {self.stream}: {start} .. {self.window_end.isoformat()}"
        if self.ok:
            return f"{where}: complete ({self.crm_count} in the CRM and in the store)"
        text = (f"{where}: the CRM counts {self.crm_count} live records, the store "
                f"{self.store_count}")
        if self.repair:
            return text + "; the next sync re-reads this window"
        return text + ("; a repair read did not settle it: run sync --full-refresh "
                       "(see the connector README, Completeness)")


def repair_windows(store: Store, source: str) -> dict[str, str]:
    """``{"repair_from:<stream>": ISO-8601 UTC}`` of the source's streams due for a repair read
    (the state the sync loop hands the connector)."""
    rows = store.con.execute(
        "SELECT stream, repair_from FROM stream_counts WHERE source = ? AND repair_from IS NOT "
        "NULL", [source],
    ).fetchall()
    return {f"repair_from:{stream}": at.astimezone(UTC).isoformat() for stream, at in rows}


def check_counts(
    store: Store,
    source: str,
    stream: str,
    table: str,
    crm_count: int,
    window_start: datetime | None,
    window_end: datetime,
    run_id: int,
    *,
    repaired: bool,
) -> CountResult:
    """Count the store's side of a completeness check and record the result (call inside the
    transaction of the page that carried the CRM's count).

    Args:
        store: the store.
        source: the source.
        stream: the stream (its rejects of this run count as read).
        table: the canonical table (with ``updated_at``, ``is_deleted``).
        crm_count: the CRM's count of live records in the window.
        window_start: UTC, None: from the beginning.
        window_end: UTC.
        run_id: the sync run.
        repaired: this run re-read the stream from a repair window.

    Returns:
        The :class:`CountResult` written to ``stream_counts``.
    """
    info = store.table_info(table)
    id_col = info.key[1]
    lower = "" if window_start is None else "AND updated_at >= ?"
    params: list[object] = [source]
    if window_start is not None:
        params.append(window_start)
    params += [window_end, source, stream, run_id]
    (store_count,) = store.con.execute(
        f"SELECT count(DISTINCT id) FROM ("
        f"SELECT {id_col} AS id FROM {table} WHERE source = ? AND NOT is_deleted {lower} "
        "AND updated_at < ? UNION ALL SELECT record_id FROM rejects WHERE source = ? "
        "AND stream = ? AND run_id = ?)",
        params,
    ).fetchall()[0]
    before = store.con.execute(
        "SELECT repairs, repair_from FROM stream_counts WHERE source = ? AND stream = ?",
        [source, stream],
    ).fetchall()
    repairs = (before[0][0] if before else 0) + (1 if repaired else 0)
    ok = store_count == crm_count
    repair = not ok and repairs == 0
    if ok:
        repairs = 0
    repair_from = (window_start or BEGINNING) if repair else None
    store.con.execute(
        "INSERT OR REPLACE INTO stream_counts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [source, stream, window_start, window_end, crm_count, store_count,
         datetime.now(UTC), run_id, repair_from, repairs],
    )
    return CountResult(stream, crm_count, int(store_count), window_start, window_end, repair,
                       repairs)


def save_notes(store: Store, source: str, notes: Mapping[str, str]) -> list[str]:
    """Keep the source's notes (topic -> line); return the lines that are new or changed."""
    shown = []
    for topic, note in notes.items():
        old = store.con.execute(
            "SELECT note FROM source_notes WHERE source = ? AND topic = ?", [source, topic]
        ).fetchall()
        if old and old[0][0] == note:
            continue
        store.con.execute(
            "INSERT OR REPLACE INTO source_notes VALUES (?, ?, ?, ?)",
            [source, topic, note, datetime.now(UTC)],
        )
        shown.append(note)
    return shown


def notes_and_counts(store: Store) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Every source note and the last completeness check of every stream, for ``status``."""
    notes = [
        {"source": s, "topic": t, "note": n, "updated_at": u}
        for s, t, n, u in store.con.execute(
            "SELECT source, topic, note, updated_at FROM source_notes ORDER BY source, topic"
        ).fetchall()
    ]
    keys = ("source", "stream", "window_start", "window_end", "crm_count", "store_count",
            "checked_at", "repair_from", "repairs")
    counts = [dict(zip(keys, row, strict=True)) for row in store.con.execute(
        f"SELECT {', '.join(keys)} FROM stream_counts ORDER BY source, stream"
    ).fetchall()]
    return notes, counts
