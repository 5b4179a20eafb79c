"""Fixtures of the Salesforce connector tests (defined in ``tests/helpers/salesforce.py``)."""

from tests.helpers.salesforce import sandbox_env, sleeps

__all__ = ["sandbox_env", "sleeps"]
