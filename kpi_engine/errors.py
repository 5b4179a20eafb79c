"""Errors of the KPI engine; every message is one line naming what is wrong and the fix."""

from __future__ import annotations

from typing import Any, ClassVar

#: Exit code of a command that found the store held by another job.
EXIT_LOCKED = 3


class EngineError(Exception):
    """Root of the engine's errors; ``exit_code`` is that of a command it stops."""

    exit_code: ClassVar[int] = 1


class StoreError(EngineError):
    """The DuckDB store cannot be opened, migrated or written."""


class LockedError(StoreError):
    """Another job holds the store: our lock file (``holder``: what it says) or DuckDB's own
    file lock (another process has the file open for writing)."""

    exit_code: ClassVar[int] = EXIT_LOCKED

    def __init__(self, message: str, holder: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}


class ComputeError(EngineError):
    """KPI settings or a compute request are invalid (bad grain, weights, dates)."""
