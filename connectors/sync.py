"""The one pull loop: watermark -> pull pages from a connector -> commit each page with its
watermark in one DuckDB transaction.

A crash loses at most the page in flight: the next run resumes from the last committed
watermark. Connectors marked ``atomic`` (file imports) commit the whole run in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, astuple, dataclass, field

from connectors.base import Connector, Page
from connectors.errors import LimitReachedError
from kpi_engine.store import Store, UpsertStats, mark_missing_deleted


@dataclass
class StreamResult:
    """Counts for one stream of one run (``tables``: the same upsert counts per table, for
    streams whose pages carry several tables, e.g. HubSpot deals with their stage history)."""

    pages: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0  # rows written to the ``rejects`` table (one per record and field)
    warnings: list[str] = field(default_factory=list)
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


def _commit(
    store: Store, source: str, stream: str, page: Page, result: StreamResult, run_id: int
) -> None:
    with store.transaction():
        result.rejected += store.add_rejects(
            source, stream, run_id, (astuple(r) for r in page.rejects)
        )
        for table, rows in page.tables.items():
            stats: UpsertStats = store.upsert(table, rows)
            result.inserted += stats.inserted
            result.updated += stats.updated
            result.unchanged += stats.unchanged
            result.tables.setdefault(table, UpsertStats()).add(stats)
            if page.snapshot.get(table):
                key = store.table_info(table).key[1]
                result.deleted += mark_missing_deleted(store, table, source, [r[key] for r in rows])
        for table, ids in page.deleted.items():
            result.deleted += store.mark_deleted(table, source, ids)
        for table, ids in page.keep_ids.items():
            result.deleted += mark_missing_deleted(store, table, source, ids, max_share=0.5)
        if page.watermark is not None:
            store.set_watermark(source, stream, page.watermark)
    result.pages += 1
    result.warnings.extend(page.warnings)


def run_sync(
    store: Store,
    connector: Connector,
    *,
    full_refresh: bool = False,
    progress: ProgressCallback | None = None,
) -> SyncResult:
    """Pull every stream of ``connector`` into ``store``.

    Args:
        store: the open store.
        connector: the source's connector.
        full_refresh: ignore the stored watermarks and read everything again.
        progress: called after each committed page with (stream name, counts so far).

    Returns:
        The run's :class:`SyncResult` (also recorded in ``sync_runs``).

    Raises:
        ConnectorError: the run failed or stopped; what was committed stays, and the
            ``sync_runs`` row says ``failed`` or ``stopped`` with the one-line error.
    """
    source = connector.source
    result = SyncResult(source=source, run_id=store.start_run(source))
    try:
        with store.transaction() if connector.atomic else nullcontext():
            for stream in connector.streams():
                counts = result.streams.setdefault(stream.name, StreamResult())
                state = {
                    s.name: store.get_watermark(source, s.name) for s in connector.streams()
                }
                watermark = None if full_refresh else state.get(stream.name)
                for page in connector.pull(stream, watermark, state):
                    _commit(store, source, stream.name, page, counts, result.run_id)
                    if progress:
                        progress(stream.name, counts)
    except KeyboardInterrupt:
        _api(result, connector)
        result.status, result.error = "stopped", "interrupted (Ctrl-C or SIGINT)"
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


def _counts(result: SyncResult) -> dict[str, dict[str, int]]:
    return {
        name: {k: v for k, v in asdict(counts).items() if k not in ("warnings", "tables")}
        for name, counts in result.streams.items()
    }
