"""The hard-delete id sweep and getDeleted (connectors/salesforce/sweep.py), without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import responses
from responses import matchers

from connectors.errors import FatalAPIError
from connectors.http import RetryPolicy, make_session
from connectors.salesforce.sweep import (
    get_deleted,
    get_deleted_window,
    id18,
    sweep_due,
    sweep_ids,
)

SAMPLES = Path(__file__).resolve().parents[4] / "fixtures" / "api-samples"
INSTANCE = "https://example.my.salesforce.com"
NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("crm", "known", "expected"),
    [
        pytest.param(["A", "B", "C"], ["A", "B", "C"], [], id="nothing-gone"),
        pytest.param(["A", "C", "D", "E"], ["C", "B", "A", "F"], ["B", "F"], id="two-gone"),
        pytest.param(["A", "B"], [], [], id="nothing-known"),
        pytest.param(["A", "B", "X"], ["B", "B", "A", "Z"], ["Z"], id="duplicates-once"),
        pytest.param(
            ["0014S000007NxgWQAS"],
            ["0014S000007NxgW", "0014S000007NxgX"],
            ["0014S000007NxgX"],
            id="15-char-known-matches-18-char",
        ),
    ],
)
def test_sweep_ids_exact_outputs(crm, known, expected):
    assert sweep_ids(lambda: iter(crm), iter(known), max_share=1.0) == expected


def test_sweep_ids_reads_known_ids_before_fetching():
    order: list[str] = []

    def known():
        order.append("known")
        yield from ["A", "B"]

    def fetch():
        order.append("fetch")
        return ["A"]

    assert sweep_ids(fetch, known(), max_share=1.0) == ["B"]
    assert order == ["known", "fetch"]


def test_sweep_ids_refuses_to_wipe_the_store():
    with pytest.raises(FatalAPIError, match="would mark 3 of 4 known ids as deleted"):
        sweep_ids(lambda: ["A"], ["A", "B", "C", "D"])
    assert sweep_ids(lambda: ["A", "B"], ["A", "B", "C", "D"]) == ["C", "D"]  # 50% is allowed


def test_sweep_ids_does_not_call_crm_when_nothing_is_known():
    def fetch():
        raise AssertionError

    assert sweep_ids(fetch, []) == []


@pytest.mark.parametrize(
    ("short", "long"),
    [
        # real ids: the getDeleted docs example and the recorded Account of ../api-samples
        pytest.param("a00D0000008pQRA", "a00D0000008pQRAIA2", id="docs-getdeleted"),
        pytest.param("0014S000007NxgW", "0014S000007NxgWQAS", id="recorded-account"),
        pytest.param("001000000000000", "001000000000000AAA", id="digits"),
        pytest.param("0014S000007NxgWQAS", "0014S000007NxgWQAS", id="already-18"),
        pytest.param("not-an-id", "not-an-id", id="not-an-id"),
    ],
)
def test_id18(short, long):
    assert id18(short) == long


@pytest.mark.parametrize(
    ("last", "now", "every", "due"),
    [
        pytest.param(None, NOW, timedelta(days=7), True, id="never-swept"),
        pytest.param(NOW - timedelta(days=7), NOW, timedelta(days=7), True, id="exactly-a-week"),
        pytest.param(
            NOW - timedelta(days=6, hours=23), NOW, timedelta(days=7), False, id="not-yet"
        ),
        pytest.param(NOW - timedelta(hours=2), NOW, timedelta(hours=1), True, id="hourly"),
        pytest.param(NOW + timedelta(days=1), NOW, timedelta(days=7), True, id="future-stamp"),
        pytest.param(
            datetime(2024, 5, 25, 12, 0, tzinfo=timezone(timedelta(hours=2))),
            NOW,
            timedelta(days=7),
            True,
            id="other-offset",
        ),
    ],
)
def test_sweep_due(last, now, every, due):
    assert sweep_due(last, now, every) is due


def test_sweep_due_rejects_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        sweep_due(None, datetime(2024, 6, 1))  # noqa: DTZ001


@responses.activate
def test_get_deleted_docs_example_and_date_format():
    body = json.loads((SAMPLES / "salesforce-getdeleted-response.json").read_text())
    responses.get(
        f"{INSTANCE}/services/data/v60.0/sobjects/Merchandise__c/deleted/",
        json=body,
        match=[
            matchers.query_param_matcher(
                {"start": "2013-05-05T00:00:00+00:00", "end": "2013-05-10T00:00:00+00:00"}
            )
        ],
    )
    session = make_session()
    start = datetime(2013, 5, 5, 2, 0, tzinfo=timezone(timedelta(hours=2)))  # = 00:00 UTC
    end = datetime(2013, 5, 10, tzinfo=UTC)
    policy = RetryPolicy(attempts=1)
    assert get_deleted(session, INSTANCE, "60.0", "Merchandise__c", start, end, policy=policy) == [
        "a00D0000008pQRAIA2"
    ]
    # the query string is percent-encoded as on the docs page (dome_get_deleted.htm)
    assert responses.calls[0].request.url.endswith(
        "?start=2013-05-05T00%3A00%3A00%2B00%3A00&end=2013-05-10T00%3A00%3A00%2B00%3A00"
    )
    window = get_deleted_window(
        session, INSTANCE, "60.0", "Merchandise__c", start, end, policy=policy
    )
    assert window.deleted_at == {"a00D0000008pQRAIA2": datetime(2013, 5, 7, 22, 7, 19, tzinfo=UTC)}
    assert window.earliest_available == datetime(2013, 5, 3, 15, 57, tzinfo=UTC)
    assert window.latest_covered == datetime(2013, 5, 8, 21, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        pytest.param(NOW, NOW + timedelta(minutes=1), "must exceed one minute", id="one-minute"),
        pytest.param(NOW, NOW - timedelta(days=1), "must exceed one minute", id="reversed"),
        pytest.param(datetime(2024, 6, 1), NOW, "timezone-aware", id="naive"),  # noqa: DTZ001
    ],
)
def test_get_deleted_rejects_bad_windows_before_calling(start, end, text):
    with pytest.raises(ValueError, match=text):
        get_deleted(
            make_session(),
            INSTANCE,
            "60.0",
            "Opportunity",
            start,
            end,
            policy=RetryPolicy(attempts=1),
        )


@responses.activate
def test_get_deleted_replication_date_error_is_fatal():
    responses.get(
        f"{INSTANCE}/services/data/v60.0/sobjects/Opportunity/deleted/",
        status=400,
        json=[
            {
                "message": "startDate before earliestDateAvailable",
                "errorCode": "INVALID_REPLICATION_DATE",
            }
        ],
    )
    with pytest.raises(FatalAPIError, match="HTTP 400 INVALID_REPLICATION_DATE"):
        get_deleted(
            make_session(),
            INSTANCE,
            "60.0",
            "Opportunity",
            NOW - timedelta(days=40),
            NOW,
            policy=RetryPolicy(attempts=1),
        )
