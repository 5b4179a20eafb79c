"""One job at a time per store: a lock file next to the DuckDB file, held for the whole job.

``<database>.lock`` holds ``{"pid", "host", "command", "started_at"}`` of the job holding it and
an exclusive ``flock`` while the job runs. A second job finds the ``flock`` taken and stops with
:class:`LockedError` naming the holder. A lock file whose ``flock`` is free (its job died without
removing it) is stale and taken over. Where ``fcntl`` is missing (Windows), a lock file whose pid
is not alive on this host counts as stale. DuckDB's own file lock stops other processes (e.g. a
``partnerkpi sync`` started by hand) on top of this.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from kpi_engine.errors import LockedError
from kpi_engine.store import pid_alive

__all__ = ["LockedError", "StoreLock"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _describe(path: Path, holder: dict[str, Any]) -> str:
    who = f"pid {holder.get('pid', '?')}"
    if holder.get("host"):
        who += f" on {holder['host']}"
    what = holder.get("command") or "a partnerkpi job"
    since = f" since {holder['started_at']}" if holder.get("started_at") else ""
    return f"the store is locked by {what} ({who}{since}); lock file {path}"


@dataclass
class StoreLock:
    """The lock of one store.

    Args:
        database: the DuckDB file.
        command: what the holder runs (``partnerkpi run``), written into the lock file.

    Attributes:
        path: the lock file (``<database>.lock``).
        took_over: a stale lock file was found and replaced.
    """

    database: Path
    command: str = "partnerkpi"

    def __post_init__(self) -> None:
        self.path = Path(str(self.database) + ".lock")
        self.took_over: dict[str, Any] | None = None
        self._fd: int | None = None

    def read_holder(self) -> dict[str, Any]:
        """What the lock file says (empty when missing or unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def acquire(self) -> StoreLock:
        """Take the lock.

        Raises:
            LockedError: another live job holds it.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is None:
                break
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = self.read_holder()
                raise LockedError(_describe(self.path, holder), holder) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed the file meanwhile: lock the new one
        try:
            holder = self.read_holder()
            if holder:
                if fcntl is None and holder.get("host") == socket.gethostname() and pid_alive(
                    int(holder.get("pid") or 0)
                ):
                    raise LockedError(_describe(self.path, holder), holder)
                self.took_over = holder  # its job died without removing it: stale
            mine = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                    "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(mine).encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (no-op when not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
