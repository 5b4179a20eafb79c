"""The published copy of the store: a second DuckDB file (and optionally Parquet files of the BI
views) that BI tools and notebooks read while a job writes the store itself.

DuckDB lets one process write a file and no other process read it meanwhile; a reader, even a
read-only one, blocks the writer too (its file lock). So readers get their own file. After a
job's compute has committed, :func:`publish` copies the whole store (tables, views, macros:
DuckDB's ``COPY FROM DATABASE``) into a new file beside the copy, flushes it to disk and puts it
in place with one ``rename``. On POSIX a rename is atomic and leaves the file it replaces
readable by whoever has it open: a reader connected before the rename keeps reading the old copy,
whole and consistent, until it reconnects; a reader connecting after it reads the new one. No
reader ever sees a half-written copy, and no reader blocks the job (the job never opens the
copy, it replaces it). The copy's mode is read-only (0444): its data are replaced whole at the
next publish, never edited.

Parquet (optional): one file per BI view (``<folder>/partner_kpis_quarter.parquet``,
``<folder>/deals.parquet``, ...), each written beside its place and renamed over it, so each file
is whole; files of one publish are replaced one after the other.
"""

from __future__ import annotations

import contextlib
import glob
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from kpi_engine.errors import StoreError
from kpi_engine.store import Store, pid_alive
from kpi_engine.views import BI_SCHEMA, view_definitions

_ALIAS = "partnerkpi_publish_target"


class PublishError(StoreError):
    """The published copy cannot be written (no space, no permission, a missing folder)."""


@dataclass(frozen=True)
class Published:
    """What one publish wrote.

    Attributes:
        database: the published DuckDB file.
        parquet: the Parquet folder (None: not configured).
        parquet_files: the Parquet files written, one per BI view.
        published_at: when the copy was put in place (UTC).
        seconds: how long the publish took.
    """

    database: Path
    parquet: Path | None
    parquet_files: tuple[Path, ...]
    published_at: datetime
    seconds: float


def _sql_text(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()


def _remove_stale(target: Path) -> None:
    """Remove ``.<target name>.<pid>.tmp`` (and its ``.wal``) left by this process or a dead
    one."""
    prefix = f".{target.name}."
    for leftover in target.parent.glob(f"{glob.escape(prefix)}*.tmp*"):
        pid = leftover.name[len(prefix):].split(".")[0]
        if pid.isdigit() and (int(pid) == os.getpid() or not pid_alive(int(pid))):
            _remove(leftover)


def publish(store: Store, database: Path, parquet: Path | None = None) -> Published:
    """Copy the store to ``database`` (replaced by rename) and the BI views to ``parquet``.

    Call it with the store open for writing and no transaction in progress (after a compute
    has committed). The new copy is written to ``.<name>.<pid>.tmp`` in the same folder (a rename
    only replaces atomically within one file system), synced to disk, then renamed over
    ``database``; such files left by a job that died mid-publish are removed first.

    Args:
        store: the open store (the job's own connection).
        database: the published DuckDB file; must not be the store's own file.
        parquet: a folder for one Parquet file per BI view (``bi.<name>`` -> ``<name>.parquet``);
            None: no Parquet.

    Returns:
        What was written.

    Raises:
        PublishError: the copy or a Parquet file cannot be written; the previous copy stays.
    """
    started = datetime.now(UTC)
    database = Path(database).absolute()
    if store.path != ":memory:" and database == Path(store.path).absolute():
        msg = f"publish.database {database} is the store itself: name another file"
        raise PublishError(msg)
    tmp = database.with_name(f".{database.name}.{os.getpid()}.tmp")
    wal = Path(str(tmp) + ".wal")
    con = store.con
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(database)  # copies left half-written by jobs that died mid-publish
        (name,) = con.execute("SELECT current_database()").fetchall()[0]
        con.execute(f"ATTACH {_sql_text(tmp)} AS {_ident(_ALIAS)}")
        try:
            con.execute(f"COPY FROM DATABASE {_ident(name)} TO {_ident(_ALIAS)}")
        finally:
            con.execute(f"DETACH {_ident(_ALIAS)}")  # checkpoints: the copy is whole in tmp
        _fsync(tmp)
        tmp.chmod(0o444)
        os.replace(tmp, database)
        with contextlib.suppress(OSError):  # the rename itself to disk (not on every OS)
            _fsync(database.parent)
        files = _parquet(store, parquet) if parquet is not None else ()
    except (OSError, duckdb.Error) as exc:
        _remove_parquet_tmp(parquet)
        _remove(tmp, wal)
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        msg = f"cannot publish the store's copy to {database}: {first} (publish: in the config)"
        raise PublishError(msg) from None
    except BaseException:  # Ctrl-C, SIGTERM: the previous copy stays, no half-written file
        _remove(tmp, wal)
        _remove_parquet_tmp(parquet)
        raise
    finished = datetime.now(UTC)
    return Published(database=database, parquet=parquet, parquet_files=files,
                     published_at=finished, seconds=(finished - started).total_seconds())


def bi_view_names() -> list[str]:
    """The BI views' names without their schema (``partner_kpis_quarter``, ``deals``, ...)."""
    prefix = BI_SCHEMA + "."
    return [name[len(prefix):] for name in view_definitions() if name.startswith(prefix)]


def _parquet(store: Store, folder: Path) -> tuple[Path, ...]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for view in bi_view_names():
        target = folder / f"{view}.parquet"
        tmp = folder / f".{view}.parquet.{os.getpid()}.tmp"
        _remove_stale(target)
        store.con.execute(f"COPY (SELECT * FROM {BI_SCHEMA}.{_ident(view)}) TO {_sql_text(tmp)} "
                          "(FORMAT parquet)")
        _fsync(tmp)
        os.replace(tmp, target)
        written.append(target)
    return tuple(written)


def _remove_parquet_tmp(folder: Path | None) -> None:
    if folder is not None:
        _remove(*folder.glob(f".*.parquet.{os.getpid()}.tmp"))
