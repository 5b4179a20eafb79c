"""The push path logs in again once on an expired session (Salesforce): the sObject Collections
call answered 401 ``INVALID_SESSION_ID`` is sent again after one new login, and the same six
partner Accounts are written as without the expiry."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from crm_sandbox.server import Sandbox
from jobs.run import push_targets
from kpi_engine.store import Store
from tests.helpers.writeback import app_config, config_dict, policy

pytestmark = pytest.mark.slow

TODAY = date(2025, 6, 1)
COLLECTIONS = "/services/data/v60.0/composite/sobjects"


def test_push_session_expired_at_the_write_logs_in_again_and_writes_once(
    maven: Sandbox, store_path: Path
) -> None:
    config = app_config(config_dict(maven, store_path))
    maven.faults.add("status", "PATCH", COLLECTIONS, status=401, times=1, body=[
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    maven.calls.clear()
    with Store(store_path) as store:
        (result,) = push_targets(config, store, target="salesforce", today=TODAY,
                                 policy=policy())
    logins = [p for _, p in maven.calls if p == "/services/oauth2/token"]
    patches = [p for m, p in maven.calls if m == "PATCH"]
    assert (result.status, result.records_written, result.fields_written) == ("ok", 6, 18)
    assert (len(logins), patches) == (2, [COLLECTIONS, COLLECTIONS])  # the 401, then the write
    rec = maven.salesforce.store.get("Account", "001XX0000000004YAA")
    assert rec is not None
    assert rec["Partner_Win_Rate__c"] == Decimal("55.61")
