"""The one pull loop: watermark -> pull pages from a connector -> commit each page with its
watermark in one DuckDB transaction.

A crash loses at most the page in flight: the next run resumes from the last committed
watermark. Connectors marked ``atomic`` (file imports) commit the whole run in one transaction.

A page's references (a deal's partner, a Salesforce deal's stage) are checked in its transaction
against the keys the store holds for the source (:func:`connectors.bad_records.check_references`):
the keys are read once per run and kept up to date with every committed page, since this loop is
the store's only writer while it runs. Streams come in the connector's pull order, so partners
and stages are committed before the deals that name them.

A page may also carry the source's notes (kept in ``source_notes``, shown when new or changed)
and the CRM's count of a stream's live records over the window read: the store's count is taken
in the page's transaction and a mismatch sets the window the next run re-reads
(:mod:`kpi_engine.completeness`; the connector finds it in ``state`` as
``repair_from:<stream>``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, astuple, dataclass, field
from typing import Any

from connectors.bad_records import check_references
from connectors.base import Connector, Page
from connectors.errors import LimitReachedError, SnapshotError
from kpi_engine.completeness import check_counts, repair_windows, save_notes
from kpi_engine.errors import StoreError
from kpi_engine.store import Store, UpsertStats, missing_share, quote_identifier


@dataclass
class StreamResult:
    """Counts for one stream of one run.

    ``inserted`` / ``updated`` / ``unchanged`` count the rows of the stream's own table (the
    table named like the stream: 8,800 deals for HubSpot's deals stream, not its stage-history
    rows); ``tables`` holds the upsert counts of every table the stream's pages wrote, its own
    and the others (HubSpot deals pages carry their stage history and the partners they name).
    A page without a table of the stream's name counts all its tables in the totals."""

    pages: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0  # rows written to the ``rejects`` table (one per record and field)
    warnings: list[str] = field(default_factory=list)
    complete: bool | None = None  # the completeness check agreed (None: not checked)
    tables: dict[str, UpsertStats] = field(default_factory=dict)


@dataclass
class SyncResult:
    """The outcome of one sync run of one source."""

    source: str
    run_id: int
    status: str = "running"  # ok | failed | stopped
    streams: dict[str, StreamResult] = field(default_factory=dict)
    error: str | None = None
    api_calls: int | None = None  # HTTP requests the connector made (None: not an API source)
    api_allowance_left: int | None = None  # calls left in the CRM's daily allowance, if it says


ProgressCallback = Callable[[str, StreamResult], None]


class KnownKeys:
    """The keys one source's rows hold in the tables pages refer to (``partners``, ``stages``).

    Read from the store the first time a reference needs them, then kept up to date with every
    committed page (:meth:`add`).
    """

    def __init__(self, store: Store, source: str) -> None:
        self.store, self.source = store, source
        self._keys: dict[tuple[str, tuple[str, ...]], set[tuple[Any, ...]]] = {}

    def __call__(self, table: str, columns: tuple[str, ...]) -> set[tuple[Any, ...]]:
        """The keys ``columns`` of ``table`` the store holds for the source."""
        if (table, columns) not in self._keys:
            self._keys[(table, columns)] = self.store.keys(table, self.source, columns)
        return self._keys[(table, columns)]

    def add(self, page: Page) -> None:
        """Count the rows of a committed page in."""
        for (table, columns), keys in self._keys.items():
            keys.update(tuple(r[c] for c in columns) for r in page.tables.get(table) or ())


