"""Bulk API 2.0 query (connectors/salesforce/bulk.py) against `responses` mocks.

Bodies come from ``fixtures/salesforce-bulk/`` (see its PROVENANCE.md) and
``fixtures/api-samples/``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connectors.errors import (
    AuthError,
    ConfigError,
    FatalAPIError,
    LimitReachedError,
    RetriableAPIError,
)
from connectors.http import RetryPolicy, make_session
from connectors.salesforce.bulk import (
    bulk_query,
    bulk_soql,
    compound_components,
    compound_from_describe,
    iter_lines,
)

ROOT = Path(__file__).resolve().parents[4]
BULK = ROOT / "fixtures" / "salesforce-bulk"
SAMPLES = ROOT / "fixtures" / "api-samples"
INSTANCE = "https://example.my.salesforce.com"
JOBS = f"{INSTANCE}/services/data/v59.0/jobs/query"
JOB_ID = "7986gEXAMPLE4X2OPT"
JOB = f"{JOBS}/{JOB_ID}"
RESULTS = f"{JOB}/results"


def load(name: str, folder: Path = BULK) -> Any:
    return json.loads((folder / name).read_text(encoding="utf-8"))


C11 = load("c11-results.json")
C11_TEXT: str = C11["response"]["body_utf8_text"]
C11_NAMES = [
    "Société Générale Partenaires",
    "Zürich Vertrieb AG",
    "北京合作伙伴有限公司",
    "Partner™ São Paulo Ltda",
]


class Recorder:
    """A sleep function that records instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class SmallReads(io.RawIOBase):
    """A raw stream that hands out at most ``size`` bytes per read (a slow socket)."""

    def __init__(self, data: bytes, size: int = 7) -> None:
        self.data, self.size, self.pos = data, size, 0
        self.reads: list[bytes] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece = self.data[self.pos : self.pos + min(self.size, len(buffer))]
        buffer[: len(piece)] = piece
        self.pos += len(piece)
        if piece:
            self.reads.append(piece)
        return len(piece)


def policy(sleep: Recorder | None = None) -> RetryPolicy:
    return RetryPolicy(attempts=3, initial=0.5, jitter=0.0, sleep=sleep or Recorder())


def session() -> requests.Session:
    s = make_session()
    s.headers["Authorization"] = "Bearer 00DXX!token"
    return s


def add_job(rsps: responses.RequestsMock, *states: str) -> None:
    """Job create answer, then one job-info answer per state in ``states``."""
    rsps.post(JOBS, json=load("job-create-response-docs.json"))
    info = {
        "InProgress": "job-info-in-progress.json",
        "JobComplete": "job-info-complete.json",
        "Failed": "job-info-failed.json",
    }
    for state in states:
        rsps.get(JOB, json=load(info[state]))


def run(**kwargs: Any) -> list[list[dict[str, str | None]]]:
    args: dict[str, Any] = {"policy": policy(), "sleep": Recorder()} | kwargs
    soql = args.pop("soql", "SELECT Id, Name FROM Account")
    return list(bulk_query(session(), INSTANCE, "59.0", soql, **args))


# -- C-11: UTF-8 without a charset, 7-byte chunks ------------------------------------------


def test_iter_lines_c11_body_in_7_byte_chunks_decodes_exactly():
    body = C11_TEXT.encode("utf-8")
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    assert b"\xc3" in [c[-1:] for c in chunks]  # a boundary really splits C3 | A9 ('é')
    assert "".join(iter_lines(chunks)) == C11_TEXT
    assert list(iter_lines(chunks))[1] == '"001XX0000000101AAA","Société Générale Partenaires"\n'


def test_iter_lines_only_splits_on_lf():
    text = '"Id","Name"\n"1","a\u2028b\x1cc\rd"\n'
    assert list(iter_lines([text.encode()])) == ['"Id","Name"\n', '"1","a\u2028b\x1cc\rd"\n']


