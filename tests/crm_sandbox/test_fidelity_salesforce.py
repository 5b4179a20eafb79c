"""Fidelity: for each real Salesforce body in fixtures/api-samples, the sandbox's response of the
same kind has the same keys (recursively, for the record parts the sample shows), the same JSON
types and the same datetime / date formats."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.salesforce_world import API, NOW, auth, http, start_sandbox

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "api-samples"
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SF_ID_RE = re.compile(r"^[0-9A-Za-z]{18}$")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        if DATETIME_RE.match(value):
            return "datetime"
        if DATE_RE.match(value):
            return "date"
        if SF_ID_RE.match(value):
            return "id"
        return "string"
    return type(value).__name__


def assert_like(sample: Any, ours: Any, path: str = "$", exact: bool = True) -> None:
    """``ours`` has the sample's shape: keys, JSON types and string formats, recursively.

    Objects must have exactly the sample's keys, except records (objects with ``attributes``),
    which may carry more fields than the sample shows, and the top level when ``exact`` is
    False. A ``null`` in the sample says nothing about the type, so any value is accepted there;
    an empty list is accepted where the sample's list has items.
    """
    if sample is None:
        return
    assert _kind(ours) == _kind(sample), f"{path}: {ours!r} is not like {sample!r}"
    if isinstance(sample, dict):
        missing = set(sample) - set(ours)
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        if exact and "attributes" not in sample:
            extra = set(ours) - set(sample)
            assert not extra, f"{path}: extra keys {sorted(extra)}"
        for key, value in sample.items():
            assert_like(value, ours[key], f"{path}.{key}")
    elif isinstance(sample, list):
        for i, (item, mine) in enumerate(zip(sample, ours, strict=False)):
            assert_like(item, mine, f"{path}[{i}]")


def _sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sb():
    with start_sandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def api(sb):
    s = http(sb)
    s.headers.update(auth(sb.salesforce.issue_token()))
    base = f"{sb.url}/services/data/v{API}"
    return s, base


def test_every_salesforce_sample_is_covered():
    names = {p.name for p in SAMPLES.glob("salesforce-*.json")}
    assert names == set(CASES)


def _query_docs(sb, s, base):
    return s.get(f"{base}/query", params={"q": "SELECT Name FROM Account LIMIT 2"})


def _query_recorded(sb, s, base):
    return s.get(f"{base}/query", params={"q": "SELECT Id FROM Account LIMIT 1"})


def _sobject_account(sb, s, base):
    return s.get(f"{base}/sobjects/Account/{sb.salesforce.id_for('Account', 'P01')}")


def _collection_partial_failure(sb, s, base):
    ok, bad = sb.salesforce.id_for("Account", "P01"), sb.salesforce.id_for("Account", "P02")
    sb.salesforce.fail_record(bad, "Tier must be set before KPIs", times=1)
    return s.patch(
        f"{base}/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "id": ok, "Partner_Win_Rate__c": 50.0},
                {"attributes": {"type": "Account"}, "id": bad, "Partner_Win_Rate__c": 75.0},
            ],
        },
    )


def _malformed_id(sb, s, base):
    wrong = sb.salesforce.id_for("Opportunity", "D001")
    return s.patch(f"{base}/sobjects/Account/{wrong}", json={"Name": "x"})


def _not_found(sb, s, base):
    return s.get(f"{base}/sobjects/Account/{sb.salesforce.id_for('Account', 'P03')}")


def _get_deleted(sb, s, base):
    start, end = NOW - timedelta(days=120), NOW
    return s.get(
        f"{base}/sobjects/Opportunity/deleted/",
        params={"start": start.isoformat(), "end": end.isoformat()},
    )


def _limits(sb, s, base):
    return s.get(f"{base}/limits")


CASES = {
    "salesforce-query-response-docs.json": (_query_docs, 200),
    "salesforce-query-response-recorded.json": (_query_recorded, 200),
    "salesforce-sobject-get-account.json": (_sobject_account, 200),
    "salesforce-collections-update-response-partial-failure.json": (
        _collection_partial_failure,
        200,
    ),
    "salesforce-collections-update-response-docs.json": (_collection_partial_failure, 200),
    "salesforce-error-malformed-id.json": (_malformed_id, 400),
    "salesforce-error-not-found.json": (_not_found, 404),
    "salesforce-getdeleted-response.json": (_get_deleted, 200),
    "salesforce-limits-response.json": (_limits, 200),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_response_is_like_the_sample(sb, api, name):
    call, status = CASES[name]
    s, base = api
    r = call(sb, s, base)
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("application/json")
    assert re.fullmatch(r"api-usage=\d+/15000", r.headers["Sforce-Limit-Info"])
    sample, ours = _sample(name), r.json()
    # /limits and a single sObject show more entries than the trimmed samples.
    exact = name not in ("salesforce-limits-response.json", "salesforce-sobject-get-account.json")
    assert_like(sample, ours, exact=exact)


def test_not_found_body_is_verbatim(sb, api):
    s, base = api
    assert _not_found(sb, s, base).json() == _sample("salesforce-error-not-found.json")


def test_malformed_id_message(sb, api):
    s, base = api
    wrong = sb.salesforce.id_for("Opportunity", "D001")
    [body] = _malformed_id(sb, s, base).json()
    assert body == {
        "fields": ["Id"],
        "message": f"Account ID: id value of incorrect type: {wrong}",
        "errorCode": "MALFORMED_ID",
    }


def test_assert_like_catches_differences():
    with pytest.raises(AssertionError, match="missing keys"):
        assert_like({"a": 1, "b": 2}, {"a": 1})
    with pytest.raises(AssertionError, match="not like"):
        assert_like({"d": "2021-12-03T18:19:19.000+0000"}, {"d": "2021-12-03T18:19:19Z"})
    with pytest.raises(AssertionError, match="not like"):
        assert_like({"n": 1.0}, {"n": "1.0"})
    with pytest.raises(AssertionError, match="extra keys"):
        assert_like([{"errorCode": "X"}], [{"errorCode": "X", "more": 1}])
    assert_like(
        {"attributes": {"type": "A", "url": "/u"}},
        {"attributes": {"type": "B", "url": "/v"}, "More": 1},
    )
