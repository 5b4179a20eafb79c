"""Bulk API 2.0 query and getDeleted end to end against the CRM sandbox (a local HTTPS server).

The World is the synthetic data set (3,000 deals) plus two partners with non-ASCII names that
own some of the deals (case C-11). Bulk pages are compared, record for record, with the same
SOQL through REST ``queryAll`` pages, after turning both into the same canonical text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors.errors import AuthError, FatalAPIError
from connectors.http import RetryPolicy, make_session
from connectors.salesforce.bulk import bulk_query, bulk_soql
from connectors.salesforce.sweep import get_deleted, sweep_ids
from connectors.values import parse_instant
from crm_sandbox.core import Clock
from crm_sandbox.datasets import synthetic
from crm_sandbox.server import Sandbox
from crm_sandbox.world import Partner, World

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

API = "60.0"
NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
UNICODE_PARTNERS = ["Société Générale Partenaires", "北京合作伙伴有限公司"]
OPP_FIELDS = [
    "Id",
    "Name",
    "AccountId",
    "Account.Name",
    "OwnerId",
    "Owner.Name",
    "StageName",
    "Amount",
    "CurrencyIsoCode",
    "Probability",
    "IsClosed",
    "IsWon",
    "CloseDate",
    "CreatedDate",
    "LeadSource",
    "SystemModstamp",
    "IsDeleted",
    "PartnerAccountId",
    "PartnerAccount.Name",
]
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")


def build_world() -> World:
    world = synthetic(3000, seed=11)
    world.partners += [
        Partner("PU1", UNICODE_PARTNERS[0], "Reseller", "Gold"),
        Partner("PU2", UNICODE_PARTNERS[1], "Agency"),
    ]
    for n, deal in enumerate(world.deals[:40]):
        deal.partner_key = "PU1" if n % 2 else "PU2"
    return world


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(build_world(), clock=Clock(NOW), api_version=API).start() as sandbox:
        yield sandbox


def control(sb: Sandbox, path: str, body: dict[str, Any] | None = None) -> Any:
    r = requests.post(f"{sb.url}/_sandbox/{path}", json=body or {}, verify=sb.ca_bundle, timeout=30)
    r.raise_for_status()
    return r.json()


@pytest.fixture
def session(sb: Sandbox) -> requests.Session:
    s = make_session(sb.ca_bundle)
    s.headers["Authorization"] = f"Bearer {control(sb, 'salesforce/token')['access_token']}"
    return s


def no_sleep(seconds: float) -> None:
    raise AssertionError(seconds)


POLICY = RetryPolicy(attempts=2, jitter=0.0, sleep=no_sleep)


def rest_query_all(sb: Sandbox, session: requests.Session, soql: str) -> list[dict[str, Any]]:
    """Every record of ``soql`` through REST queryAll pages (JSON numbers as Decimal)."""
    records: list[dict[str, Any]] = []
    r = session.get(f"{sb.url}/services/data/v{API}/queryAll", params={"q": soql}, timeout=60)
    while True:
        r.raise_for_status()
        page = json.loads(r.content.decode("utf-8"), parse_float=Decimal)
        records += page["records"]
        if page["done"]:
            return records
        r = session.get(sb.url + page["nextRecordsUrl"], timeout=60)


def rest_value(record: dict[str, Any], path: str) -> Any:
    node: Any = record
    for part in path.split("."):
        if node is None:
            return None
        node = node[part]
    return node


def canonical(value: Any) -> str | None:
    """One text form for a REST (typed JSON) or Bulk (CSV text) value."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(Decimal(value).normalize())
    text = str(value)
    if _DATETIME.match(text):
        instant = parse_instant(text)
        assert instant is not None
        return instant.isoformat()
    if _NUMBER.match(text):
        return str(Decimal(text).normalize())
    return text


def test_bulk_query_equals_rest_query_all_record_for_record(sb, session):
    soql = bulk_soql(OPP_FIELDS, "Opportunity")
    pages = list(
        bulk_query(
            session,
            sb.url,
            API,
            soql,
            policy=POLICY,
            max_records=1000,
            poll_interval=0.0,
            sleep=lambda s: None,
        )
    )
    assert [len(p) for p in pages] == [1000, 1000, 1000]
    bulk = [row for page in pages for row in page]
    rest = rest_query_all(sb, session, soql)
    assert len(rest) == 3000
    assert {r["IsDeleted"] for r in rest} == {False, True}  # queryAll on both sides
    assert list(bulk[0]) == OPP_FIELDS  # header = the SELECT paths, dotted ones kept
    by_id = {r["Id"]: r for r in rest}
    assert len(by_id) == len(bulk) == 3000
    for row in bulk:
        expected = by_id[row["Id"]]
        assert {f: canonical(row[f]) for f in OPP_FIELDS} == {
            f: canonical(rest_value(expected, f)) for f in OPP_FIELDS
        }, row["Id"]


