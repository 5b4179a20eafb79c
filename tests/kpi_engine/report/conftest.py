"""Fixtures of the report tests: the Maven store, built once (``tests/helpers/report.py``)."""

from tests.helpers.report import maven_store, store

__all__ = ["maven_store", "store"]
