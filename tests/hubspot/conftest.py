"""Fixtures of the HubSpot connector tests (helpers live in ``hubspot_helpers``)."""

from tests.hubspot.hubspot_helpers import token_env

__all__ = ["token_env"]
