"""The Salesforce REST client: simple-salesforce over our session, with retries, error classes,
the API allowance guard and query paging.

- Every request goes through one ``requests.Session`` (:func:`connectors.http.make_session`, TLS
  verified against ``ca_bundle``). A response hook reads ``Sforce-Limit-Info: api-usage=N/M`` on
  every response, errors and Bulk API calls included
  (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm).
- JSON numbers are parsed as ``Decimal`` (``parse_float=Decimal``): amounts never go through float.
- simple-salesforce is built from a session id (``auth_type = "direct"``), so it never logs in
  again on its own and never retries a ``nextRecordsUrl`` with a new session (case C-08): an
  expired session surfaces as :class:`SessionExpired` and the connector re-issues the query.
- Errors map to what the caller does: connection errors, timeouts and broken bodies ->
  :class:`RetriableAPIError` (retried here), but a certificate that does not verify or an
  unusable ``ca_bundle`` -> :class:`FatalAPIError` at once; an error status goes through the one
  table of :mod:`connectors.salesforce.http` (401 -> :class:`SessionExpired`, 400
  ``INVALID_QUERY_LOCATOR`` -> :class:`QueryLocatorLost`, 403 ``REQUEST_LIMIT_EXCEEDED`` ->
  :class:`LimitReachedError`, never retried: case C-09; 429 / 5xx retried; other 4xx fatal).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
)

from connectors.errors import (
    AuthError,
    ConfigError,
    FatalAPIError,
    LimitReachedError,
    RetriableAPIError,
)
from connectors.http import (
    RetryPolicy,
    call_with_retries,
    make_session,
    parse_retry_after,
    tls_error,
)
from connectors.paging import paginate
from connectors.salesforce.auth import Login, login
from connectors.salesforce.http import (
    QueryLocatorLost,
    SessionExpired,
    salesforce_error,
    send,
    with_relogin,
)
from connectors.salesforce.settings import SalesforceSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass
class ApiUsage:
    """API calls of this run and the org's daily allowance as last reported.

    Attributes:
        calls: requests this connector sent to ``/services/data`` (retries included).
        used: the org's calls used today (``Sforce-Limit-Info``), or None before the first answer.
        max: the org's daily allowance, or None before the first answer.
    """

    calls: int = 0
    used: int | None = None
    max: int | None = None

    @property
    def left(self) -> int | None:
        """Calls left in the daily allowance, or None when unknown."""
        return None if self.used is None or self.max is None else max(0, self.max - self.used)


def _errors(exc: SalesforceError) -> list[dict[str, Any]]:
    content = exc.content
    return [e for e in content if isinstance(e, dict)] if isinstance(content, list) else []


def _first_error(exc: SalesforceError) -> tuple[str, str]:
    errors = _errors(exc)
    if errors:
        return str(errors[0].get("errorCode", "")), str(errors[0].get("message", ""))
    return "", str(exc.content)[:200]


class SalesforceClient:
    """One logged-in connection to an org.

    Args:
        settings: ``sources.salesforce``.
        policy: retries for connection errors, timeouts and 5xx.
        secrets: values from the secrets file (fallback for missing environment variables).
        session: the HTTP session (default: :func:`make_session` with ``ca_bundle``).
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        policy: RetryPolicy,
        secrets: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.secrets = secrets
        self.session = session or make_session(
            str(settings.ca_bundle) if settings.ca_bundle else None
        )
        self.session.hooks["response"].append(self._on_response)
        self.usage = ApiUsage()
        self.logins = 0
        self._retry_after: float | None = None  # Retry-After of the last response, seconds
        self._sf: Salesforce | None = None
        self._login: Login | None = None
        self._versions: list[str] | None = None

    # -- session -------------------------------------------------------------------------------
    def _on_response(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        if "/services/data/v" in resp.url:  # the version list is free
            self.usage.calls += 1
        self._retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        match = _USAGE.search(resp.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.usage.used, self.usage.max = int(match.group(1)), int(match.group(2))

    def connect(self) -> None:
        """Log in (again) and build the simple-salesforce client on the session.

        Raises:
            AuthError: the credentials were refused, or an ``access_token`` cannot be renewed.
            ConfigError: a secret's environment variable is missing.
        """
        if self._login is not None and self.settings.auth == "access_token":
            msg = (
                "salesforce: the access token expired; set a new one in "
                f"{self.settings.access_token_env} or use another auth"
            )
            raise AuthError(msg)
        self._login = login(self.settings, self.session, policy=self.policy, secrets=self.secrets)
        self.logins += 1
        self._sf = Salesforce(
            instance_url=self._login.instance_url,
            session_id=self._login.access_token,
            session=self.session,
            version=self.settings.api_version,
            parse_float=Decimal,
            object_pairs_hook=None,  # plain dicts: its default OrderedDict costs ~40% of a parse
        )
        # the Bulk API path sends plain session requests: it needs the bearer token too
        self.session.headers["Authorization"] = f"Bearer {self._login.access_token}"

    @property
    def instance_url(self) -> str:
        """The org's base URL (after :meth:`connect`)."""
        assert self._login is not None
        return self._login.instance_url

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client (logs in on first use)."""
        if self._sf is None:
            self.connect()
        assert self._sf is not None
        return self._sf

    # -- calls -----------------------------------------------------------------------------------
    def check_allowance(self) -> None:
        """Stop before the configured share of the daily API allowance is used.

        Raises:
            LimitReachedError: ``used >= max_api_share x max`` as last reported.
        """
        u, share = self.usage, self.settings.max_api_share
        if u.used is not None and u.max and u.used >= int(share * u.max):
            msg = (
                f"salesforce: API limit reached: {u.used} of the org's {u.max} daily API calls "
                f"are used and max_api_share is {share:g}; stopped with the committed data "
                "kept; run sync again after the allowance recovers (24-hour rolling)"
            )
            raise LimitReachedError(msg)

    def relogin(self, what: str) -> None:
        """Log in again after ``what`` met an expired session (the re-login hook of
        :func:`connectors.salesforce.http.with_relogin`)."""
        log.warning("salesforce %s: the session expired; logging in again", what)
        self.connect()

    def call(self, what: str, fn: Callable[[Salesforce], T], *, relogin: bool = True) -> T:
        """Run one API request with retries and error mapping; an expired session logs in
        again once and re-sends the request (every call path: describe, queries, counts).

        Args:
            what: what the request is, for messages (e.g. ``query Opportunity``).
            fn: makes the request through the simple-salesforce client.
            relogin: log in again on an expired session and re-send; False for a
                ``nextRecordsUrl``, which a new session cannot resume (case C-08): the caller
                re-issues the query.

        Raises:
            LimitReachedError: the allowance share is used, or 403 ``REQUEST_LIMIT_EXCEEDED``.
            SessionExpired: 401 ``INVALID_SESSION_ID``.
            QueryLocatorLost: 400 ``INVALID_QUERY_LOCATOR``.
            RetriableAPIError: still failing after the policy's attempts.
            FatalAPIError: any other refusal.
        """

        def once() -> T:
            self.check_allowance()
            return self._once(what, fn)

        def on_retry(attempt: int, error: RetriableAPIError, wait: float) -> None:
            log.warning("%s; try %d again in %.1f s", error, attempt + 1, wait)

        if not relogin:
            return call_with_retries(once, self.policy, on_retry=on_retry)
        return with_relogin(lambda: call_with_retries(once, self.policy, on_retry=on_retry),
                            lambda: self.relogin(what))

    def versions(self) -> list[str]:
        """The API versions the org offers (``GET /services/data/``, no session needed; read
        once per client), oldest first, e.g. ``["31.0", ..., "66.0"]``.

        Raises:
            RetriableAPIError, FatalAPIError: the list cannot be read.
        """
        if self._versions is None:
            if self._sf is None:
                self.connect()
            url = f"{self.instance_url}/services/data/"

            def once() -> list[str]:
                resp = send(self.session, "GET", url, "salesforce versions",
                            timeout=self.settings.timeout_seconds)
                try:
                    body = resp.json()
                except ValueError as exc:
                    msg = "salesforce versions: the response body is not valid JSON"
                    raise RetriableAPIError(msg) from exc
                return sorted((str(v["version"]) for v in body if isinstance(v, dict)),
                              key=float)

            self._versions = call_with_retries(once, self.policy)
        return self._versions

    def _once(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        try:
            return fn(self.sf)
        except requests.exceptions.SSLError as exc:
            ca_bundle = self.settings.ca_bundle
            fatal = tls_error(f"salesforce {what}", exc, "login_url", ca_bundle)
            if fatal is not None:
                raise fatal from exc
            msg = f"salesforce {what}: {type(exc).__name__}"
            raise RetriableAPIError(msg) from exc
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            msg = f"salesforce {what}: {type(exc).__name__}"
            raise RetriableAPIError(msg) from exc
        except SalesforceError as exc:  # an error status: the one table decides its class
            code, text = _first_error(exc)
            limit = (f"salesforce: API limit reached: {what} refused with {code} ({text}); "
                     "stopped with the committed data kept; run sync again after the org's "
                     "24-hour allowance recovers")
            error = salesforce_error(f"salesforce {what}", exc.status, code, text,
                                     retry_after=self._retry_after, limit_message=limit)
            raise error from exc
        except ValueError as exc:  # a body cut short: not JSON
            msg = f"salesforce {what}: the response body is not valid JSON"
            raise RetriableAPIError(msg) from exc

    # -- resources -------------------------------------------------------------------------------
    def describe(self, sobject: str) -> dict[str, Any]:
        """``GET /sobjects/{sobject}/describe`` (fields with ``name``, ``type``, ``referenceTo``,
        ``relationshipName``).

        Raises:
            ConfigError: the org has no such sObject (or the user cannot see it).
        """
        try:
            body = self.call(
                f"describe {sobject}", lambda sf: sf.restful(f"sobjects/{sobject}/describe")
            )
        except FatalAPIError as exc:
            if exc.status == 404:
                msg = (f"salesforce: the org shows no sObject {sobject} (describe answered 404): "
                       "the integration user's profile or permission set lacks read access to "
                       "it, or the org does not have it")
                raise ConfigError(msg) from None
            raise
        return body or {}

    def query_pages(self, soql: str, what: str) -> Iterator[dict[str, Any]]:
        """The pages of ``queryAll`` for ``soql``, deleted records included.

        Paging asks two questions per page: more? (``done``) and where? (``nextRecordsUrl``);
        it never stops on a page's size (case C-01). ``batchSize`` asks for ``page_size`` rows;
        Salesforce may send fewer.

        Yields:
            Each response body: ``{"totalSize", "done", "records", ["nextRecordsUrl"]}``.

        Raises:
            FatalAPIError: ``done`` is missing or false without ``nextRecordsUrl``, or a
                ``nextRecordsUrl`` repeats.
            SessionExpired, QueryLocatorLost, LimitReachedError, RetriableAPIError: see
                :meth:`call`.
        """
        options = {"Sforce-Query-Options": f"batchSize={self.settings.page_size}"}
        timeout = self.settings.timeout_seconds

        def fetch(next_url: str | None) -> dict[str, Any]:
            if next_url is None:
                body = self.call(what, lambda sf: sf.query(
                    soql, include_deleted=True, headers=options, timeout=timeout))
            else:
                body = self.call(what, lambda sf: sf.query_more(
                    next_url, identifier_is_url=True, headers=options, timeout=timeout),
                    relogin=False)
            if not isinstance(body, dict) or not isinstance(body.get("done"), bool):
                msg = f"salesforce {what}: the query response has no done flag"
                raise FatalAPIError(msg)
            return body

        def next_records_url(body: dict[str, Any]) -> str | None:
            if body["done"]:
                return None
            next_url = body.get("nextRecordsUrl")
            if not next_url:
                msg = (
                    f"salesforce {what}: a page says done=false but has no nextRecordsUrl; "
                    "the result would be incomplete"
                )
                raise FatalAPIError(msg)
            return str(next_url)

        yield from paginate(fetch, next_records_url, f"salesforce {what}",
                            token_name="nextRecordsUrl")

    def query_records(self, soql: str, what: str) -> list[dict[str, Any]]:
        """Every record of ``queryAll`` for ``soql`` (a small object, an id list): the pages of
        :meth:`query_pages` collected; when the session expires or the cursor is lost between
        two pages, log in again (once) and read the query again from its start.

        Raises:
            SessionExpired, QueryLocatorLost: again after the one new start; see
                :meth:`query_pages` for the rest.
        """
        for attempt in (1, 2):
            records: list[dict[str, Any]] = []
            try:
                for body in self.query_pages(soql, what):
                    records.extend(body.get("records") or [])
                return records
            except (SessionExpired, QueryLocatorLost) as exc:
                if attempt == 2:
                    raise
                if isinstance(exc, SessionExpired):
                    self.relogin(what)
        raise AssertionError  # pragma: no cover (the loop returns or raises)
