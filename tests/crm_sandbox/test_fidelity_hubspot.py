"""Fidelity: the sandbox's HubSpot responses have the shape of the real bodies we keep.

Each ``fixtures/api-samples/hubspot-*.json`` is compared with the sandbox's response of that kind:
every key the sample shows must be there, recursively, with the same JSON type, and every
timestamp in the sample's format (``2024-05-10T12:00:00.000Z``) must have that format in the
sandbox too. Property maps (``properties``, ``propertiesWithHistory``, stage ``metadata``) are
portal-specific: their values are compared with the sample's values (same key if the sample
has it, else the sample's first value). Extra keys in the sandbox are allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crm_sandbox.core import Clock
from crm_sandbox.hubspot import DEFAULT_TOKEN
from crm_sandbox.server import Sandbox
from tests.helpers.hubspot_world import small_world, ts

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "api-samples"
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
FREE_MAPS = {"properties", "propertiesWithHistory", "metadata"}


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__  # str, dict, list


def assert_shape(expected: Any, actual: Any, path: str = "$") -> None:
    """Assert ``actual`` has every key ``expected`` shows, with the same JSON types/formats."""
    if expected is None:
        # A null in the sample only says "may be null": HubSpot property values are strings.
        assert actual is None or isinstance(actual, str), f"{path}: {actual!r}"
        return
    assert json_type(actual) == json_type(expected), f"{path}: {actual!r} vs sample {expected!r}"
    if isinstance(expected, str) and ISO_MS.match(expected):
        assert ISO_MS.match(actual), f"{path}: timestamp {actual!r} not like {expected!r}"
    elif isinstance(expected, dict):
        if path.rsplit(".", 1)[-1] in FREE_MAPS:
            assert expected, path
            values = list(expected.values())
            if all(isinstance(v, list) for v in values):
                # History lists: every entry of every property shows what an entry may hold.
                merged = [entry for v in values for entry in v]
                for key, value in actual.items():
                    assert_shape(merged, value, f"{path}.{key}")
                return
            kinds = {json_type(v) for v in values} | {"null"}
            for key, value in actual.items():
                if key in expected:
                    assert_shape(expected[key], value, f"{path}.{key}")
                else:  # a property this portal has and the sample's portal has not
                    assert json_type(value) in kinds, f"{path}.{key}: {value!r}"
            return
        for key, value in expected.items():
            assert key in actual, f"{path}: missing key {key!r} (has {sorted(actual)})"
            assert_shape(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list) and expected:
        assert actual, f"{path}: empty list, sample has {len(expected)} items"
        required = (
            set.intersection(*(set(e) for e in expected)) if isinstance(expected[0], dict) else None
        )
        for i, item in enumerate(actual):
            if required is None:
                assert_shape(expected[0], item, f"{path}[{i}]")
                continue
            missing = required - set(item)
            assert not missing, f"{path}[{i}]: missing keys {sorted(missing)}"
            for key, value in item.items():
                shown = next((e[key] for e in expected if key in e), _ABSENT)
                if shown is not _ABSENT:
                    assert_shape(shown, value, f"{path}[{i}].{key}")


_ABSENT = object()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(small_world(), clock=Clock(ts("2024-06-01T10:00:00Z"))) as sb:
        yield sb


def call(sb: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    return requests.request(
        method, sb.url + path, headers=headers, verify=sb.ca_bundle, timeout=10, **kwargs
    )


def test_shape_checker_catches_differences() -> None:
    good = {"a": "2024-01-01T00:00:00.000Z", "b": [{"x": 1}], "properties": {"p": "1"}}
    assert_shape(good, {**good, "extra": True})
    with pytest.raises(AssertionError):
        assert_shape(good, {**good, "a": "2024-01-01T00:00:00Z"})
    with pytest.raises(AssertionError):
        assert_shape(good, {"a": good["a"], "b": [{"x": "1"}], "properties": {}})
    with pytest.raises(AssertionError):
        assert_shape(good, {"a": good["a"], "properties": {"p": "1"}})
    with pytest.raises(AssertionError):
        assert_shape(good, {**good, "properties": {"q": 5}})


def test_deals_page_like_recorded_page(sandbox: Sandbox) -> None:
    expected = sample("hubspot-deals-page.json")
    body = call(sandbox, "GET", "/crm/v3/objects/deals?limit=2").json()
    assert_shape(expected, body)
    # Without `properties`, the default deal properties are exactly the recorded ones.
    for deal in body["results"]:
        assert set(deal["properties"]) == set(expected["results"][0]["properties"])
        assert set(deal) == set(expected["results"][0])
    assert set(body) == {"results", "paging"}
    assert set(body["paging"]["next"]) == {"after", "link"}


def test_search_response_like_recorded_search(sandbox: Sandbox) -> None:
    expected = sample("hubspot-search-response.json")
    body = call(
        sandbox,
        "POST",
        "/crm/v3/objects/companies/search",
        json={
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "name", "operator": "EQ", "value": "Northwind Referral"}
                    ]
                }
            ],
            "properties": sorted(expected["results"][0]["properties"]),
        },
    ).json()
    assert_shape(expected, body)
    assert set(body) == set(expected)  # total 1: no paging, as recorded
    assert body["total"] == 1


def test_search_response_like_docs_example_with_paging(sandbox: Sandbox) -> None:
    expected = sample("hubspot-search-response-docs-example.json")
    body = call(sandbox, "POST", "/crm/v3/objects/deals/search", json={"limit": 1}).json()
    assert_shape(expected, body)
    assert set(body) == set(expected)


def test_batch_update_response_like_recorded(sandbox: Sandbox) -> None:
    expected = sample("hubspot-batch-update-response.json")
    company = sandbox.hubspot.company_id("P01")
    resp = call(
        sandbox,
        "POST",
        "/crm/v3/objects/companies/batch/update",
        json={"inputs": [{"id": company, "properties": {"partner_win_rate": "0.5", "name": "X"}}]},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert_shape(expected, body)
    assert set(body) == set(expected)
    assert set(body["results"][0]) == set(expected["results"][0])


def test_batch_update_207_like_openapi_with_errors(sandbox: Sandbox) -> None:
    expected = sample("hubspot-batch-update-response.json")
    company = sandbox.hubspot.company_id("P01")
    resp = call(
        sandbox,
        "POST",
        "/crm/v3/objects/companies/batch/update",
        json={
            "inputs": [
                {"id": company, "properties": {"partner_win_rate": "0.5"}},
                {"id": "1", "properties": {"partner_win_rate": "0.5"}},
            ]
        },
    )
    assert resp.status_code == 207
    body = resp.json()
    assert_shape(expected, body)
    assert set(body) == set(expected) | {"numErrors", "errors"}
    # StandardError (HubSpot's OpenAPI): status, category, message, context, links, errors.
    assert set(body["errors"][0]) >= {"status", "category", "message", "context", "links", "errors"}


def test_properties_with_history_like_recorded(sandbox: Sandbox) -> None:
    expected = sample("hubspot-object-properties-with-history.json")
    deal = sandbox.hubspot.deal_id("D1")
    body = call(
        sandbox,
        "POST",
        "/crm/v3/objects/deals/batch/read",
        json={
            "inputs": [{"id": deal}],
            "properties": ["dealstage", "createdate"],
            "propertiesWithHistory": ["dealstage", "createdate", "hs_lastmodifieddate"],
        },
    ).json()
    assert_shape(expected, body)
    history = body["results"][0]["propertiesWithHistory"]
    assert set(history) == {"dealstage", "createdate", "hs_lastmodifieddate"}
    assert [h["timestamp"] for h in history["dealstage"]] == sorted(
        (h["timestamp"] for h in history["dealstage"]), reverse=True
    )


def test_pipeline_like_docs_example(sandbox: Sandbox) -> None:
    expected = sample("hubspot-pipeline-v3-docs-example.json")
    body = call(sandbox, "GET", "/crm/v3/pipelines/deals/default").json()
    assert_shape(expected, body)
    for stage in body["stages"]:
        assert set(stage["metadata"]) == {"isClosed", "probability"}
        assert all(isinstance(v, str) for v in stage["metadata"].values())


def test_validation_error_like_docs_example(sandbox: Sandbox) -> None:
    expected = sample("hubspot-error-validation-docs.json")
    resp = call(sandbox, "GET", "/crm/v3/objects/deals?limit=101")
    assert resp.status_code == 400
    body = resp.json()
    assert_shape(expected, body)
    assert set(body) == set(expected)


def test_401_like_hubspot_auth_error(sandbox: Sandbox) -> None:
    expected = sample("hubspot-429-secondly.json")  # same generic error envelope
    resp = requests.get(sandbox.url + "/crm/v3/objects/deals", verify=sandbox.ca_bundle, timeout=10)
    assert resp.status_code == 401
    body = resp.json()
    assert set(body) == set(expected)
    assert_shape(expected, body)
    assert body["category"] == "INVALID_AUTHENTICATION"


def test_429_ten_secondly_fault_like_issue_report(sandbox: Sandbox) -> None:
    expected = sample("hubspot-429-ten-secondly.json")
    sandbox.faults.add("status", "POST", "/crm/v3/objects/deals/search", status=429)
    resp = call(sandbox, "POST", "/crm/v3/objects/deals/search", json={})
    assert resp.status_code == 429
    assert_shape(expected, resp.json())
    assert set(resp.json()) == set(expected)


def test_rate_limit_header_names_like_observed(sandbox: Sandbox) -> None:
    observed = sample("hubspot-ratelimit-headers-observed.json")

    def names(resp: requests.Response) -> set[str]:
        return {k.lower() for k in resp.headers if k.lower().startswith("x-hubspot-ratelimit")}

    company = sandbox.hubspot.company_id("P01")
    update = call(
        sandbox,
        "POST",
        "/crm/v3/objects/companies/batch/update",
        json={"inputs": [{"id": company, "properties": {"partner_win_rate": "0.5"}}]},
    )
    search = call(sandbox, "POST", "/crm/v3/objects/companies/search", json={})
    assert names(update) == {k.lower() for k in observed["batch_update_200_response_headers"]}
    assert names(search) == {k.lower() for k in observed["search_200_response_headers"]}
    for resp in (update, search):
        for key in names(resp):
            assert resp.headers[key].isdigit()