class StoreView:
    """:class:`connectors.base.StoredRecords` over the store, for one source (read-only)."""

    def __init__(self, store: Store, source: str) -> None:
        self.store, self.source = store, source

    def rows(
        self,
        table: str,
        columns: Sequence[str],
        *,
        deleted: bool | None = False,
        after: str | None = None,
        limit: int | None = None,
        where_in: tuple[str, Sequence[str]] | None = None,
    ) -> list[tuple[Any, ...]]:
        """See :meth:`connectors.base.StoredRecords.rows`."""
        info = self.store.table_info(table)
        named = (*columns, *(where_in[:1] if where_in else ()))
        unknown = [c for c in named if c not in info.columns]
        if unknown:
            msg = f"{table} has no column {', '.join(unknown)}"
            raise StoreError(msg)
        key = quote_identifier(info.key[1])
        sql = (f"SELECT {', '.join(quote_identifier(c) for c in columns)} "
               f"FROM {quote_identifier(table)} WHERE source = ?")
        params: list[Any] = [self.source]
        if deleted is not None:
            sql += " AND is_deleted = ?"
            params.append(deleted)
        if after is not None:
            sql += f" AND {key} > ?"
            params.append(after)
        if where_in is not None:
            sql += f" AND {quote_identifier(where_in[0])} IN (SELECT unnest(?::VARCHAR[]))"
            params.append(list(where_in[1]))
        sql += f" ORDER BY {key}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self.store.con.execute(sql, params).fetchall()

    def count(self, table: str) -> int:
        """See :meth:`connectors.base.StoredRecords.count`."""
        (n,) = self.store.con.execute(
            f"SELECT count(*) FROM {quote_identifier(table)} WHERE source = ? AND NOT is_deleted",
            [self.source]).fetchall()[0]
        return int(n)


def _check_snapshot(store: Store, source: str, page: Page) -> None:
    """Refuse a full-snapshot page that lacks more than its guard's share of a table's live
    rows (counted before the page is written)."""
    guard = page.snapshot_guard
    if guard is None:
        return
    for table, ids in page.keep_ids.items():
        gone, live = missing_share(store, table, source, ids)
        if gone > guard.max_share * live:
            msg = (f"{guard.name}: this import would flag {gone} of the {live} live {table} "
                   f"deleted ({gone / live:.0%}, more than {guard.setting} "
                   f"{guard.max_share:.0%}); nothing was written. Check the export; if the "
                   f"deletions are real, {guard.override}")
            raise SnapshotError(msg, table=table, gone=gone, live=live)


def _commit(
    store: Store, source: str, stream: str, page: Page, result: StreamResult, run_id: int,
    known: KnownKeys, allow_mass_delete: bool, repaired: frozenset[str] = frozenset(),
) -> None:
    with store.transaction():  # the checks read what the page's transaction sees
        if not allow_mass_delete:
            _check_snapshot(store, source, page)
        rejects = page.rejects
        if page.references:
            rejects = rejects + check_references(page.tables, page.references, known)
        counts = store.commit_page(
            source, stream, page.tables, page.watermark,
            deleted=page.deleted, keep_ids=page.keep_ids,
            keep_ids_max_share=1.0 if page.snapshot_guard else 0.5,
            rejects=(astuple(r) for r in rejects), run_id=run_id,
            replace=_kept_scopes(page),
        )
        notes = save_notes(store, source, page.notes) if page.notes else []
        checks = [check_counts(store, source, c.stream or stream, c.table, c.crm_count,
                               c.window_start, c.window_end, run_id,
                               repaired=(c.stream or stream) in repaired) for c in page.counts]
    result.warnings.extend(notes)
    for check in checks:
        result.complete = check.ok and result.complete is not False
        if not check.ok:
            result.warnings.append(check.line(source))
    for table, stats in counts.tables.items():
        # the stream's own table, else every table its pages carried (not the rows the store
        # derives from them: a deal's partner-field row of deal_partners)
        if table == stream or (stream not in counts.tables and table in page.tables):
            result.inserted += stats.inserted
            result.updated += stats.updated
            result.unchanged += stats.unchanged
        result.tables.setdefault(table, UpsertStats()).add(stats)
    result.deleted += counts.deleted
    result.rejected += counts.rejected
    known.add(page)
    if page.tables or page.watermark is not None or page.deleted or page.keep_ids:
        result.pages += 1  # a page carrying only notes or counts is not one of the stream's
    result.warnings.extend(page.warnings)


