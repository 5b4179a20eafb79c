"""Bulk API 2.0 query: large loads as CSV result pages, decoded as UTF-8 (issue 4 item 4).

The flow (Bulk API 2.0 and Bulk API Developer Guide, "Bulk API 2.0 Query"):

1. Create the job, ``POST /services/data/vXX.X/jobs/query`` with ``{"operation": "query" |
   "queryAll", "query", "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}``;
   the answer is the job info in state ``UploadComplete``.
   https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_create_job.htm
2. Poll ``GET .../jobs/query/{jobId}`` until ``state`` is ``JobComplete``; ``UploadComplete`` and
   ``InProgress`` mean "not yet", ``Failed`` / ``Aborted`` are final (``errorMessage`` says why).
   https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_get_one_job.htm
   https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_bulk_v2/bulk_api_2_job_states.htm
3. Read ``GET .../jobs/query/{jobId}/results?maxRecords=N[&locator=L]`` page by page. Each page
   is a CSV document with its own header row; ``Sforce-NumberOfRecords`` is the number of records
   in the page and ``Sforce-Locator`` names the next page, the string ``"null"`` on the last one.
   A locator does not change while the job exists, so a page can be fetched again (this is what
   makes retrying a page whose download broke safe). Use the API version that created the job
   (else 409).
   https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_get_job_results.htm

Case C-11: the results are ``Content-Type: text/csv`` **without a charset** although the body is
UTF-8, so ``requests`` would decode them as ISO-8859-1 (``São`` -> ``SÃ£o``). The body is read as
bytes (``iter_content``) and decoded with an incremental UTF-8 decoder, so a chunk boundary inside
a multi-byte character never breaks a value.

Case C-07: Bulk queries cannot select compound fields (address, geolocation): "Compound data,
such as compound address fields, compound geolocation fields ... (Instead, query the individual
components of compound fields.)" (query_create_job.htm above). :func:`bulk_soql` replaces them by
their components (Compound Fields, SOAP API Developer Guide:
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/compound_fields_address.htm).

Errors follow REST's status codes and error bodies (``[{"errorCode", "message"}]``,
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm).
"""

from __future__ import annotations

import codecs
import csv
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import requests

from connectors.errors import ConfigError, FatalAPIError, RetriableAPIError
from connectors.http import RetryPolicy, call_with_retries
from connectors.paging import paginate
from connectors.salesforce.http import send

__all__ = [
    "ADDRESS_COMPONENTS",
    "STANDARD_ADDRESS_FIELDS",
    "bulk_query",
    "bulk_soql",
    "check_api_name",
    "compound_components",
    "compound_from_describe",
]

#: Components of a compound address field, in the order Salesforce lists them: ``BillingAddress``
#: -> ``BillingStreet`` ... ``BillingGeocodeAccuracy``. (``...StateCode`` / ``...CountryCode``
#: exist only with state and country picklists enabled; name them explicitly if you need them.)
ADDRESS_COMPONENTS = (
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "Latitude",
    "Longitude",
    "GeocodeAccuracy",
)

#: Standard compound address fields -> the prefix of their components (``Address`` is the
#: Lead / User / Contact-less form whose components have no prefix: ``Street``, ``City``, ...).
STANDARD_ADDRESS_FIELDS = {
    "address": "",
    "billingaddress": "Billing",
    "shippingaddress": "Shipping",
    "mailingaddress": "Mailing",
    "otheraddress": "Other",
    "personmailingaddress": "PersonMailing",
    "personotheraddress": "PersonOther",
}

_JOB_DONE = "JobComplete"
_JOB_PENDING = frozenset({"UploadComplete", "InProgress", "Open"})
_JOB_FINAL_BAD = frozenset({"Failed", "Aborted"})
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_MAX_POLL_INTERVAL = 30.0  # seconds; the poll interval doubles up to this
_CHUNK = 64 * 1024  # bytes read from the socket at a time

Row = dict[str, str | None]


# -- compound fields -----------------------------------------------------------------------