@responses.activate
def test_bulk_query_c11_streamed_in_7_byte_chunks_keeps_names_byte_for_byte():
    raw = SmallReads(C11_TEXT.encode("utf-8"), size=7)
    headers = C11["response"]["headers"]
    add_job(responses.mock, "JobComplete")
    responses.get(
        RESULTS,
        body=io.BufferedReader(raw, buffer_size=7),
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
        content_type=headers["Content-Type"],  # text/csv, no charset
        match=[matchers.query_param_matcher({"maxRecords": "50000"})],
    )
    pages = run(chunk_size=7)
    assert [len(p) for p in pages] == [4]
    names = [row["Name"] for row in pages[0]]
    assert names == C11_NAMES
    assert [n.encode("utf-8") for n in names] == [n.encode("utf-8") for n in C11_NAMES]
    assert [row["Id"] for row in pages[0]] == [f"001XX000000010{i}AAA" for i in range(1, 5)]
    # the body really arrived 7 bytes at a time, one read ending inside 'é'
    assert max(len(r) for r in raw.reads) == 7
    assert any(r.endswith(b"\xc3") for r in raw.reads)
    # ...and requests alone would have produced mojibake: the header has no charset
    assert responses.calls[-1].response.encoding == "ISO-8859-1"


@responses.activate
def test_bulk_query_sends_job_request_as_documented():
    add_job(responses.mock, "JobComplete")
    responses.get(
        RESULTS,
        body='"Id"\n"001A"\n',
        content_type="text/csv",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
    )
    assert run(
        soql="SELECT Id FROM Account",
        operation="queryAll",
        headers={"Sforce-Call-Options": "client=partnerkpi"},
    ) == [[{"Id": "001A"}]]
    create = responses.calls[0].request
    assert json.loads(create.body) == {
        "operation": "queryAll",
        "query": "SELECT Id FROM Account",
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    assert all(c.request.headers["Authorization"] == "Bearer 00DXX!token" for c in responses.calls)
    assert all(
        c.request.headers["Sforce-Call-Options"] == "client=partnerkpi" for c in responses.calls
    )


@responses.activate
def test_bulk_query_relationship_columns_and_nulls():
    body = (
        '"Id","Amount","Owner.Name","Partner_Account__r.Name","IsWon"\n'
        '"006A","25000.0","Rep One","Partner North Ltd","true"\n'
        '"006B","","Rep Two","","false"\n'
    )
    add_job(responses.mock, "JobComplete")
    responses.get(
        RESULTS,
        body=body.encode(),
        content_type="text/csv",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "2"},
    )
    assert run() == [
        [
            {
                "Id": "006A",
                "Amount": "25000.0",
                "Owner.Name": "Rep One",
                "Partner_Account__r.Name": "Partner North Ltd",
                "IsWon": "true",
            },
            {
                "Id": "006B",
                "Amount": None,
                "Owner.Name": "Rep Two",
                "Partner_Account__r.Name": None,
                "IsWon": "false",
            },
        ]
    ]


@responses.activate
def test_bulk_query_quoted_newlines_and_quotes_survive():
    body = '"Id","Description"\n"006A","line one\nline ""two"", with comma"\n'
    add_job(responses.mock, "JobComplete")
    responses.get(
        RESULTS,
        body=body.encode(),
        content_type="text/csv",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
    )
    assert run(chunk_size=5) == [
        [{"Id": "006A", "Description": 'line one\nline "two", with comma'}]
    ]


# -- job states ----------------------------------------------------------------------------


@responses.activate
def test_bulk_query_polls_until_job_complete_with_growing_interval():
    add_job(responses.mock, "InProgress", "InProgress", "InProgress", "JobComplete")
    responses.get(
        RESULTS,
        body='"Id"\n"001A"\n',
        content_type="text/csv",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
    )
    sleep = Recorder()
    assert run(sleep=sleep, poll_interval=1.0) == [[{"Id": "001A"}]]
    assert sleep.calls == [1.0, 2.0, 4.0, 8.0]  # UploadComplete + 3x InProgress
    assert [c.request.method for c in responses.calls] == ["POST"] + ["GET"] * 5


