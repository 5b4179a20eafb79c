"""The published copy for readers: write it after a compute (``run``, ``compute``) and read it
when a job holds the store (``export``, ``status``, ``report``, ``health``).

The copy itself is :mod:`kpi_engine.publish`; this module takes its place from the config
(``publish:``) and decides which file a reading command opens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from jobs.config import AppConfig
from jobs.sync import open_store
from kpi_engine.errors import LockedError
from kpi_engine.lock import StoreLock
from kpi_engine.publish import Published, publish
from kpi_engine.store import Store


def publish_store(config: AppConfig, store: Store) -> Published | None:
    """Publish the config's store (open for writing, after a committed compute).

    Returns:
        What was written; None when ``publish.enabled`` is false.

    Raises:
        PublishError: the copy cannot be written (the previous copy stays in place).
    """
    target = config.published_database()
    if target is None:
        return None
    return publish(store, target, config.publish.parquet)


def published_json(published: Published | None) -> dict[str, object] | None:
    """A publish as JSON (``run --json``'s ``published``): paths, UTC instant, seconds."""
    if published is None:
        return None
    return {"database": str(published.database),
            "parquet": None if published.parquet is None else str(published.parquet),
            "parquet_files": len(published.parquet_files),
            "published_at": published.published_at.isoformat(),
            "seconds": round(published.seconds, 3)}


def _holder(config: AppConfig) -> str:
    holder = StoreLock(config.database).read_holder()
    if not holder:
        return "another process"
    return f"{holder.get('command') or 'a partnerkpi job'} (pid {holder.get('pid', '?')})"


@contextmanager
def open_reader(config: AppConfig, on_note: Callable[[str], None] | None = None,
                ) -> Iterator[Store]:
    """The store for a reading command: the store itself, or its published copy while another
    process holds the store (DuckDB's file lock: a ``sync``, ``compute`` or ``run``).

    Args:
        config: the config.
        on_note: told one line when the copy is read instead (which copy, of when, and who
            holds the store).

    Yields:
        The store, open read-only.

    Raises:
        StoreError: no store yet.
        LockedError: the store is held and there is no published copy (yet, or
            ``publish.enabled`` is false).
    """
    try:
        store = open_store(config, read_only=True)
    except LockedError as exc:
        copy = config.published_database()
        if copy is None or not copy.exists():
            why = ("publish.enabled is false" if copy is None
                   else f"no published copy at {copy} yet")
            msg = f"{exc} ({why}: a run or compute publishes one for readers)"
            raise LockedError(msg, exc.holder) from None
        store = Store(copy, read_only=True, memory_limit=config.duckdb.memory_limit,
                      temp_directory=config.duckdb.temp_directory)
        if on_note is not None:
            when = datetime.fromtimestamp(copy.stat().st_mtime, UTC)
            on_note(f"the store is held by {_holder(config)}; reading its published copy "
                    f"{copy} of {when:%Y-%m-%d %H:%M:%S} UTC")
    with store:
        yield store