def compound_components(field: str) -> list[str]:
    """The component fields that replace a standard compound address field in a Bulk query.

    Args:
        field: a field path as written in SOQL, e.g. ``BillingAddress`` or
            ``Account.BillingAddress`` (matched case-insensitively, prefix kept as written).

    Returns:
        ``["BillingStreet", "BillingCity", "BillingState", "BillingPostalCode",
        "BillingCountry", "BillingLatitude", "BillingLongitude", "BillingGeocodeAccuracy"]`` for
        ``BillingAddress`` (``Account.BillingStreet``, ... for ``Account.BillingAddress``);
        ``[field]`` for a field that is not a standard compound address field. Custom compound
        fields (geolocation ``Loc__c`` -> ``Loc__Latitude__s``, ``Loc__Longitude__s``) cannot be
        told from their name: pass them to :func:`bulk_soql` through ``compound`` (see
        :func:`compound_from_describe`).
    """
    parent, _, leaf = field.rpartition(".")
    prefix = STANDARD_ADDRESS_FIELDS.get(leaf.lower())
    if prefix is None:
        return [field]
    head = f"{parent}." if parent else ""
    return [f"{head}{prefix}{part}" for part in ADDRESS_COMPONENTS]


def compound_from_describe(fields: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Compound field name -> its components, from an sObject describe's ``fields`` list.

    Every component carries ``compoundFieldName`` in the describe (``BillingCity`` ->
    ``BillingAddress``; ``Loc__Latitude__s`` -> ``Loc__c``): sObject Describe, REST API
    Developer Guide, https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm

    Args:
        fields: ``describe()["fields"]``: dicts with ``name`` and optional ``compoundFieldName``.

    Returns:
        ``{"BillingAddress": ["BillingStreet", ...]}`` in describe order.
    """
    out: dict[str, list[str]] = {}
    for f in fields:
        parent = f.get("compoundFieldName")
        if parent:
            out.setdefault(str(parent), []).append(str(f["name"]))
    return out


def check_api_name(name: str, what: str) -> str:
    """Return ``name`` if it is an API name or dotted path (``Owner.Name``); else ConfigError.

    Identifiers are never pasted into SOQL or URLs without this check (STYLE: one quoting
    helper for identifiers).
    """
    if not _IDENT.match(name):
        msg = f"{what} {name!r} is not a Salesforce API name (letters, digits, _ and . only)"
        raise ConfigError(msg)
    return name


def bulk_soql(
    fields: Sequence[str],
    sobject: str,
    where: str | None = None,
    order_by: str | None = None,
    *,
    compound: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A SOQL query the Bulk API accepts: compound fields replaced by their components (C-07).

    Args:
        fields: field paths as in REST SOQL (``Id``, ``Owner.Name``, ``Account.BillingAddress``).
        sobject: the sObject API name.
        where: the condition after ``WHERE``, already formatted with simple-salesforce's
            ``format_soql`` (values are never pasted in here).
        order_by: the ``ORDER BY`` list, e.g. ``"SystemModstamp, Id"``. The Bulk docs advise
            against ORDER BY on big queries (it disables PK chunking; query_create_job.htm).
        compound: extra compound fields of ``sobject`` -> their components, e.g. from
            :func:`compound_from_describe` (custom geolocation fields). Keys match the last part
            of a path case-insensitively; the path's parent prefix is kept.

    Returns:
        ``SELECT <fields> FROM <sobject>[ WHERE ...][ ORDER BY ...]`` with each field once, in
        the order given.

    Raises:
        ConfigError: a field or sObject name that is not an API name, or no fields.
    """
    extra = {k.lower(): list(v) for k, v in (compound or {}).items()}
    selected: dict[str, str] = {}  # lower-case -> as written (SOQL names are case-insensitive)
    for field in fields:
        check_api_name(field, "field")
        parent, _, leaf = field.rpartition(".")
        if leaf.lower() in extra:
            head = f"{parent}." if parent else ""
            parts = [f"{head}{c}" for c in extra[leaf.lower()]]
        else:
            parts = compound_components(field)
        for part in parts:
            selected.setdefault(part.lower(), part)
    if not selected:
        msg = f"no fields to select from {sobject}"
        raise ConfigError(msg)
    soql = f"SELECT {', '.join(selected.values())} FROM {check_api_name(sobject, 'sObject')}"
    if where:
        soql += f" WHERE {where}"
    if order_by:
        soql += f" ORDER BY {order_by}"
    return soql


# -- CSV decoding --------------------------------------------------------------------------


def iter_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    r"""UTF-8 text lines (each ending in ``\n`` but perhaps the last) from byte chunks.

    The decoder is incremental: a chunk that ends inside a multi-byte character keeps the
    partial bytes until the next chunk (case C-11). Only ``\n`` ends a line (``str.splitlines``
    would also split on U+2028, ``\x1c``, ... inside a value). A leading byte-order mark is
    dropped.

    Raises:
        UnicodeDecodeError: the bytes are not UTF-8.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    pending = ""
    for chunk in chunks:
        if not chunk:
            continue
        pending += decoder.decode(chunk)
        if "\n" in pending:
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def parse_csv(lines: Iterable[str]) -> list[Row]:
    """Rows of a Bulk CSV page (header row first) as dicts; ``""`` -> ``None``.

    Keys are the header's field paths as Salesforce wrote them (``Owner.Name`` stays dotted).
    Bulk CSV has no way to tell an empty string from null; both come back as ``None``.

    Raises:
        ValueError: a row has a different number of columns than the header.
    """
    reader = csv.reader(lines, delimiter=",", quotechar='"', strict=True)
    header = next(reader, None)
    if header is None:
        return []
    rows: list[Row] = []
    for n, values in enumerate(reader, start=2):
        if len(values) != len(header):
            msg = f"CSV record {n} has {len(values)} columns, the header {len(header)}"
            raise ValueError(msg)
        rows.append({k: (v if v != "" else None) for k, v in zip(header, values, strict=True)})
    return rows


# -- the query job -------------------------------------------------------------------------


def _job_info(response: requests.Response, what: str) -> dict[str, Any]:
    try:
        info = response.json()
    except ValueError as exc:
        msg = f"{what}: the answer is not JSON"
        raise FatalAPIError(msg) from exc
    if not isinstance(info, dict) or not info.get("id") or not info.get("state"):
        msg = f"{what}: the answer has no job id or state: {str(info)[:200]}"
        raise FatalAPIError(msg)
    return info


def bulk_query(
    session: requests.Session,
    instance_url: str,
    api_version: str,
    soql: str,
    *,
    operation: str = "queryAll",
    policy: RetryPolicy,
    max_records: int = 50000,
    poll_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    headers: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    chunk_size: int = _CHUNK,
    on_response: Callable[[requests.Response], None] | None = None,
) -> Iterator[list[Row]]:
    """Run a Bulk API 2.0 query job and yield its result pages as rows of text.

    Nothing is sent until the first page is asked for. Each request is retried through
    :func:`connectors.http.call_with_retries`; a result page is downloaded and parsed whole
    inside its retry, so a dropped download re-fetches the same page (same locator) and never
    yields half a page.

    Args:
        session: a session carrying ``Authorization: Bearer <token>`` (the caller sets it) and
            its CA bundle, e.g. from :func:`connectors.http.make_session`.
        instance_url: ``https://MyDomain.my.salesforce.com`` (no trailing path).
        api_version: ``"60.0"`` (results must be read with the version that created the job).
        soql: the query, with no compound fields (build it with :func:`bulk_soql`); no GROUP BY,
            OFFSET, TYPEOF, aggregates or parent-to-child subqueries (query_create_job.htm).
        operation: ``"queryAll"`` (deleted and merged records too, ``IsDeleted = true``) or
            ``"query"``.
        policy: retry policy for 429 / 5xx / connection errors.
        max_records: ``maxRecords`` per result page (records, not bytes).
        poll_interval: seconds before the first job-state poll; doubles after each poll up to
            30 s.
        sleep: the function that waits between polls (tests pass a recorder).
        headers: extra headers for every request (e.g. ``Authorization`` when the session does
            not carry it).
        timeout: seconds for the connection and for each socket read.
        chunk_size: bytes read from the response at a time.
        on_response: told every HTTP response (e.g. to read ``Sforce-Limit-Info``).

    Yields:
        One list per result page, in Salesforce's order: dicts from the SELECT's field paths as
        Salesforce writes them in the header (``Id``, ``Owner.Name``) to the value text, ``None``
        for empty (null) values. Values are text as Bulk writes them: dateTime
        ``2024-03-01T09:30:00.000Z``, date ``2024-03-11``, booleans ``true`` / ``false``,
        numbers as plain decimals. Empty pages are not yielded.

    Raises:
        ValueError: ``operation`` is not ``query`` / ``queryAll`` or ``max_records`` < 1.
        FatalAPIError: the job ended ``Failed`` / ``Aborted`` (with the job's ``errorMessage``),
            a 4xx such as ``MALFORMED_QUERY`` or ``API_ERROR`` (compound field), a repeated
            locator, a page missing ``Sforce-Locator`` or not UTF-8 CSV.
        SessionExpired: 401 ``INVALID_SESSION_ID`` (log in again and start over).
        LimitReachedError: 403 ``REQUEST_LIMIT_EXCEEDED``.
        RetriableAPIError: 429 / 5xx / connection errors after ``policy.attempts`` tries, or a
            page whose record count stayed different from ``Sforce-NumberOfRecords``.
    """
    if operation not in ("query", "queryAll"):
        msg = f"operation must be 'query' or 'queryAll', not {operation!r}"
        raise ValueError(msg)
    if max_records < 1:
        msg = f"max_records must be >= 1, not {max_records}"
        raise ValueError(msg)
    return _run_job(
        session,
        f"{instance_url.rstrip('/')}/services/data/v{api_version}/jobs/query",
        soql,
        operation,
        policy=policy,
        max_records=max_records,
        poll_interval=poll_interval,
        sleep=sleep,
        headers=headers,
        timeout=timeout,
        chunk_size=chunk_size,
        on_response=on_response,
    )


def _run_job(
    session: requests.Session,
    jobs_url: str,
    soql: str,
    operation: str,
    *,
    policy: RetryPolicy,
    max_records: int,
    poll_interval: float,
    sleep: Callable[[float], None],
    headers: Mapping[str, str] | None,
    timeout: float,
    chunk_size: int,
    on_response: Callable[[requests.Response], None] | None,
) -> Iterator[list[Row]]:
    def call(method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        return send(
            session,
            method,
            url,
            what,
            headers=headers,
            timeout=timeout,
            on_response=on_response,
            **kwargs,
        )

    body = {
        "operation": operation,
        "query": soql,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    # Creating a job is not idempotent: a retried POST after a lost answer may leave an orphan
    # job behind, which Salesforce deletes on its own after 7 days. That is accepted.
    created = call_with_retries(
        lambda: _job_info(
            call("POST", jobs_url, "Bulk query job create", json=body), "Bulk query job create"
        ),
        policy,
    )
    job_id = str(created["id"])
    job_url = f"{jobs_url}/{job_id}"
    what = f"Bulk query job {job_id}"

    state, info, wait = str(created["state"]), created, poll_interval
    while state != _JOB_DONE:
        if state in _JOB_FINAL_BAD:
            msg = f"{what} ended {state}: {info.get('errorMessage') or 'no errorMessage given'}"
            raise FatalAPIError(msg)
        if state not in _JOB_PENDING:
            msg = f"{what}: unknown job state {state!r}"
            raise FatalAPIError(msg)
        sleep(wait)
        wait = min(wait * 2, max(poll_interval, _MAX_POLL_INTERVAL))
        info = call_with_retries(lambda: _job_info(call("GET", job_url, what), what), policy)
        state = str(info["state"])

    results_url = f"{job_url}/results"
    pages = 0

    def fetch(locator: str | None) -> tuple[list[Row], str]:
        nonlocal pages
        pages += 1
        params = {"maxRecords": str(max_records)}
        if locator is not None:
            params["locator"] = locator
        page_what = f"{what}: results page {pages}"

        def once() -> tuple[list[Row], str]:
            response = call("GET", results_url, page_what, params=params, stream=True)
            return _read_page(response, page_what, chunk_size)

        return call_with_retries(once, policy)

    def next_locator(page: tuple[list[Row], str]) -> str | None:
        return None if page[1] == "null" else page[1]

    for rows, _ in paginate(fetch, next_locator, what, token_name="Sforce-Locator"):
        if rows:
            yield rows


def _read_page(response: requests.Response, what: str, chunk_size: int) -> tuple[list[Row], str]:
    """Download, decode (UTF-8 whatever the Content-Type says) and parse one result page."""
    with response:
        next_locator = response.headers.get("Sforce-Locator")
        if not next_locator:
            msg = f"{what}: the answer has no Sforce-Locator header"
            raise FatalAPIError(msg)
        try:
            rows = parse_csv(iter_lines(response.iter_content(chunk_size=chunk_size)))
        except UnicodeDecodeError as exc:
            msg = f"{what}: the body is not UTF-8 (byte {exc.start} of a chunk: {exc.reason})"
            raise FatalAPIError(msg) from exc
        except (csv.Error, ValueError) as exc:
            msg = f"{what}: the body is not well-formed CSV: {exc}"
            raise FatalAPIError(msg) from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            msg = f"{what}: the download broke: {exc}"
            raise RetriableAPIError(msg) from exc
    expected = response.headers.get("Sforce-NumberOfRecords")
    if expected is not None and expected.isdigit() and int(expected) != len(rows):
        msg = f"{what}: {len(rows)} records read, Sforce-NumberOfRecords says {expected}"
        raise RetriableAPIError(msg)
    return rows, next_locator
