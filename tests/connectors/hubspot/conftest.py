"""Fixtures of the HubSpot connector tests (defined in ``tests/helpers/hubspot.py``)."""

from tests.helpers.hubspot import token_env

__all__ = ["token_env"]
