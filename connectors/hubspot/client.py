"""Raw HubSpot calls through hubspot-api-client, with our retries, pacing and usage counts.

Every call goes through the official client (its ``host`` and ``ssl_ca_cert`` set from the
settings) with ``_preload_content=False``: the client sends the request and hands back the
urllib3 response, whose body we parse with ``json.loads``. Its model objects cost about 3.5x a
plain parse on large pages (``bench/hubspot_pull.py`` measures both).

urllib3's own retries are off (``retries=False``): its default ``Retry`` leaves out POST, the
method of every search and batch read (case C-09). Instead each call runs under
:func:`connectors.http.call_with_retries`:

- 429 (any method): ``Retry-After`` when present, else by the policy named in the body
  (``TEN_SECONDLY_ROLLING`` -> wait out 10 s, ``SECONDLY`` -> 1 s); ``DAILY`` raises
  :class:`LimitReachedError` at once (the sync stops, state kept).
  https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines
- 5xx, timeouts, dropped connections and cut-off bodies: retried with backoff.
- A certificate that does not verify or an unusable ``ca_bundle``: :class:`FatalAPIError` at
  once, one line naming the host and the CA bundle.
- 401 -> :class:`AuthError`; other 4xx -> :class:`FatalAPIError`.

Search calls are paced under the search limit (4 per second per token). The
``X-HubSpot-RateLimit-*`` headers of each response are kept in :class:`Usage`; when the
ten-second window is used up the next call waits it out first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from hubspot import HubSpot

from connectors.errors import (
    AuthError,
    ConnectorError,
    FatalAPIError,
    LimitReachedError,
    RetriableAPIError,
)
from connectors.http import (
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
    tls_error,
    tls_hint,
)
from connectors.hubspot.settings import HubSpotSettings
from connectors.secrets import load_secrets_file, resolve_secret

#: Seconds to wait after a 429 without Retry-After, by the policy named in its body.
POLICY_WAITS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}


@dataclass
class Usage:
    """API calls made and the last rate-limit headers seen.

    Attributes:
        calls: HTTP requests sent (retries included).
        retries: requests that were retried.
        daily_limit / daily_remaining: ``X-HubSpot-RateLimit-Daily[-Remaining]``.
        interval_remaining: ``X-HubSpot-RateLimit-Remaining`` (calls left in the window).
        interval_ms: ``X-HubSpot-RateLimit-Interval-Milliseconds``.
        waits: seconds waited (retries, pacing, exhausted windows), as asked of ``sleep``.
    """

    calls: int = 0
    retries: int = 0
    daily_limit: int | None = None
    daily_remaining: int | None = None
    interval_remaining: int | None = None
    interval_ms: int | None = None
    waits: float = 0.0

    def read_headers(self, headers: Any) -> None:
        """Keep the ``X-HubSpot-RateLimit-*`` values of one response (absent ones unchanged)."""
        for name, attr in (
            ("X-HubSpot-RateLimit-Daily", "daily_limit"),
            ("X-HubSpot-RateLimit-Daily-Remaining", "daily_remaining"),
            ("X-HubSpot-RateLimit-Remaining", "interval_remaining"),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", "interval_ms"),
        ):
            value = headers.get(name) if headers is not None else None
            if value is not None and str(value).strip().lstrip("-").isdigit():
                setattr(self, attr, int(value))


class HubSpotClient:
    """The HubSpot endpoints the connector reads, as plain JSON.

    Args:
        token: the private-app access token.
        host: API base URL, e.g. ``https://api.hubapi.com``.
        ca_bundle: PEM file of CAs to trust, or None for the system store.
        policy: retry policy; its ``sleep`` is also used for pacing (tests pass a recorder).
        search_per_second: search calls allowed per second.
        timeout: per-request timeout, seconds.
        monotonic: the clock pacing is measured on.
    """

    def __init__(
        self,
        token: str,
        host: str,
        ca_bundle: str | None,
        policy: RetryPolicy,
        *,
        search_per_second: float = 4.0,
        timeout: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        config: dict[str, Any] = {"access_token": token, "host": host, "retry": False}
        if ca_bundle:
            config["ssl_ca_cert"] = ca_bundle
        hs = HubSpot(**config)
        self._token = token  # a secret: only for the token-info call, never shown
        self.host = host
        self.ca_bundle = ca_bundle
        self.policy = policy
        self.usage = Usage()
        self.timeout = timeout
        self._interval = 1.0 / search_per_second
        self._monotonic = monotonic
        self._last_search: float | None = None
        self._deals_search = hs.crm.deals.search_api
        self._deals_batch = hs.crm.deals.batch_api
        self._deals_basic = hs.crm.deals.basic_api
        self._companies_search = hs.crm.companies.search_api
        self._companies_batch = hs.crm.companies.batch_api
        self._owners = hs.crm.owners.owners_api
        self._goals = hs.crm.objects.goals.basic_api
        self._pipelines = hs.crm.pipelines.pipelines_api
        self._assoc = hs.crm.associations.v4.batch_api
        self._companies_update = hs.crm.companies.batch_api.update
        self._properties = hs.crm.properties.core_api
        self._groups = hs.crm.properties.groups_api
        #: ``batch/update`` requests sent (retries included)
        self.write_calls = 0

    @classmethod
    def from_settings(
        cls,
        settings: HubSpotSettings,
        policy: RetryPolicy | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> HubSpotClient:
        """The client of ``sources.hubspot``: its token (from the environment or the secrets
        file), host, CA bundle, search pacing and timeout.

        Raises:
            ConfigError: the token's environment variable is not set.
        """
        token = resolve_secret(settings.token_env, "sources.hubspot.token_env",
                               load_secrets_file(settings.secrets_file,
                                                 "sources.hubspot.secrets_file"))
        return cls(
            token, settings.host, str(settings.ca_bundle) if settings.ca_bundle else None,
            policy or RetryPolicy(attempts=settings.retry_attempts),
            search_per_second=settings.search_requests_per_second,
            timeout=settings.timeout_seconds, monotonic=monotonic,
        )

    # -- endpoints -------------------------------------------------------------------------
    def search_deals(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/objects/deals/search`` (paced).

        https://developers.hubspot.com/docs/api-reference/crm-deals-v3/search/post-crm-v3-objects-deals-search
        """
        return self._call("POST /crm/v3/objects/deals/search", self._deals_search.do_search,
                          body, search=True)

    def search_companies(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/objects/companies/search`` (paced)."""
        return self._call("POST /crm/v3/objects/companies/search",
                          self._companies_search.do_search, body, search=True)

    def read_deals(self, ids: list[str], properties: list[str],
                   history: list[str] | None = None) -> dict[str, Any]:
        """``POST /crm/v3/objects/deals/batch/read`` (at most 100 ids; 50 with history).

        https://developers.hubspot.com/docs/api-reference/crm-deals-v3/batch/post-crm-v3-objects-deals-batch-read
        """
        body: dict[str, Any] = {"inputs": [{"id": i} for i in ids], "properties": properties}
        if history:
            body["propertiesWithHistory"] = history
        return self._call("POST /crm/v3/objects/deals/batch/read", self._deals_batch.read, body)

    def read_companies(self, ids: list[str], properties: list[str]) -> dict[str, Any]:
        """``POST /crm/v3/objects/companies/batch/read`` (at most 100 ids)."""
        body = {"inputs": [{"id": i} for i in ids], "properties": properties}
        return self._call("POST /crm/v3/objects/companies/batch/read",
                          self._companies_batch.read, body)

    def list_deals(self, *, archived: bool, after: str | None, properties: list[str],
                   limit: int = 100, history: list[str] | None = None) -> dict[str, Any]:
        """``GET /crm/v3/objects/deals`` (id order, cursor ``after``; ``archived=true`` for
        archived deals; ``history``: ``propertiesWithHistory``, which lowers the page's limit
        to 50).

        https://developers.hubspot.com/docs/api-reference/crm-deals-v3/basic/get-crm-v3-objects-deals
        """
        kwargs: dict[str, Any] = {"limit": limit, "archived": archived, "properties": properties}
        if history:
            kwargs["properties_with_history"] = history
        if after:
            kwargs["after"] = after
        return self._call("GET /crm/v3/objects/deals", self._deals_basic.get_page, **kwargs)

    def owners(self, *, archived: bool, after: str | None = None) -> dict[str, Any]:
        """``GET /crm/v3/owners`` (500 per page).

        https://developers.hubspot.com/docs/api-reference/crm-owners-v3/guide
        """
        kwargs: dict[str, Any] = {"limit": 500, "archived": archived}
        if after:
            kwargs["after"] = after
        return self._call("GET /crm/v3/owners", self._owners.get_page, **kwargs)

    def goal_targets(self, *, after: str | None, properties: list[str]) -> dict[str, Any]:
        """``GET /crm/v3/objects/goal_targets`` (100 per page, cursor ``after``).

        https://developers.hubspot.com/docs/api-reference/latest/crm/objects/goals/guide
        """
        kwargs: dict[str, Any] = {"limit": 100, "properties": properties, "archived": False}
        if after:
            kwargs["after"] = after
        return self._call("GET /crm/v3/objects/goal_targets", self._goals.get_page, **kwargs)

    def deal_pipelines(self) -> dict[str, Any]:
        """``GET /crm/v3/pipelines/deals``.

        https://developers.hubspot.com/docs/api-reference/crm-pipelines-v3/guide
        """
        return self._call("GET /crm/v3/pipelines/deals", self._pipelines.get_all, "deals")

    def deal_companies(self, ids: list[str]) -> dict[str, Any]:
        """``POST /crm/v4/associations/deals/companies/batch/read`` (at most 1,000 ids since
        2025-02-10: https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api).
        A deal without companies comes back in ``errors`` (HTTP 207), not as an empty result.

        https://developers.hubspot.com/docs/api-reference/crm-associations-v4/batch/post-crm-v4-associations-fromObjectType-toObjectType-batch-read
        """
        body = {"inputs": [{"id": i} for i in ids]}
        return self._call("POST /crm/v4/associations/deals/companies/batch/read",
                          self._assoc.get_page, "deals", "companies", body)

    def account_details(self) -> dict[str, Any]:
        """``GET /account-info/v3/details``: ``timeZone``, ``companyCurrency``, ...

        hubspot-api-client 12 has no API class for it: the call goes through a generated
        ``ApiClient`` (same host, CA bundle, token and retries).
        https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
        """
        api_client = self._owners.api_client

        def details(**kwargs: Any) -> Any:
            return api_client.call_api("/account-info/v3/details", "GET", auth_settings=["oauth2"],
                                       header_params={"Accept": "application/json"}, **kwargs)

        return self._call("GET /account-info/v3/details", details)

    def token_info(self) -> dict[str, Any]:
        """``GET /oauth/v1/access-tokens/{token}``: the token's ``scopes``, ``hub_id``, ``user``
        (https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth/get-access-token-info);
        the token itself is never part of a message (``what`` says ``<token>``).
        """
        api_client = self._owners.api_client

        def info(**kwargs: Any) -> Any:
            return api_client.call_api("/oauth/v1/access-tokens/{token}", "GET",
                                       path_params={"token": self._token},
                                       header_params={"Accept": "application/json"}, **kwargs)

        return self._call("GET /oauth/v1/access-tokens/<token>", info)

    def properties(self, object_type: str) -> dict[str, Any]:
        """``GET /crm/v3/properties/{object_type}``: every property of the object."""
        return self._call(f"GET /crm/v3/properties/{object_type}", self._properties.get_all,
                          object_type)

    # -- write-back endpoints (connectors.hubspot.push) -------------------------------------
    def _counted(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.write_calls += 1
            return method(*args, **kwargs)
        return call

    def company_properties(self) -> dict[str, Any]:
        """``GET /crm/v3/properties/companies``."""
        return self._call("GET /crm/v3/properties/companies", self._properties.get_all,
                          "companies")

    def create_company_property(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/properties/companies``."""
        return self._call("POST /crm/v3/properties/companies", self._properties.create,
                          "companies", body)

    def create_company_group(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/properties/companies/groups``."""
        return self._call("POST /crm/v3/properties/companies/groups", self._groups.create,
                          "companies", body)

    def update_companies(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/objects/companies/batch/update`` (counted in ``write_calls``)."""
        return self._call("POST /crm/v3/objects/companies/batch/update",
                          self._counted(self._companies_update), body)

    # -- one call ----------------------------------------------------------------------------
    def _call(self, what: str, method: Callable[..., Any], *args: Any, search: bool = False,
              **kwargs: Any) -> dict[str, Any]:
        attempts = 0

        def once() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                self.usage.retries += 1
            self._pace(search)
            self.usage.calls += 1
            try:
                response = method(*args, _preload_content=False,
                                  _request_timeout=self.timeout, **kwargs)
                data = response.data
            except urllib3.exceptions.HTTPError as exc:
                raise self._connection_error(what, exc) from None
            except Exception as exc:
                api = _api_exception(exc)
                if api is None:
                    raise
                if api.status == 0:  # no HTTP response: TLS (the library catches SSLError)
                    raise self._connection_error(what, api) from None
                headers = getattr(api, "headers", None)
                self.usage.read_headers(headers)
                raise _api_error(what, api.status, headers or {},
                                 getattr(api, "body", None)) from None
            self.usage.read_headers(response.headers)
            try:
                return json.loads(data)
            except ValueError:
                msg = f"HubSpot {what}: response body is not JSON (cut off?)"
                raise RetriableAPIError(msg) from None

        return call_with_retries(once, self.policy)

    def _connection_error(self, what: str, exc: BaseException) -> Exception:
        """The one-line error of a request that got no HTTP response: fatal when TLS cannot
        verify the host (a wrong or missing ``ca_bundle`` stays wrong), else retried."""
        fatal = tls_error(f"HubSpot {what}", exc, f"host {self.host}", self.ca_bundle)
        if fatal is not None:
            return fatal
        if isinstance(exc, urllib3.exceptions.HTTPError):
            detail = f"{type(exc).__name__}: {exc}"
        else:  # the library's ApiException(status=0): reason "SSLError\n<detail>"
            detail = str(getattr(exc, "reason", None) or type(exc).__name__)
        hint = tls_hint(f"host {self.host}", self.ca_bundle)
        msg = f"HubSpot {what}: connection failed ({' '.join(detail.split())}); {hint}"
        return RetriableAPIError(msg)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.usage.waits += seconds
            self.policy.sleep(seconds)

    def _pace(self, search: bool) -> None:
        if self.usage.interval_remaining == 0 and self.usage.interval_ms:
            self._wait(self.usage.interval_ms / 1000)
            self.usage.interval_remaining = None
        if not search:
            return
        now = self._monotonic()
        if self._last_search is not None:
            self._wait(self._interval - (now - self._last_search))
        self._last_search = self._monotonic()


def _api_exception(exc: BaseException) -> Any:
    """The library's ApiException behind ``exc`` (it has an int ``status``), or None.

    Without an HTTP response (TLS failures) hubspot-api-client raises ``ApiException(status=0)``
    and then, decoding its ``body`` of None, an ``AttributeError`` in its place.
    """
    for error in (exc, exc.__context__):
        if error is not None and isinstance(getattr(error, "status", None), int):
            return error
    return None


def _api_error(what: str, status: int, headers: Any, body: Any) -> ConnectorError:
    """The connector error for an HTTP error answer (see the module docstring), carrying the
    answer's ``status``, ``error_code`` (category) and ``api_message``."""
    try:
        payload = json.loads(body) if body else {}
    except (TypeError, ValueError):
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    return _with_context(_error_of(what, status, headers, payload), status, payload)


def _error_of(what: str, status: int, headers: Any, payload: dict[str, Any]) -> ConnectorError:
    message = str(payload.get("message") or "").strip()
    if status == 429:
        policy = str(payload.get("policyName") or "").upper()
        if not policy and "secondly" in message.lower():
            policy = "SECONDLY"
        if policy == "DAILY":
            msg = (f"HubSpot API limit reached: the portal's daily allowance is used up ({what}); "
                   "the sync stopped, what was committed is kept; run it again tomorrow")
            return LimitReachedError(msg)
        wait = parse_retry_after(headers.get("Retry-After")) if headers else None
        if wait is None:
            wait = POLICY_WAITS.get(policy, 10.0)
        msg = f"HubSpot {what}: 429 rate limited ({policy or 'unknown policy'})"
        return RetriableAPIError(msg, retry_after=wait)
    if status >= 500:
        wait = parse_retry_after(headers.get("Retry-After")) if headers else None
        return RetriableAPIError(f"HubSpot {what}: {status} {message}".strip(), retry_after=wait)
    if status == 401:
        msg = (f"HubSpot {what}: 401 the access token was refused; check the private-app token "
               "in the environment variable named by sources.hubspot.token_env")
        return AuthError(msg)
    category = payload.get("category") or payload.get("errorType") or ""
    return FatalAPIError(f"HubSpot {what}: {status} {category} {message}".strip())


def _with_context(error: ConnectorError, status: int, payload: dict[str, Any]) -> ConnectorError:
    """``error`` with the answer's status, category and message attached."""
    error.status = status
    error.error_code = str(payload.get("category") or payload.get("errorType") or "") or None
    error.api_message = str(payload.get("message") or "") or None
    return error