def _kept_scopes(page: Page) -> dict[str, tuple[str, str, list[str]]]:
    """The page's ``replace`` scopes without the deals its checks left out (a rejected deal's
    stored links stay as they were, like the deal)."""
    if "deals" not in page.tables:
        return page.replace
    kept = {r["deal_id"] for r in page.tables["deals"]}
    return {table: (parent, origin, [p for p in parents if p in kept])
            for table, (parent, origin, parents) in page.replace.items()}


def run_sync(
    store: Store,
    connector: Connector,
    *,
    full_refresh: bool = False,
    progress: ProgressCallback | None = None,
    allow_mass_delete: bool = False,
) -> SyncResult:
    """Pull every stream of ``connector`` into ``store``.

    Args:
        store: the open store.
        connector: the source's connector.
        full_refresh: ignore the stored watermarks and read everything again.
        progress: called after each committed page with (stream name, counts so far).
        allow_mass_delete: let full-snapshot pages through their guard
            (:class:`connectors.base.SnapshotGuard`; ``sync --allow-mass-delete``).

    Returns:
        The run's :class:`SyncResult` (also recorded in ``sync_runs``).

    Raises:
        ConnectorError: the run failed or stopped; what was committed stays, and the
            ``sync_runs`` row says ``failed`` or ``stopped`` with the one-line error.
    """
    source = connector.source
    result = SyncResult(source=source, run_id=store.start_run(source))
    known = KnownKeys(store, source)
    bind = getattr(connector, "bind_store", None)
    if callable(bind):  # a connector that re-reads what is stored (HubSpot's sweeps)
        bind(StoreView(store, source))
    try:
        with store.transaction() if connector.atomic else nullcontext():
            for stream in connector.streams():
                counts = result.streams.setdefault(stream.name, StreamResult())
                stored = store.watermarks(source)
                state: dict[str, str | None] = {
                    s.name: stored.get(s.name) for s in connector.streams()}
                if not full_refresh:
                    state.update(repair_windows(store, source))
                watermark = None if full_refresh else state.get(stream.name)
                repaired = frozenset(k.split(":", 1)[1] for k in state
                                     if k.startswith("repair_from:"))
                for page in connector.pull(stream, watermark, state):
                    pages = counts.pages
                    _commit(store, source, stream.name, page, counts, result.run_id, known,
                            allow_mass_delete, repaired)
                    if progress and counts.pages > pages:
                        progress(stream.name, counts)
    except KeyboardInterrupt:
        _api(result, connector)
        result.status, result.error = "stopped", "interrupted (Ctrl-C, SIGINT or SIGTERM)"
        store.finish_run(result.run_id, result.status, _counts(result), result.error)
        raise
    except LimitReachedError as exc:
        _api(result, connector)
        result.status, result.error = "stopped", str(exc)
        store.finish_run(result.run_id, result.status, _counts(result), result.error)
        raise
    except Exception as exc:
        _api(result, connector)
        result.status, result.error = "failed", str(exc).splitlines()[0] if str(exc) else repr(exc)
        store.finish_run(result.run_id, result.status, _counts(result), result.error)
        raise
    _api(result, connector)
    result.status = "ok"
    store.finish_run(result.run_id, result.status, _counts(result))
    return result


def _api(result: SyncResult, connector: Connector) -> None:
    result.api_calls = getattr(connector, "api_calls", None)
    result.api_allowance_left = getattr(connector, "api_allowance_left", None)


def other_tables(name: str, counts: StreamResult) -> dict[str, UpsertStats]:
    """The tables a stream's pages wrote besides its own (HubSpot deals: ``stage_history``,
    ``partners``), with their upsert counts; empty for a stream of one table."""
    return {t: c for t, c in counts.tables.items() if t != name and name in counts.tables}


def _counts(result: SyncResult) -> dict[str, dict[str, Any]]:
    counts: dict[str, dict[str, Any]] = {}
    for name, stream in result.streams.items():
        counts[name] = {k: v for k, v in asdict(stream).items()
                        if k not in ("warnings", "tables", "complete")}
        others = other_tables(name, stream)
        if others:
            counts[name]["tables"] = {t: asdict(c) for t, c in others.items()}
    return counts
