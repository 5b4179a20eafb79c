"""The DuckDB store: one file, numbered migrations, upserts and sync state.

Every canonical row is keyed by ``(source, <id>)``. Writes are upserts on the table's primary key
that touch only rows whose values changed, so re-loading unchanged data writes nothing. A page of
rows and its ``sync_state`` watermark commit in one transaction (:meth:`Store.commit_page`).
The session time zone is UTC: a TIMESTAMPTZ cast to DATE is the UTC date.
"""

from __future__ import annotations

import json
import operator
import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from kpi_engine import views
from kpi_engine.errors import LockedError, StoreError

#: The config's default DuckDB memory limit (``duckdb.memory_limit``): a 1M-deal compute stays
#: under 1 GB of peak RSS (the process, Python included: 0.9 GB measured) and fits a 2-core,
#: 4 GB runner; beyond it DuckDB spills to its temp directory (default ``<database>.tmp``).
DEFAULT_MEMORY_LIMIT = "800MB"
MEMORY_LIMIT_PATTERN = r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"

CANONICAL_TABLES = ("partners", "owners", "stages", "deals", "stage_history", "leads", "currency_rates",
                    "deal_partners", "partner_changes")
#: The deals' field history (migration 011): amount, close date and pipeline versions from the
#: CRMs, pipeline snapshots of a CSV source; read by the pipeline waterfall.
HISTORY_TABLES = ("deal_history", "pipeline_snapshots")


@dataclass
class UpsertStats:
    """What one upsert did: row counts by outcome."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertStats) -> None:
        """Add another upsert's counts to these."""
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclass(frozen=True)
class _TableInfo:
    columns: dict[str, str]  # name -> DuckDB type, in table order
    key: tuple[str, ...]
    arrow: dict[str, pa.DataType] = field(default_factory=dict)


@dataclass
class PageCounts:
    """What one committed page did (:meth:`Store.commit_page`).

    Attributes:
        tables: upsert counts per table.
        deleted: rows newly flagged deleted.
        rejected: rows written to ``rejects``.
    """

    tables: dict[str, UpsertStats] = field(default_factory=dict)
    deleted: int = 0
    rejected: int = 0


def _arrow_type(duck_type: str) -> pa.DataType:
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duck_type)
    if decimal:
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    return {
        "VARCHAR": pa.string(),
        "JSON": pa.string(),
        "BOOLEAN": pa.bool_(),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "DATE": pa.date32(),
        "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
    }[duck_type]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


#: an identifier (table, column) as SQL text, double-quoted
quote_identifier = _quote


