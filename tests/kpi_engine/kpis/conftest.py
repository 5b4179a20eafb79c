"""Fixtures of the KPI definition tests: a fresh store (``tests/helpers/kpi.py``)."""

from tests.helpers.kpi import store

__all__ = ["store"]