@responses.activate
def test_bulk_query_failed_job_raises_with_its_error_message():
    add_job(responses.mock, "InProgress", "Failed")
    with pytest.raises(FatalAPIError) as err:
        run()
    assert str(err.value) == (
        f"Bulk query job {JOB_ID} ended Failed: InvalidBatch : Failed to process query: "
        "OPERATION_TOO_LARGE: exceeded 100000 distinct ids"
    )
    assert not any(c.request.url.startswith(RESULTS) for c in responses.calls)


@responses.activate
def test_bulk_query_aborted_job_raises():
    add_job(responses.mock)
    responses.get(JOB, json=load("job-info-complete.json") | {"state": "Aborted"})
    with pytest.raises(FatalAPIError, match="ended Aborted: no errorMessage given"):
        run()


# -- retries and errors --------------------------------------------------------------------


@responses.activate
def test_bulk_query_429_then_success_waits_retry_after_with_recording_sleep():
    add_job(responses.mock, "JobComplete")
    responses.get(
        RESULTS,
        status=429,
        json=[{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        headers={"Retry-After": "7"},
    )
    responses.get(
        RESULTS,
        body='"Id"\n"001A"\n',
        content_type="text/csv",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
    )
    retry_sleep, poll_sleep = Recorder(), Recorder()
    assert run(policy=policy(retry_sleep), sleep=poll_sleep) == [[{"Id": "001A"}]]
    assert retry_sleep.calls == [7.0]  # Retry-After beats the 0.5 s backoff
    assert poll_sleep.calls == [1.0]


@responses.activate
def test_bulk_query_connection_error_and_503_are_retried():
    responses.post(JOBS, body=requests.ConnectionError("reset by peer"))
    responses.post(JOBS, status=503, json=[{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}])
    add_job(responses.mock, "JobComplete")
    responses.get(
        RESULTS,
        body='"Id"\n"001A"\n',
        content_type="text/csv",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
    )
    sleep = Recorder()
    assert run(policy=policy(sleep)) == [[{"Id": "001A"}]]
    assert sleep.calls == [0.5, 1.0]


@responses.activate
def test_bulk_query_gives_up_after_policy_attempts():
    add_job(responses.mock, "JobComplete")
    responses.get(RESULTS, status=500, json=[{"message": "boom", "errorCode": "UNKNOWN_EXCEPTION"}])
    with pytest.raises(RetriableAPIError, match="HTTP 500 UNKNOWN_EXCEPTION: boom"):
        run()
    assert sum(c.request.url.startswith(RESULTS) for c in responses.calls) == 3


@responses.activate
def test_bulk_query_short_page_is_refetched_with_the_same_locator():
    add_job(responses.mock, "JobComplete")
    headers = {"Sforce-Locator": "null", "Sforce-NumberOfRecords": "2"}
    responses.get(RESULTS, body='"Id"\n"001A"\n', content_type="text/csv", headers=headers)
    responses.get(RESULTS, body='"Id"\n"001A"\n"001B"\n', content_type="text/csv", headers=headers)
    assert run() == [[{"Id": "001A"}, {"Id": "001B"}]]


@pytest.mark.parametrize(
    ("status", "fixture", "error", "text"),
    [
        pytest.param(
            401,
            BULK / "error-invalid-session.json",
            AuthError,
            "HTTP 401 INVALID_SESSION_ID: Session expired or invalid",
            id="401-session",
        ),
        pytest.param(
            403,
            BULK / "error-request-limit.json",
            LimitReachedError,
            "HTTP 403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.",
            id="403-daily-limit",
        ),
        pytest.param(
            400,
            SAMPLES / "salesforce-error-malformed-id.json",
            FatalAPIError,
            "HTTP 400 MALFORMED_ID: Account ID: id value of incorrect type",
            id="400-malformed",
        ),
        pytest.param(
            404,
            SAMPLES / "salesforce-error-not-found.json",
            FatalAPIError,
            "HTTP 404 NOT_FOUND: The requested resource does not exist",
            id="404",
        ),
        pytest.param(
            400,
            BULK / "error-compound-field.json",
            FatalAPIError,
            "HTTP 400 API_ERROR: Selecting compound data not supported in Bulk Query",
            id="400-compound",
        ),
    ],
)
@responses.activate
def test_bulk_query_error_statuses_map_to_error_classes(status, fixture, error, text):
    responses.post(JOBS, status=status, json=json.loads(fixture.read_text(encoding="utf-8")))
    sleep = Recorder()
    with pytest.raises(error) as caught:
        run(policy=policy(sleep))
    assert text in str(caught.value)
    assert str(caught.value).startswith("Bulk query job create: ")
    assert caught.value.status == status
    assert sleep.calls == []  # never retried
    assert len(responses.calls) == 1


def test_bulk_query_rejects_bad_arguments_before_any_call():
    with pytest.raises(ValueError, match="operation"):
        bulk_query(
            session(),
            INSTANCE,
            "59.0",
            "SELECT Id FROM Account",
            operation="upsert",
            policy=policy(),
        )
    with pytest.raises(ValueError, match="max_records"):
        bulk_query(
            session(), INSTANCE, "59.0", "SELECT Id FROM Account", max_records=0, policy=policy()
        )


# -- locator paging ------------------------------------------------------------------------


@responses.activate
def test_bulk_query_follows_locators_over_three_pages():
    add_job(responses.mock, "JobComplete")
    pages = [
        (None, "MTAwMA", ["001A", "001B"]),
        ("MTAwMA", "MjAwMA", ["001C", "001D"]),
        ("MjAwMA", "null", ["001E"]),
    ]
    for locator, next_locator, ids in pages:
        params = {"maxRecords": "2"} | ({"locator": locator} if locator else {})
        responses.get(
            RESULTS,
            body=("Id\n" + "".join(f'"{i}"\n' for i in ids)).encode(),
            content_type="text/csv",
            headers={"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(ids))},
            match=[matchers.query_param_matcher(params)],
        )
    got = run(max_records=2)
    assert got == [
        [{"Id": "001A"}, {"Id": "001B"}],
        [{"Id": "001C"}, {"Id": "001D"}],
        [{"Id": "001E"}],
    ]


@responses.activate
def test_bulk_query_repeated_locator_is_an_error():
    add_job(responses.mock, "JobComplete")
    for _ in range(2):
        responses.get(
            RESULTS,
            body='"Id"\n"001A"\n',
            content_type="text/csv",
            headers={"Sforce-Locator": "MTAwMA", "Sforce-NumberOfRecords": "1"},
        )
    with pytest.raises(FatalAPIError, match="Sforce-Locator 'MTAwMA' repeated"):
        run()


@responses.activate
def test_bulk_query_empty_result_yields_nothing():
    add_job(responses.mock, "JobComplete")
    responses.get(
        RESULTS,
        body='"Id","Name"\n',
        content_type="text/csv",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "0"},
    )
    assert run() == []


@responses.activate
def test_bulk_query_page_without_locator_header_is_an_error():
    add_job(responses.mock, "JobComplete")
    responses.get(RESULTS, body='"Id"\n"001A"\n', content_type="text/csv")
    with pytest.raises(FatalAPIError, match="no Sforce-Locator header"):
        run()


@responses.activate
def test_bulk_query_non_utf8_body_is_an_error():
    add_job(responses.mock, "JobComplete")
    responses.get(
        RESULTS,
        body='"Id","Name"\n"001A","S\xe3o"\n'.encode("latin-1"),
        content_type="text/csv",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
    )
    with pytest.raises(FatalAPIError, match="not UTF-8"):
        run()


# -- compound fields (C-07) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param(
            "BillingAddress",
            [
                "BillingStreet",
                "BillingCity",
                "BillingState",
                "BillingPostalCode",
                "BillingCountry",
                "BillingLatitude",
                "BillingLongitude",
                "BillingGeocodeAccuracy",
            ],
            id="billing",
        ),
        pytest.param(
            "Account.BillingAddress",
            [
                "Account.BillingStreet",
                "Account.BillingCity",
                "Account.BillingState",
                "Account.BillingPostalCode",
                "Account.BillingCountry",
                "Account.BillingLatitude",
                "Account.BillingLongitude",
                "Account.BillingGeocodeAccuracy",
            ],
            id="parent-path",
        ),
        pytest.param(
            "shippingaddress",
            [
                "ShippingStreet",
                "ShippingCity",
                "ShippingState",
                "ShippingPostalCode",
                "ShippingCountry",
                "ShippingLatitude",
                "ShippingLongitude",
                "ShippingGeocodeAccuracy",
            ],
            id="case-insensitive",
        ),
        pytest.param(
            "Address",
            [
                "Street",
                "City",
                "State",
                "PostalCode",
                "Country",
                "Latitude",
                "Longitude",
                "GeocodeAccuracy",
            ],
            id="lead-address",
        ),
        pytest.param("BillingCity", ["BillingCity"], id="component-unchanged"),
        pytest.param("EmailAddress__c", ["EmailAddress__c"], id="custom-text-unchanged"),
        pytest.param("Owner.Name", ["Owner.Name"], id="relationship-unchanged"),
    ],
)
def test_compound_components(field, expected):
    assert compound_components(field) == expected


