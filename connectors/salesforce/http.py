"""The one Salesforce HTTP layer: send a request, map an error answer to its connector error
class through one table, log in again on an expired session.

Every Salesforce request goes through here: the REST calls (simple-salesforce raises its own
exceptions, whose status and body :meth:`SalesforceClient._once
<connectors.salesforce.client.SalesforceClient>` hands to :func:`salesforce_error`), the Bulk
API 2.0 job calls and the hard-delete sweep (:func:`send`), the OAuth token request
(:mod:`.auth`, through :func:`send`) and the write-back's sObject Collections calls (:mod:`.push`).

The table (:data:`ERROR_CLASSES`), from the REST API's status codes
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm):

========================================  =============================================
status (``errorCode``)                    error class: what the caller does
========================================  =============================================
429, 5xx                                  :class:`RetriableAPIError`: retry (``Retry-After``)
401                                       :class:`SessionExpired`: log in again, once
403 ``REQUEST_LIMIT_EXCEEDED``            :class:`LimitReachedError`: stop, state kept
400 ``INVALID_QUERY_LOCATOR``             :class:`QueryLocatorLost`: re-issue the query
410 (``GONE``)                            :class:`VersionRetired`: stop, never retried
any other 4xx                             :class:`FatalAPIError`: stop
========================================  =============================================

Every error raised carries ``status``, ``error_code`` and ``api_message``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests

from connectors.errors import (
    AuthError,
    ConnectorError,
    FatalAPIError,
    LimitReachedError,
    RetriableAPIError,
)
from connectors.http import parse_retry_after, tls_error

T = TypeVar("T")


class SessionExpired(AuthError):
    """401 ``INVALID_SESSION_ID``: log in again and re-issue the request (never a locator)."""


class QueryLocatorLost(FatalAPIError):
    """400 ``INVALID_QUERY_LOCATOR``: the cursor is gone; re-issue the query."""


class VersionRetired(FatalAPIError):
    """410: the API version in the URL is retired (case C-18); never retried."""


#: (status, errorCode or None for any) -> error class; the first match wins, 5xx and any other
#: 4xx are handled after it (see the module docstring).
ERROR_CLASSES: dict[tuple[int, str | None], type[ConnectorError]] = {
    (429, None): RetriableAPIError,
    (401, None): SessionExpired,
    (403, "REQUEST_LIMIT_EXCEEDED"): LimitReachedError,
    (400, "INVALID_QUERY_LOCATOR"): QueryLocatorLost,
    (410, None): VersionRetired,
}


def error_class(status: int, code: str) -> type[ConnectorError]:
    """The connector error class of an error answer (:data:`ERROR_CLASSES`)."""
    found = ERROR_CLASSES.get((status, code)) or ERROR_CLASSES.get((status, None))
    if found is not None:
        return found
    return RetriableAPIError if status >= 500 else FatalAPIError


def salesforce_error(
    what: str,
    status: int,
    code: str,
    message: str,
    *,
    retry_after: float | None = None,
    limit_message: str | None = None,
) -> ConnectorError:
    """The connector error for an error answer, with a one-line message.

    Args:
        what: what was being done (``salesforce query Opportunity``, ``Bulk query job 750...``).
        status: the HTTP status.
        code: Salesforce's ``errorCode`` (``""`` when the body has none).
        message: Salesforce's message.
        retry_after: seconds from ``Retry-After`` (retriable errors).
        limit_message: the line for an API-limit stop, when the caller words it (the REST
            client names the query); default: the answer's line and what to do.

    Returns:
        The error (not raised), its ``status``, ``error_code`` and ``api_message`` set.
    """
    cls = error_class(status, code)
    text = f"{what}: HTTP {status}{f' {code}' if code else ''}: {message}".replace("\n", " ")
    error: ConnectorError
    if cls is RetriableAPIError:
        error = RetriableAPIError(text, retry_after=retry_after)
    elif cls is LimitReachedError:
        error = LimitReachedError(limit_message or (
            f"{text} (the org's daily API allowance is used up; sync state is kept, run again"
            " after the allowance resets)"))
    elif cls is SessionExpired:
        error = SessionExpired(f"{text} (session expired or invalid: log in again)")
    elif cls is VersionRetired:
        error = VersionRetired(
            f"{text} (the API version is retired: set sources.salesforce.api_version to a "
            "version the org lists at GET /services/data/; partnerkpi check names the newest)")
    else:
        error = cls(text)
    error.status, error.error_code, error.api_message = status, code or None, message
    return error


def error_fields(response: requests.Response) -> tuple[str, str]:
    """``(errorCode, message)`` from a Salesforce error body (REST list, OAuth dict), else
    ``("", text)``."""
    try:
        body: Any = response.json()
    except ValueError:
        return "", (response.text or "").strip()[:200]
    first = body[0] if isinstance(body, list) and body else body
    if isinstance(first, dict):
        code = str(first.get("errorCode") or first.get("error") or "")
        message = str(first.get("message") or first.get("error_description") or "")
        return code, message
    return "", str(body)[:200]


def raise_for_salesforce_error(response: requests.Response, what: str) -> None:
    """Raise the connector error a non-2xx Salesforce answer calls for; return on 2xx.

    Args:
        response: the answer (its body is read only when it is an error).
        what: what was being done, for the message, e.g. ``"Bulk query job 750...: results"``.

    Raises:
        RetriableAPIError, SessionExpired, LimitReachedError, QueryLocatorLost, FatalAPIError:
            as :data:`ERROR_CLASSES` says.
    """
    if response.status_code < 400:
        return
    code, message = error_fields(response)
    raise salesforce_error(what, response.status_code, code, message,
                           retry_after=parse_retry_after(response.headers.get("Retry-After")))


def send(
    session: requests.Session,
    method: str,
    url: str,
    what: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    on_response: Callable[[requests.Response], None] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """One HTTP call with connection faults and error statuses mapped to connector errors.

    Args:
        session: carries ``Authorization: Bearer <token>`` (and the CA bundle).
        method: ``GET`` / ``POST`` / ...
        url: absolute URL.
        what: what is being done, for error messages.
        headers: extra request headers.
        timeout: seconds to wait for the connection and for each read.
        on_response: told every response (e.g. to read ``Sforce-Limit-Info``).
        **kwargs: passed to ``session.request`` (``json=``, ``data=``, ``params=``, ``stream=``).

    Returns:
        The 2xx response.

    Raises:
        RetriableAPIError: connection error, timeout, 429, 5xx.
        FatalAPIError: TLS cannot verify the host (certificate, ``ca_bundle``); see
            :func:`raise_for_salesforce_error` for the error statuses.
    """
    try:
        response = session.request(
            method, url, headers=dict(headers or {}), timeout=timeout, **kwargs
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        fatal = tls_error(what, exc, "login_url", session.verify)
        if fatal is not None:
            raise fatal from exc
        msg = f"{what}: {type(exc).__name__}: {exc}"
        raise RetriableAPIError(msg) from exc
    if on_response is not None:
        on_response(response)
    if response.status_code >= 400:
        try:
            raise_for_salesforce_error(response, what)
        finally:
            response.close()
    return response


def with_relogin(call: Callable[[], T], relogin: Callable[[], None]) -> T:
    """The re-login hook: run ``call``; when the session expired, log in again once and run it
    again (a second expiry right after a new login is raised).

    Raises:
        SessionExpired: the session expired again after the new login.
    """
    try:
        return call()
    except SessionExpired:
        relogin()
        return call()
