"""Fixtures of the target and tier tests: a fresh store (``tests/helpers/kpi.py``), the CRM
sandbox's credentials and recording sleeps (``tests/helpers/salesforce.py``), the HubSpot
token's variable (``tests/helpers/hubspot.py``)."""

from tests.helpers.hubspot import token_env
from tests.helpers.kpi import store
from tests.helpers.salesforce import sandbox_env, sleeps

__all__ = ["sandbox_env", "sleeps", "store", "token_env"]