def test_bulk_soql_replaces_compound_fields_c07():
    fields = [
        "Id",
        "Amount",
        "Partner_Account__r.Name",
        "Owner.Name",
        "Account.BillingAddress",
        "Account.BillingCountry",
    ]
    assert bulk_soql(
        fields, "Opportunity", "SystemModstamp >= 2024-01-01T00:00:00Z", "SystemModstamp, Id"
    ) == (
        "SELECT Id, Amount, Partner_Account__r.Name, Owner.Name, Account.BillingStreet, "
        "Account.BillingCity, Account.BillingState, Account.BillingPostalCode, "
        "Account.BillingCountry, Account.BillingLatitude, Account.BillingLongitude, "
        "Account.BillingGeocodeAccuracy FROM Opportunity "
        "WHERE SystemModstamp >= 2024-01-01T00:00:00Z ORDER BY SystemModstamp, Id"
    )


def test_bulk_soql_custom_compound_from_describe():
    describe = [
        {"name": "Id"},
        {"name": "Loc__c"},
        {"name": "Loc__Latitude__s", "compoundFieldName": "Loc__c"},
        {"name": "Loc__Longitude__s", "compoundFieldName": "Loc__c"},
    ]
    compound = compound_from_describe(describe)
    assert compound == {"Loc__c": ["Loc__Latitude__s", "Loc__Longitude__s"]}
    assert bulk_soql(["Id", "loc__c"], "Site__c", compound=compound) == (
        "SELECT Id, Loc__Latitude__s, Loc__Longitude__s FROM Site__c"
    )


@pytest.mark.parametrize(
    ("fields", "sobject"),
    [
        pytest.param(["Id", "Name FROM User --"], "Account", id="field-injection"),
        pytest.param(["Id"], "Account WHERE", id="sobject-injection"),
        pytest.param([], "Account", id="no-fields"),
    ],
)
def test_bulk_soql_rejects_non_identifiers(fields, sobject):
    with pytest.raises(ConfigError):
        bulk_soql(fields, sobject)
