"""HTTP pieces both CRM connectors share: the retry policy and the requests session factory.

Retries use tenacity: exponential backoff with jitter, bounded attempts, and a server's
``Retry-After`` (or a rate-limit window the CRM names in its body) as the minimum wait. The
sleep function is injectable so tests never wait for real.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TypeVar

import requests
import tenacity

from connectors.errors import FatalAPIError, RetriableAPIError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried.

    Attributes:
        attempts: tries in all (first call included) before the error is raised.
        initial: first backoff, seconds; doubles each try up to ``maximum``.
        maximum: longest backoff, seconds (a longer ``Retry-After`` is still honoured).
        jitter: up to this many random seconds added to each backoff.
        sleep: the function that waits (``time.sleep``; tests pass a recorder).
        rng: random source for the jitter.
    """

    attempts: int = 6
    initial: float = 1.0
    maximum: float = 60.0
    jitter: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def wait_for(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        backoff = min(self.maximum, self.initial * 2 ** (attempt - 1))
        backoff += self.rng.uniform(0, self.jitter) if self.jitter else 0.0
        return max(backoff, retry_after or 0.0)


def call_with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, RetriableAPIError, float], None] | None = None,
) -> T:
    """Run ``call``; retry it on :class:`RetriableAPIError` as the policy says.

    Args:
        call: the request to make; raises ``RetriableAPIError`` (with ``retry_after`` seconds
            when the server said) for 429, 5xx, timeouts and dropped connections.
        policy: attempts and waits.
        on_retry: told (attempt, error, wait seconds) before each wait, e.g. for logging.

    Returns:
        What ``call`` returned.

    Raises:
        RetriableAPIError: still failing after ``policy.attempts`` tries.
        Exception: anything else ``call`` raised, at once.
    """

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = error.retry_after if isinstance(error, RetriableAPIError) else None
        seconds = policy.wait_for(state.attempt_number, retry_after)
        if on_retry and isinstance(error, RetriableAPIError):
            on_retry(state.attempt_number, error, seconds)
        return seconds

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        retry=tenacity.retry_if_exception_type(RetriableAPIError),
        sleep=policy.sleep,
        reraise=True,
    )
    return retrying(call)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def make_session(
    ca_bundle: str | None = None, *, user_agent: str = "partnerkpi"
) -> requests.Session:
    """A ``requests.Session`` that verifies TLS against ``ca_bundle`` (or the default store).

    The session ignores the environment (``trust_env = False``): otherwise ``REQUESTS_CA_BUNDLE``
    silently overrides ``Session.verify`` and a configured CA bundle (such as the CRM sandbox's)
    never reaches the request.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle if ca_bundle else True
    session.headers["User-Agent"] = user_agent
    return session


def tls_setup_problem(exc: BaseException) -> str | None:
    """Why TLS failed, when ``exc`` or an exception it wraps is a certificate that did not
    verify or a CA bundle that cannot be used; retrying cannot fix either.

    Walks the chain (``__cause__``, ``__context__``, urllib3's ``reason``, exception ``args``):
    requests, urllib3 and hubspot-api-client each wrap the :mod:`ssl` error differently.

    Returns:
        A short reason (``certificate verify failed: self-signed certificate``), or None when
        the error is something else (a dropped connection, a timeout).
    """
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo:
        error = todo.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {error.verify_message}"
        if isinstance(error, ssl.SSLError) and error.library in ("PEM", "X509"):
            return "the CA bundle holds no readable PEM certificate"
        if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError):
            return f"the CA bundle cannot be read ({error.strerror})"
        linked = (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args)
        todo += [e for e in linked if isinstance(e, BaseException)]
    return None


def tls_hint(what: str, ca_bundle: str | Path | None) -> str:
    """The fix for a TLS failure: ``what`` (the host setting) and the CA bundle in use."""
    if ca_bundle:
        return f"check {what} and ca_bundle {ca_bundle}"
    return f"check {what}, and set ca_bundle if a proxy or a private CA signs its certificate"


def tls_error(
    prefix: str, exc: BaseException, host_setting: str, ca_bundle: str | Path | bool | None
) -> FatalAPIError | None:
    """The fatal one-line error for a TLS failure retrying cannot fix, or None (see
    :func:`tls_setup_problem`).

    Args:
        prefix: what was being done (``HubSpot GET /crm/v3/owners``).
        exc: the error the HTTP library raised.
        host_setting: the setting naming the host (``host https://api.hubapi.com``).
        ca_bundle: the CA bundle in use (a requests ``verify`` value: a path, or True for the
            system store).
    """
    problem = tls_setup_problem(exc)
    if problem is None:
        return None
    bundle = ca_bundle if isinstance(ca_bundle, str | Path) else None
    return FatalAPIError(f"{prefix}: TLS failed ({problem}); {tls_hint(host_setting, bundle)}")
