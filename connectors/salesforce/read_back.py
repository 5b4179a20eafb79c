"""Read the write-back fields' current values from Salesforce before a push is planned.

``POST /services/data/vXX.X/composite/sobjects/{sObject}`` with ``{"ids": [...], "fields":
[...]}`` (sObject Collections retrieve with a request body) returns one record per id *in id
order*, ``null`` for an id the user cannot see or that does not exist; up to 2,000 ids a call.
https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-retrieve-post.html

Why not ``SELECT Id, <fields> FROM Account WHERE Id IN (...)``: a query travels in the URL, and
a REST call's URI and headers may hold 16,384 bytes (414 / 431 beyond; Salesforce recommends
2,000 characters), so an ``IN`` list holds about 500 quoted, URL-encoded 18-character ids
(https://help.salesforce.com/s/articleView?id=000386264): ``ceil(n / 500)`` queries. The
retrieve body carries 2,000 ids in one call, ``ceil(n / 2000)`` calls for n partners.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from connectors.errors import FatalAPIError
from connectors.http import call_with_retries
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.http import send, with_relogin

#: ids per sObject Collections retrieve call (the API's limit)
RETRIEVE_LIMIT = 2000


def read_values(
    client: SalesforceClient,
    crm_object: str,
    record_ids: Sequence[str],
    fields: Sequence[str],
    *,
    api_version: str,
    timeout: float,
    on_call: Callable[[], None] = lambda: None,
) -> dict[str, dict[str, Any]]:
    """``fields`` of ``record_ids`` as Salesforce holds them now.

    Args:
        client: the connector's client (its login, session and retry policy).
        crm_object: the sObject (``Account``).
        record_ids: the records (any number: sent 2,000 a call).
        fields: field API names as configured (matched to the answer case-insensitively).
        api_version: ``60.0``.
        timeout: seconds per request.
        on_call: told every request sent (retries included), to count them.

    Returns:
        record id -> field (as given) -> value (numbers as ``Decimal``, ``None`` when empty);
        ids Salesforce answers ``null`` for are absent.

    Raises:
        FatalAPIError: the answer is not one entry per id; see
            :func:`connectors.salesforce.http.send` for the error statuses.
    """
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(record_ids), RETRIEVE_LIMIT):
        chunk = list(record_ids[start:start + RETRIEVE_LIMIT])
        answer = _retrieve(client, crm_object, chunk, fields, api_version, timeout, on_call)
        if not isinstance(answer, list) or len(answer) != len(chunk):
            msg = (f"salesforce read {crm_object} fields: expected {len(chunk)} records in id "
                   "order, got another answer")
            raise FatalAPIError(msg)
        for record_id, record in zip(chunk, answer, strict=True):
            if isinstance(record, Mapping):
                by_lower = {str(k).lower(): v for k, v in record.items()}
                found[record_id] = {f: by_lower.get(f.lower()) for f in fields}
    return found


def _retrieve(client: SalesforceClient, crm_object: str, ids: list[str],
              fields: Sequence[str], api_version: str, timeout: float,
              on_call: Callable[[], None]) -> Any:
    _ = client.sf  # logs in on first use
    body = {"ids": ids, "fields": ["Id", *fields]}
    what = f"salesforce read {len(ids)} {crm_object} records"

    def once() -> Any:
        on_call()
        url = f"{client.instance_url}/services/data/v{api_version}/composite/sobjects/{crm_object}"
        response = send(client.session, "POST", url, what, json=body, timeout=timeout)
        return json.loads(response.content or b"null", parse_float=Decimal)

    return with_relogin(lambda: call_with_retries(once, client.policy), client.connect)
