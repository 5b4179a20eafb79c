"""Fixtures of the target and tier tests: a fresh store (``tests/helpers/kpi.py``)."""

from tests.helpers.kpi import store

__all__ = ["store"]