class Store:
    """One partnerkpi DuckDB file.

    Args:
        path: the DuckDB file (created when missing); ``":memory:"`` for a throwaway store.
        read_only: open without taking the write lock (``status``, ``export``).
        memory_limit: DuckDB's ``memory_limit`` (``"800MB"``, ``"2GB"``); None: DuckDB's
            default (80% of the machine's memory). The CLI passes the config's
            ``duckdb.memory_limit`` (default :data:`DEFAULT_MEMORY_LIMIT`).
        temp_directory: where DuckDB spills beyond it (default ``<database>.tmp``).

    Raises:
        LockedError: another process holds the file (DuckDB's file lock).
        StoreError: the file cannot be opened (e.g. not a DuckDB file).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
    ) -> None:
        self.path = str(path)
        try:
            if not read_only and self.path != ":memory:" and not Path(self.path).exists():
                _create(self.path)
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            msg = f"cannot open the store {self.path}: {first}"
            # DuckDB has no exception class of its own for a file another process holds: its
            # IOException's text is the only sign, read here at the edge and nowhere else
            if isinstance(exc, duckdb.IOException) and "Could not set lock" in str(exc):
                raise LockedError(msg) from exc
            raise StoreError(msg) from exc
        self.con.execute("SET TimeZone = 'UTC'")
        if memory_limit is not None:
            self.con.execute("SET memory_limit = ?", [memory_limit])
        if temp_directory is not None:
            self.con.execute("SET temp_directory = ?", [str(temp_directory)])
        self._depth = 0
        if not read_only:
            self.migrate()
        self._tables: dict[str, _TableInfo] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (a checkpoint folds the WAL into the file)."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> list[str]:
        """Apply the numbered migrations in ``kpi_engine/sql/schema/`` not yet in ``_migrations``.

        Each migration runs in its own transaction together with its ``_migrations`` row. Then
        ``kpi_wide`` and the views are brought up to the KPI registry (:func:`views.sync`).

        Returns:
            The names of the migrations applied now.
        """
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)"
        )
        done = {row[0] for row in self.con.execute("SELECT name FROM _migrations").fetchall()}
        applied = []
        schema_dir = resources.files("kpi_engine") / "sql" / "schema"
        for entry in sorted(schema_dir.iterdir(), key=lambda p: p.name):
            if not entry.name.endswith(".sql") or entry.name in done:
                continue
            with self.transaction():
                self.con.execute(entry.read_text(encoding="utf-8"))
                self.con.execute(
                    "INSERT INTO _migrations VALUES (?, ?)", [entry.name, datetime.now(UTC)]
                )
            applied.append(entry.name)
        with self.transaction():
            views.sync(self.con)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block in one DuckDB transaction; nested blocks join the outer one.

        On any exception the whole outer transaction rolls back and the exception propagates.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.con.execute("ROLLBACK")
            raise
        self._depth = 0
        self.con.execute("COMMIT")

    # -- tables ------------------------------------------------------------------------------
    def table_info(self, table: str) -> _TableInfo:
        """Columns (name -> DuckDB type) and primary key of a table."""
        if table not in self._tables:
            cols = self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if not cols:
                msg = f"no table {table!r} in the store"
                raise StoreError(msg)
            keys = self.con.execute(
                "SELECT constraint_column_names FROM duckdb_constraints() "
                "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
                [table],
            ).fetchall()
            key = keys[0] if keys else None
            columns = dict(cols)
            self._tables[table] = _TableInfo(
                columns=columns,
                key=tuple(key[0]) if key else (),
                arrow={name: _arrow_type(t) for name, t in columns.items()},
            )
        return self._tables[table]

    def _arrow_page(self, table: str, rows: Sequence[Mapping[str, Any]]) -> tuple[pa.Table, list[str]]:
        info = self.table_info(table)
        present: set[str] = set().union(*rows)
        names = [c for c in info.columns if c in present]
        unknown = present - info.columns.keys()
        if unknown:
            msg = f"{table}: unknown column(s) {', '.join(sorted(unknown))}"
            raise StoreError(msg)
        missing_key = [k for k in info.key if k not in names]
        if missing_key:
            msg = f"{table}: rows lack key column(s) {', '.join(missing_key)}"
            raise StoreError(msg)
        # the last row for a key wins (a page may repeat a record)
        get = operator.itemgetter(*info.key)
        try:
            unique: dict[Any, Mapping[str, Any]] = {get(row): row for row in rows}
        except KeyError:  # a row without a key column: its key reads as None
            unique = {tuple(row.get(k) for k in info.key): row for row in rows}
        page = list(rows) if len(unique) == len(rows) else list(unique.values())
        schema = pa.schema([(name, info.arrow[name]) for name in names])
        return pa.Table.from_pylist(page, schema=schema), names

    def upsert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> UpsertStats:
        """Insert new rows and update changed ones, keyed on the table's primary key.

        Rows are dicts of column -> Python value (``Decimal`` for DECIMAL, aware ``datetime`` for
        TIMESTAMPTZ, ``date`` for DATE). Columns absent from every row keep their stored value (or
        the column default for a new row). Rows equal to what is stored are not written.

        Args:
            table: a canonical table name (e.g. ``"deals"``).
            rows: the page of rows.

        Returns:
            Counts of inserted, updated and unchanged rows.

        Raises:
            StoreError: an unknown column, a missing key column, a value of the wrong type, or a
                constraint the row breaks (e.g. NULL in a NOT NULL column). The enclosing
                transaction is rolled back.
        """
        if not rows:
            return UpsertStats()
        info = self.table_info(table)
        try:
            page, names = self._arrow_page(table, rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            msg = f"{table}: a value does not fit its column ({str(exc).splitlines()[0]})"
            raise StoreError(msg) from exc
        cols = ", ".join(_quote(n) for n in names)
        on_key = " AND ".join(f"t.{_quote(k)} = p.{_quote(k)}" for k in info.key)
        differs = " OR ".join(f"t.{_quote(n)} IS DISTINCT FROM p.{_quote(n)}" for n in names) or "false"
        non_key = [n for n in names if n not in info.key]
        try:
            with self.transaction():
                self.con.register("_page", page)
                known = self.con.execute(
                    f"SELECT count(*) FROM _page p SEMI JOIN {_quote(table)} t ON {on_key}"
                ).fetchall()[0][0]
                if not known:  # every row is new (a first sync's pages): a plain insert
                    self.con.execute(
                        f"INSERT INTO {_quote(table)} ({cols}) SELECT {cols} FROM _page")
                    self.con.unregister("_page")
                    return UpsertStats(inserted=page.num_rows)
                self.con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _changed AS "
                    f"SELECT p.*, t.{_quote(info.key[0])} IS NULL AS _is_new "
                    f"FROM _page p LEFT JOIN {_quote(table)} t ON {on_key} "
                    f"WHERE t.{_quote(info.key[0])} IS NULL OR {differs}"
                )
                self.con.unregister("_page")
                new, changed = self.con.execute(
                    "SELECT count(*) FILTER (WHERE _is_new), count(*) FILTER (WHERE NOT _is_new) "
                    "FROM _changed"
                ).fetchall()[0]
                if new or changed:
                    conflict = (
                        "DO UPDATE SET "
                        + ", ".join(f"{_quote(n)} = excluded.{_quote(n)}" for n in non_key)
                        if non_key
                        else "DO NOTHING"
                    )
                    self.con.execute(
                        f"INSERT INTO {_quote(table)} ({cols}) SELECT {cols} FROM _changed "
                        f"ON CONFLICT ({', '.join(_quote(k) for k in info.key)}) {conflict}"
                    )
                self.con.execute("DROP TABLE _changed")
        except duckdb.Error as exc:
            msg = f"{table}: the store refused the page ({str(exc).splitlines()[0]})"
            raise StoreError(msg) from exc
        return UpsertStats(inserted=new, updated=changed, unchanged=page.num_rows - new - changed)

    def mark_deleted(self, table: str, source: str, ids: Iterable[str]) -> int:
        """Flag rows of ``source`` whose id is in ``ids`` as deleted (soft delete).

        Returns:
            How many rows changed from not deleted to deleted.
        """
        info = self.table_info(table)
        id_col = info.key[1]
        id_list = list(ids)
        if not id_list:
            return 0
        with self.transaction():
            (count,) = self.con.execute(
                f"SELECT count(*) FROM {_quote(table)} WHERE source = ? AND NOT is_deleted "
                f"AND {_quote(id_col)} IN (SELECT unnest(?))",
                [source, id_list],
            ).fetchall()[0]
            if count:  # usually 0: a CRM's list of deleted records repeats every run
                self.con.execute(
                    f"UPDATE {_quote(table)} SET is_deleted = true WHERE source = ? "
                    f"AND NOT is_deleted AND {_quote(id_col)} IN (SELECT unnest(?))",
                    [source, id_list],
                )
        return count

    def keys(self, table: str, source: str, columns: Sequence[str]) -> set[tuple[Any, ...]]:
        """The distinct ``columns`` values of ``source``'s rows of ``table`` (deleted rows too),
        e.g. every partner id a source has synced.

        Raises:
            StoreError: ``columns`` are not all columns of ``table``.
        """
        info = self.table_info(table)
        missing = [c for c in columns if c not in info.columns]
        if missing:
            msg = f"{table} has no column {', '.join(missing)}"
            raise StoreError(msg)
        cols = ", ".join(_quote(c) for c in columns)
        return set(self.con.execute(
            f"SELECT DISTINCT {cols} FROM {_quote(table)} WHERE source = ?", [source]
        ).fetchall())

    # -- sync state --------------------------------------------------------------------------
    def watermarks(self, source: str) -> dict[str, str | None]:
        """Every stored watermark of a source, ``{stream: watermark}`` (one query)."""
        return dict(self.con.execute(
            "SELECT stream, watermark FROM sync_state WHERE source = ?", [source]
        ).fetchall())

    def set_watermark(self, source: str, stream: str, watermark: str | None) -> None:
        """Record a stream's watermark (call inside the transaction that wrote its rows).

        An unchanged watermark is not rewritten (``updated_at`` says when it last moved).
        """
        # UPDATE, then INSERT when there is no row: a quarter of the cost of one
        # INSERT ... ON CONFLICT in DuckDB (paid once per committed page)
        now = datetime.now(UTC)
        updated = self.con.execute(
            "UPDATE sync_state SET watermark = ?, updated_at = ? WHERE source = ? AND stream = ? "
            "AND watermark IS DISTINCT FROM ?",
            [watermark, now, source, stream, watermark],
        ).fetchall()[0][0]
        if not updated and not self.con.execute(
            "SELECT 1 FROM sync_state WHERE source = ? AND stream = ?", [source, stream]
        ).fetchall():
            self.con.execute(
                "INSERT INTO sync_state VALUES (?, ?, ?, ?)", [source, stream, watermark, now]
            )

    def commit_page(
        self,
        source: str,
        stream: str,
        tables: Mapping[str, Sequence[Mapping[str, Any]]],
        watermark: str | None,
        *,
        deleted: Mapping[str, Iterable[str]] | None = None,
        keep_ids: Mapping[str, Iterable[str]] | None = None,
        keep_ids_max_share: float = 0.5,
        rejects: Iterable[Sequence[Any]] = (),
        run_id: int | None = None,
        replace: Mapping[str, tuple[str, str, Sequence[str]]] | None = None,
    ) -> PageCounts:
        """Commit one page of a sync in one transaction: its rejects, its rows (possibly into
        several tables), the deletes it reports and the stream's new watermark.

        Args:
            source: ``salesforce``, ``hubspot`` or ``csv``.
            stream: the stream whose watermark moves (e.g. ``deals``).
            tables: table name -> rows of this page.
            watermark: the stream's new watermark; ``None`` leaves it unchanged.
            deleted: table -> ids the CRM reports deleted.
            keep_ids: table -> every id the source still has (a hard-delete sweep, a
                full-snapshot file): stored rows missing from it are flagged deleted, unless
                more than ``keep_ids_max_share`` of the live rows would be (then
                :class:`StoreError`, nothing written).
            keep_ids_max_share: ratio 0..1 (1: no limit; a snapshot checked by its own guard).
            rejects: ``(record_id, field, value, reason)`` of records left out (``rejects``).
            run_id: the sync run the rejects belong to.
            replace: table -> (parent column, origin, parent ids): the page holds the whole
                set of that origin's rows of these parents (a deal's partner links); stored
                live rows of it missing from the page are flagged deleted.

        Returns:
            Upsert counts per table, rows flagged deleted, rejects written.

        A page with ``deals`` rows also keeps their ``partner_field`` rows of ``deal_partners``
        equal to ``deals.partner_id`` (:func:`keep_partner_field_links`).

        Raises:
            StoreError: a row does not fit its table, or the ``keep_ids`` guard tripped; the
                page's transaction is rolled back.
        """
        counts = PageCounts()
        with self.transaction():
            counts.rejected = self.add_rejects(source, stream, run_id, rejects)
            for table, rows in tables.items():
                counts.tables[table] = self.upsert(table, rows)
            for table, (parent, origin, parents) in (replace or {}).items():
                counts.deleted += flag_missing_links(self, table, source, parent, origin,
                                                     parents, tables.get(table) or ())
            if tables.get("deals"):
                keep_partner_field_links(self, source, [r["deal_id"] for r in tables["deals"]])
            for table, ids in (deleted or {}).items():
                counts.deleted += self.mark_deleted(table, source, ids)
            for table, ids in (keep_ids or {}).items():
                counts.deleted += mark_missing_deleted(self, table, source, ids,
                                                       max_share=keep_ids_max_share)
            if watermark is not None:
                self.set_watermark(source, stream, watermark)
        return counts

    def add_rejects(
        self, source: str, stream: str, run_id: int | None, rejects: Iterable[Sequence[Any]]
    ) -> int:
        """Record skipped records (call inside the transaction that commits their page).

        Args:
            source: ``salesforce`` or ``hubspot``.
            stream: the stream the records came from.
            run_id: the sync run (``sync_runs.run_id``).
            rejects: ``(record_id, field, value, reason)`` tuples; value is text or None.

        Returns:
            How many rows were written.
        """
        rows = [[source, stream, *reject, run_id] for reject in rejects]
        if rows:
            now = datetime.now(UTC)
            self.con.executemany(
                "INSERT INTO rejects (source, stream, record_id, field, value, reason, run_id, "
                "rejected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [[*row, now] for row in rows],
            )
        return len(rows)

    # -- sync runs ---------------------------------------------------------------------------
    def start_run(self, source: str) -> int:
        """Record the start of a sync run (with this process's pid and host); returns its id.

        First marks ``crashed`` every run left ``running`` by another process
        (:meth:`mark_crashed_runs`).
        """
        self.mark_crashed_runs()
        (run_id,) = self.con.execute(
            "INSERT INTO sync_runs (source, started_at, status, pid, host) "
            "VALUES (?, ?, 'running', ?, ?) RETURNING run_id",
            [source, datetime.now(UTC), os.getpid(), socket.gethostname()],
        ).fetchall()[0]
        return int(run_id)

    def mark_crashed_runs(self) -> list[int]:
        """Mark ``crashed`` the sync runs left ``running`` by a process that is gone.

        Only one process can hold the store open for writing (DuckDB's file lock), so a
        ``running`` row of any other process (another pid or host, or no pid: written before
        migration 006) belongs to a job that died without finishing it (``kill -9``, a power
        cut). Its ``finished_at`` becomes now (UTC) and its error says whose run it was.

        Returns:
            The run ids marked, oldest first.
        """
        me, host = os.getpid(), socket.gethostname()
        rows = self.con.execute(
            "SELECT run_id, pid, host FROM sync_runs WHERE status = 'running' "
            "AND (pid IS NULL OR pid <> ? OR host IS DISTINCT FROM ?) ORDER BY run_id",
            [me, host],
        ).fetchall()
        now = datetime.now(UTC)
        for run_id, pid, on in rows:
            who = f"pid {pid} on {on}" if pid is not None else "a job of an older version"
            self.con.execute(
                "UPDATE sync_runs SET status = 'crashed', finished_at = ?, error = ? "
                "WHERE run_id = ?",
                [now, f"crashed: {who} ended without finishing the run", run_id],
            )
        return [int(r[0]) for r in rows]

    def finish_run(
        self, run_id: int, status: str, rows: Mapping[str, Any] | None = None, error: str | None = None
    ) -> None:
        """Record the end of a sync run: status ``ok``, ``failed`` or ``stopped``, counts, error."""
        self.con.execute(
            "UPDATE sync_runs SET finished_at = ?, status = ?, rows = ?, error = ? WHERE run_id = ?",
            [datetime.now(UTC), status, json.dumps(rows or {}, default=str), error, run_id],
        )


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create(path: str) -> None:
    """Create and migrate a new store under a temporary name, then link it into place.

    A process killed while DuckDB writes a new file's header leaves a file DuckDB refuses to
    open ("not a valid DuckDB database file"); building it aside makes creation all-or-nothing.
    ``os.link`` never replaces a store another process created meanwhile.
    """
    building = f"{path}.creating-{os.getpid()}"
    for leftover in Path(path).parent.glob(f"{Path(path).name}.creating-*"):
        pid = leftover.name.rsplit("-", 1)[1].removesuffix(".wal")
        if not pid.isdigit() or not pid_alive(int(pid)) or int(pid) == os.getpid():
            leftover.unlink(missing_ok=True)
    con = duckdb.connect(building)
    try:
        con.execute("SET TimeZone = 'UTC'")
        store = Store.__new__(Store)
        store.con, store._depth = con, 0
        store.migrate()
        con.execute("CHECKPOINT")
    finally:
        con.close()
    try:
        os.link(building, path)
    except FileExistsError:
        pass
    finally:
        os.remove(building)


def _id_column(info: _TableInfo) -> str:
    return info.key[1]


def missing_share(
    store: Store, table: str, source: str, keep_ids: Iterable[str]
) -> tuple[int, int]:
    """How many live rows of ``source`` in ``table`` a full snapshot ``keep_ids`` lacks, and
    how many live rows there are: (missing, live). Tables without ``is_deleted``: (0, 0)."""
    info = store.table_info(table)
    if "is_deleted" not in info.columns:
        return 0, 0
    (missing, live) = store.con.execute(
        f"SELECT count(*) FILTER (WHERE {_quote(_id_column(info))} NOT IN "
        f"(SELECT unnest(?::VARCHAR[]))), count(*) FROM {_quote(table)} "
        "WHERE source = ? AND NOT is_deleted",
        [list(keep_ids), source],
    ).fetchall()[0]
    return int(missing), int(live)


def mark_missing_deleted(
    store: Store, table: str, source: str, keep_ids: Iterable[str], *, max_share: float = 1.0
) -> int:
    """Flag rows of ``source`` whose id is NOT in ``keep_ids`` as deleted (a full snapshot arrived).

    Only for tables with an ``is_deleted`` column (deals, partners, leads).

    Args:
        store: the open store.
        table: the canonical table.
        source: the source whose rows are checked.
        keep_ids: every id the source still has.
        max_share: refuse (StoreError, nothing flagged) when more than this share (0..1) of the
            source's live rows would be flagged: a guard against a truncated id list.

    Returns:
        How many rows were newly flagged.

    Raises:
        StoreError: the ``max_share`` guard tripped.
    """
    info = store.table_info(table)
    if "is_deleted" not in info.columns:
        return 0
    id_col = _quote(_id_column(info))
    keep = list(keep_ids)
    with store.transaction():
        count, live = missing_share(store, table, source, keep)
        if count and max_share < 1.0 and count > max_share * live:
            msg = (f"{table}: the CRM's id list would flag {count} of {live} live {source} "
                   f"rows deleted; refusing (an incomplete id list?)")
            raise StoreError(msg)
        if count:
            store.con.execute(
                f"UPDATE {_quote(table)} SET is_deleted = true WHERE source = ? AND NOT is_deleted "
                f"AND {id_col} NOT IN (SELECT unnest(?::VARCHAR[]))",
                [source, keep],
            )
    return int(count)


def flag_missing_links(
    store: Store, table: str, source: str, parent: str, origin: str, parents: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> int:
    """Flag deleted the live rows of ``table`` (``deal_partners``) of ``source`` and ``origin``
    whose ``parent`` column is in ``parents`` but whose ``link_id`` is not among ``rows``: the
    page carried the whole set of those parents' links.

    Returns:
        How many rows were newly flagged.
    """
    if not parents:
        return 0
    keep = [str(r["link_id"]) for r in rows]
    where = (f"source = ? AND origin = ? AND NOT is_deleted AND {_quote(parent)} IN "
             "(SELECT unnest(?::VARCHAR[])) AND link_id NOT IN (SELECT unnest(?::VARCHAR[]))")
    args = [source, origin, list(parents), keep]
    (count,) = store.con.execute(f"SELECT count(*) FROM {_quote(table)} WHERE {where}",
                                 args).fetchall()[0]
    if count:
        store.con.execute(f"UPDATE {_quote(table)} SET is_deleted = true WHERE {where}", args)
    return int(count)


def keep_partner_field_links(store: Store, source: str, deal_ids: Sequence[str]) -> None:
    """Make the ``partner_field`` rows of ``deal_partners`` of these deals equal to
    ``deals.partner_id`` as stored (after the page's reference checks): one live primary row
    per deal with a partner (link_id ``<deal_id>/partner_field``), flagged deleted when the deal
    has none. Called in the transaction that wrote the deals.
    """
    ids = list(deal_ids)
    store.con.execute(
        """
        INSERT INTO deal_partners (source, link_id, deal_id, partner_id, is_primary, origin,
                                   updated_at, is_deleted)
        SELECT source, deal_id || '/partner_field', deal_id, partner_id, true, 'partner_field',
               updated_at, false
        FROM deals
        WHERE source = ? AND partner_id IS NOT NULL AND deal_id IN (SELECT unnest(?::VARCHAR[]))
          AND NOT EXISTS (SELECT 1 FROM deal_partners x
                          WHERE x.source = deals.source AND x.link_id = deals.deal_id || '/partner_field'
                            AND x.partner_id = deals.partner_id AND NOT x.is_deleted)
        ON CONFLICT (source, link_id) DO UPDATE SET partner_id = excluded.partner_id,
            updated_at = excluded.updated_at, is_deleted = false
        """, [source, ids])
    store.con.execute(
        """
        UPDATE deal_partners SET is_deleted = true
        WHERE source = ? AND origin = 'partner_field' AND NOT is_deleted
          AND deal_id IN (SELECT deal_id FROM deals WHERE source = ? AND partner_id IS NULL
                          AND deal_id IN (SELECT unnest(?::VARCHAR[])))
        """, [source, source, ids])
