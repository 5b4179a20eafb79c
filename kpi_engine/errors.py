"""Errors of the KPI engine; every message is one line naming what is wrong and the fix."""

from __future__ import annotations


class EngineError(Exception):
    """Root of the engine's errors."""


class StoreError(EngineError):
    """The DuckDB store cannot be opened, migrated or written (e.g. locked by another process)."""


class ComputeError(EngineError):
    """KPI settings or a compute request are invalid (bad grain, weights, dates)."""
