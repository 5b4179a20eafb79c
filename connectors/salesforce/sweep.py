"""Finding records Salesforce deleted for good: the periodic id sweep and ``getDeleted``.

Incremental pulls use ``queryAll``, which returns soft-deleted records (recycle bin) with
``IsDeleted = true``. Records hard-deleted, or purged from the recycle bin (after 15 days, or by
an administrator), never come back, not even through ``queryAll``. Two ways to notice them
(issue 4 item 3):

- :func:`get_deleted`: ``GET /services/data/vXX.X/sobjects/{Type}/deleted/?start=&end=``, the ids
  deleted in a window. Cheap, but the delete log only reaches back about 15 days ("Results are
  returned for no more than 15 days previous to the day the call is executed (or earlier if an
  administrator has purged the Recycle Bin)") and may be purged sooner; ``earliestDateAvailable``
  later than ``start`` means some deletes are no longer listed.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_get_deleted.htm
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getdeleted.htm
- :func:`sweep_ids`: compare every id the CRM still returns (``SELECT Id FROM <Type>`` through
  ``queryAll``, or Bulk for big objects) with the ids the store knows; run it when
  :func:`sweep_due` says so (config, default weekly). It catches everything, whatever its age.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connectors.errors import FatalAPIError
from connectors.http import RetryPolicy, call_with_retries
from connectors.salesforce.bulk import check_api_name
from connectors.salesforce.http import send
from connectors.values import parse_instant

__all__ = ["DeletedWindow", "get_deleted", "get_deleted_window", "id18", "sweep_due", "sweep_ids"]

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(record_id: str) -> str:
    """The 18-character, case-insensitive form of a Salesforce id (15-char ids get the suffix).

    The suffix encodes which of the 15 characters are upper case, five at a time (Salesforce
    "ID Field Type", SOAP API Developer Guide:
    https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/field_types.htm#i1435616).
    Anything that is not a 15-character alphanumeric id is returned unchanged.
    """
    if len(record_id) != 15 or not record_id.isalnum() or not record_id.isascii():
        return record_id
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, c in enumerate(record_id[start : start + 5]) if c.isupper())
        suffix += _ID_ALPHABET[bits]
    return record_id + suffix


def sweep_ids(
    fetch_all_ids: Callable[[], Iterable[str]],
    known_ids: Iterable[str],
    *,
    max_share: float = 0.5,
) -> list[str]:
    """The known ids Salesforce no longer returns: hard-deleted or purged records.

    ``known_ids`` is read completely **before** ``fetch_all_ids`` is called, so a record created
    (and synced) while the CRM ids are being fetched is never reported. Ids are compared in their
    18-character form (:func:`id18`), so a 15-character id from a report export matches its
    18-character API form.

    Args:
        fetch_all_ids: returns every id of the object the CRM still has, soft-deleted ones
            included (``SELECT Id FROM Opportunity`` through ``queryAll``, or a Bulk
            ``queryAll``), so that recycle-bin records, which the incremental pull already flags,
            are not counted as gone.
        known_ids: the ids the store holds for that object (not already flagged as gone).
        max_share: ratio 0..1; if more than this share of the known ids would be reported, the
            sweep refuses (an empty or wrong fetch must not wipe the store). ``1.0`` disables
            the check.

    Returns:
        The known ids absent from the CRM, each once, in the order and spelling of
        ``known_ids``.

    Raises:
        FatalAPIError: more than ``max_share`` of the known ids would be reported.
        Exception: whatever ``fetch_all_ids`` raises, unchanged.
    """
    known = list(dict.fromkeys(known_ids))
    if not known:
        return []
    live = {id18(i) for i in fetch_all_ids()}
    gone = [i for i in known if id18(i) not in live]
    if len(gone) > max_share * len(known):
        msg = (
            f"id sweep would mark {len(gone)} of {len(known)} known ids as deleted "
            f"({len(gone) / len(known):.0%} > max_share {max_share:.0%}); the id query probably "
            "returned too little (wrong object, missing permission); nothing marked"
        )
        raise FatalAPIError(msg)
    return gone


def sweep_due(
    last_sweep: datetime | None, now: datetime, every: timedelta = timedelta(days=7)
) -> bool:
    """Whether the periodic id sweep should run now.

    Args:
        last_sweep: when the last sweep finished (aware), or ``None`` if never.
        now: the current time (aware).
        every: the sweep period (config; default a week).

    Returns:
        True if there was no sweep yet or at least ``every`` has passed since ``last_sweep``;
        a ``last_sweep`` later than ``now`` (clock moved back) is treated as due, so a bad stamp
        cannot postpone sweeps forever.

    Raises:
        ValueError: a naive datetime (ambiguous), or ``every`` not positive.
    """
    if now.tzinfo is None or (last_sweep is not None and last_sweep.tzinfo is None):
        msg = "sweep_due needs timezone-aware datetimes"
        raise ValueError(msg)
    if every <= timedelta(0):
        msg = f"the sweep period must be positive, not {every}"
        raise ValueError(msg)
    if last_sweep is None or last_sweep > now:
        return True
    return now - last_sweep >= every


@dataclass(frozen=True)
class DeletedWindow:
    """One ``getDeleted`` answer.

    Attributes:
        ids: ids deleted in the window, in the order Salesforce listed them.
        deleted_at: id -> when it was deleted (UTC).
        earliest_available: ``earliestDateAvailable`` (UTC): deletes before it are no longer in
            the log; if it is later than the window's start, run :func:`sweep_ids`.
        latest_covered: ``latestDateCovered`` (UTC): start the next window here.
    """

    ids: list[str]
    deleted_at: dict[str, datetime]
    earliest_available: datetime | None
    latest_covered: datetime | None


def _api_datetime(value: datetime, name: str) -> str:
    """``2013-05-05T00:00:00+00:00``: ISO 8601 in UTC, the form the docs' example sends."""
    if value.tzinfo is None:
        msg = f"{name} must be timezone-aware"
        raise ValueError(msg)
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def get_deleted_window(
    session: requests.Session,
    instance_url: str,
    api_version: str,
    sobject: str,
    start: datetime,
    end: datetime,
    *,
    policy: RetryPolicy,
    headers: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    on_response: Callable[[requests.Response], None] | None = None,
) -> DeletedWindow:
    """``GET .../sobjects/{sobject}/deleted/?start=&end=`` with its window metadata.

    Args:
        session: carries ``Authorization: Bearer <token>`` and the CA bundle.
        instance_url: ``https://MyDomain.my.salesforce.com``.
        api_version: ``"60.0"`` (the resource exists from 29.0).
        sobject: the sObject API name, e.g. ``Opportunity``.
        start: window start (aware; sent as UTC ``YYYY-MM-DDThh:mm:ss+00:00``; Salesforce
            ignores the seconds). No more than about 15 days back (resources_getdeleted.htm);
            older windows give fewer ids or 400 ``INVALID_REPLICATION_DATE``.
        end: window end (aware), more than a minute after ``start``.
        policy: retry policy for 429 / 5xx / connection errors.
        headers: extra request headers.
        timeout: seconds for the connection and each read.
        on_response: told every HTTP response (e.g. to read ``Sforce-Limit-Info``).

    Returns:
        The ids and window metadata.

    Raises:
        ValueError: naive datetimes, or ``end`` not more than one minute after ``start``.
        ConfigError: ``sobject`` is not an API name.
        FatalAPIError: a 4xx (``INVALID_REPLICATION_DATE``, ``EXCEEDED_ID_LIMIT`` above 600,000
            ids: use a shorter window) or a body of the wrong shape.
        AuthError, LimitReachedError, RetriableAPIError: see
            :mod:`connectors.salesforce.http`.
    """
    params = {"start": _api_datetime(start, "start"), "end": _api_datetime(end, "end")}
    if end - start <= timedelta(minutes=1):
        # "The specified startDate must chronologically precede the specified endDate value by
        # more than one minute" (sforce_api_calls_getdeleted.htm).
        msg = f"getDeleted window {params['start']} .. {params['end']} must exceed one minute"
        raise ValueError(msg)
    check_api_name(sobject, "sObject")
    url = f"{instance_url.rstrip('/')}/services/data/v{api_version}/sobjects/{sobject}/deleted/"
    what = f"getDeleted {sobject} {params['start']} .. {params['end']}"

    def fetch() -> Any:
        response = send(
            session,
            "GET",
            url,
            what,
            params=params,
            headers=headers,
            timeout=timeout,
            on_response=on_response,
        )
        try:
            return response.json()
        except ValueError as exc:
            msg = f"{what}: the answer is not JSON"
            raise FatalAPIError(msg) from exc

    body = call_with_retries(fetch, policy)
    records = body.get("deletedRecords") if isinstance(body, dict) else None
    if not isinstance(records, list):
        msg = f"{what}: the answer has no deletedRecords list"
        raise FatalAPIError(msg)
    ids: list[str] = []
    deleted_at: dict[str, datetime] = {}
    for rec in records:
        rid = rec.get("id") if isinstance(rec, dict) else None
        if not rid:
            msg = f"{what}: a deletedRecords entry has no id: {rec!r}"
            raise FatalAPIError(msg)
        ids.append(str(rid))
        when = parse_instant(rec.get("deletedDate"))
        if when is not None:
            deleted_at[str(rid)] = when
    return DeletedWindow(
        ids,
        deleted_at,
        parse_instant(body.get("earliestDateAvailable")),
        parse_instant(body.get("latestDateCovered")),
    )


def get_deleted(
    session: requests.Session,
    instance_url: str,
    api_version: str,
    sobject: str,
    start: datetime,
    end: datetime,
    *,
    policy: RetryPolicy,
    headers: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    on_response: Callable[[requests.Response], None] | None = None,
) -> list[str]:
    """The ids of ``sobject`` records deleted between ``start`` and ``end``.

    See :func:`get_deleted_window` (same arguments and errors); this returns only its ``ids``.
    """
    return get_deleted_window(
        session,
        instance_url,
        api_version,
        sobject,
        start,
        end,
        policy=policy,
        headers=headers,
        timeout=timeout,
        on_response=on_response,
    ).ids