def test_bulk_query_unicode_partner_names_are_exact(sb, session):
    soql = bulk_soql(["Id", "PartnerAccount.Name"], "Opportunity", "PartnerAccount.Name != null")
    rows = [
        r
        for page in bulk_query(
            session,
            sb.url,
            API,
            soql,
            operation="queryAll",
            policy=POLICY,
            poll_interval=0.0,
            sleep=lambda s: None,
        )
        for r in page
    ]
    names = {r["PartnerAccount.Name"] for r in rows}
    assert set(UNICODE_PARTNERS) <= names
    assert sum(r["PartnerAccount.Name"] in UNICODE_PARTNERS for r in rows) == 40
    rest = {r["Id"]: r["PartnerAccount"]["Name"] for r in rest_query_all(sb, session, soql)}
    assert {r["Id"]: r["PartnerAccount.Name"] for r in rows} == rest


def test_bulk_query_compound_address_components_equal_rest_compound(sb, session):
    soql = bulk_soql(["Id", "Name", "BillingAddress"], "Account")
    assert "BillingAddress" not in soql  # the sandbox, like Salesforce, would answer 400
    rows = [
        r
        for page in bulk_query(
            session, sb.url, API, soql, policy=POLICY, poll_interval=0.0, sleep=lambda s: None
        )
        for r in page
    ]
    rest = {
        r["Id"]: r
        for r in rest_query_all(sb, session, "SELECT Id, Name, BillingAddress FROM Account")
    }
    assert len(rows) == len(rest) > 0
    parts = {
        "street": "BillingStreet",
        "city": "BillingCity",
        "state": "BillingState",
        "postalCode": "BillingPostalCode",
        "country": "BillingCountry",
        "latitude": "BillingLatitude",
        "longitude": "BillingLongitude",
        "geocodeAccuracy": "BillingGeocodeAccuracy",
    }
    with_address = 0
    for row in rows:
        address = rest[row["Id"]]["BillingAddress"] or {}
        with_address += bool(address)
        assert {c: canonical(row[c]) for c in parts.values()} == {
            c: canonical(address.get(k)) for k, c in parts.items()
        }
    assert with_address > 0


def test_bulk_query_compound_field_unreplaced_is_fatal(sb, session):
    with pytest.raises(FatalAPIError, match="400 API_ERROR: Selecting compound data"):
        list(
            bulk_query(
                session,
                sb.url,
                API,
                "SELECT Id, BillingAddress FROM Account",
                policy=POLICY,
                sleep=lambda s: None,
            )
        )


def test_bulk_query_expired_session_is_auth_error(sb):
    s = make_session(sb.ca_bundle)
    s.headers["Authorization"] = "Bearer not-a-live-token"
    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        list(bulk_query(s, sb.url, API, "SELECT Id FROM Account", policy=POLICY))


def test_get_deleted_and_sweep_against_sandbox(sb, session):
    ids = [
        r["Id"]
        for r in rest_query_all(
            sb, session, "SELECT Id FROM Opportunity WHERE IsDeleted = false ORDER BY Id LIMIT 3"
        )
    ]
    before = datetime.fromisoformat(
        control(sb, "clock/freeze", {"at": "2025-01-10T12:00:00+00:00"})["now"]
    )
    control(sb, "clock/advance", {"seconds": 3600})
    for record_id in ids[:2]:
        control(sb, "salesforce/delete", {"object_type": "Opportunity", "id": record_id})
    control(sb, "clock/advance", {"seconds": 3600})
    deleted = get_deleted(
        session, sb.url, API, "Opportunity", before, before + timedelta(hours=2), policy=POLICY
    )
    assert deleted == sorted(ids[:2])  # the sandbox lists them in deletion order; same instant
    assert (
        get_deleted(
            session, sb.url, API, "Opportunity", before - timedelta(days=1), before, policy=POLICY
        )
        == []
    )
    # Soft-deleted records still come back through queryAll, so the sweep does not report them.
    live = [r["Id"] for r in rest_query_all(sb, session, "SELECT Id FROM Opportunity")]
    assert sweep_ids(lambda: live, [*ids, "006000000000000AAA"], max_share=1.0) == [
        "006000000000000AAA"
    ]


def test_bulk_query_dropped_download_and_503_refetch_the_same_page(sb, session):
    soql = bulk_soql(["Id", "PartnerAccount.Name"], "Opportunity")
    clean = list(
        bulk_query(
            session,
            sb.url,
            API,
            soql,
            policy=POLICY,
            max_records=1000,
            poll_interval=0.0,
            sleep=lambda s: None,
        )
    )
    results = "/services/data/*/jobs/query/*/results"
    control(
        sb,
        "faults",
        {"kind": "drop", "method": "GET", "path": results, "after": 1, "keep_bytes": 5001},
    )
    control(
        sb,
        "faults",
        {"kind": "status", "status": 503, "method": "GET", "path": results, "after": 2},
    )
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, initial=0.25, jitter=0.0, sleep=waits.append)
    try:
        faulty = list(
            bulk_query(
                session,
                sb.url,
                API,
                soql,
                policy=policy,
                max_records=1000,
                poll_interval=0.0,
                sleep=lambda s: None,
            )
        )
    finally:
        control(sb, "faults/clear")
    assert waits == [0.25, 0.25]  # one retry for the broken download, one for the 503
    assert faulty == clean
