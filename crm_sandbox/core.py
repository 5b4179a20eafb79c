"""Shared machinery of the CRM sandbox: the clock, fault injection and the facade protocol.

* :class:`Clock` -- the sandbox's notion of "now" (UTC). Real time by default; tests freeze it
  and advance it so that ``SystemModstamp`` / ``hs_lastmodifieddate`` values are predictable.
* :class:`Faults` -- rules that make the server misbehave the way real CRMs and networks do:
  HTTP error statuses (429 rate limits, 503), dropped connections, slow responses, broken JSON
  and short Salesforce query pages. Rules are matched by HTTP method and a path glob.
* :class:`Facade` -- what a CRM facade (Salesforce, HubSpot) offers the server: URL prefixes it
  owns, a request handler, and control methods that change records the way a user in the CRM
  would (bumping the modification stamp to ``clock.now()``).

This package imports nothing from the rest of partnerkpi: it is "the outside world".
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from werkzeug import Request, Response

__all__ = [
    "FAULT_KINDS",
    "HUBSPOT_TEN_SECONDLY_BODY",
    "PAGE_SIZE_ENVIRON_KEY",
    "Clock",
    "Facade",
    "FaultRule",
    "Faults",
    "json_response",
]

FAULT_KINDS = ("status", "drop", "delay", "malformed_json", "short_pages")

# WSGI environ key through which the server hands a `short_pages` fault's page size to a facade.
PAGE_SIZE_ENVIRON_KEY = "crm_sandbox.page_size"

# Body of a HubSpot 429 for the ten-second rolling limit, as in
# fixtures/api-samples/hubspot-429-ten-secondly.json (HubSpot/hubspot-api-python issue #117).
HUBSPOT_TEN_SECONDLY_BODY: dict[str, Any] = {
    "status": "error",
    "message": "You have reached your ten_secondly_rolling limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": "c93e06a4-7d61-4c3e-b63f-edf486fc6e90",
    "policyName": "TEN_SECONDLY_ROLLING",
    "groupName": "publicapi:hapikey-api-calls-ten-secondly:6748263",
}

# Default bodies per status for `status` faults without an explicit body.
_DEFAULT_STATUS_BODIES: dict[int, Any] = {
    429: HUBSPOT_TEN_SECONDLY_BODY,
    403: [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    500: [{"message": "An unexpected error occurred.", "errorCode": "UNKNOWN_EXCEPTION"}],
    503: [{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}],
}


try:  # optional accelerator: ~10x faster encoding of big query pages
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None


def _dumps(body: Any) -> bytes:
    if orjson is not None:
        try:
            return orjson.dumps(body)
        except TypeError:
            pass
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Serialise ``body`` compactly as UTF-8 JSON (``ensure_ascii=False``, like the real APIs).

    Args:
        body: any JSON-ready value.
        status: HTTP status code.
        headers: extra response headers.

    Returns:
        A werkzeug response with ``Content-Type: application/json;charset=UTF-8``.
    """
    data = _dumps(body)
    resp = Response(data, status=status, content_type="application/json;charset=UTF-8")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


class Clock:
    """The sandbox's UTC clock.

    Real time by default. :meth:`freeze` pins it to a given instant; :meth:`advance` moves it
    forward (a frozen clock stays frozen at the new instant; a running clock keeps running with
    an offset). Thread-safe.
    """

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen: datetime | None = None
        self._offset = timedelta(0)
        if frozen_at is not None:
            self.freeze(frozen_at)

    def now(self) -> datetime:
        """Return the current sandbox time as a tz-aware UTC datetime."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def freeze(self, dt: datetime) -> None:
        """Stop the clock at ``dt`` (must be tz-aware; converted to UTC)."""
        if dt.tzinfo is None:
            msg = "Clock.freeze needs a timezone-aware datetime"
            raise ValueError(msg)
        with self._lock:
            self._frozen = dt.astimezone(UTC)

    def unfreeze(self) -> None:
        """Let the clock run again from its current reading."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - datetime.now(UTC)
                self._frozen = None

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` and return the new reading."""
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
        return self.now()

    @property
    def is_frozen(self) -> bool:
        """True while the clock is frozen."""
        return self._frozen is not None


@dataclass
class FaultRule:
    """One fault-injection rule.

    Attributes:
        kind: one of :data:`FAULT_KINDS`.
        method: HTTP method to match (upper case) or ``"*"``.
        path: :func:`fnmatch.fnmatchcase` glob on the request path (no query string), e.g.
            ``"/crm/v3/objects/deals*"`` or ``"/services/data/*/query*"``.
        times: how many requests the rule hits; ``None`` = every matching request.
        after: skip (let through) the first ``after`` matching requests.
        status: for ``status``: the HTTP status (429, 503, ...).
        body: for ``status``: the JSON body; default depends on the status (429: HubSpot's
            TEN_SECONDLY_ROLLING body; 403: Salesforce REQUEST_LIMIT_EXCEEDED; 503: a
            Salesforce-style error list).
        headers: for ``status``: extra headers.
        retry_after: for ``status``: value of a ``Retry-After`` header (seconds), or None.
        seconds: for ``delay``: how long to wait before answering normally.
        keep_bytes: for ``drop``: how many body bytes to send before closing the socket
            (default: half the body). For ``malformed_json``: where to cut the JSON text.
        page_size: for ``short_pages``: the rows per Salesforce query page served.
        seen: matching requests seen so far (maintained by :class:`Faults`).
        hits: requests the rule has fired on so far.
    """

    kind: str
    method: str = "*"
    path: str = "*"
    times: int | None = 1
    after: int = 0
    status: int = 503
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    seconds: float = 0.0
    keep_bytes: int | None = None
    page_size: int = 1000
    seen: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            msg = f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}"
            raise ValueError(msg)
        self.method = self.method.upper()

    @property
    def exhausted(self) -> bool:
        """True once the rule has fired ``times`` times."""
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str) -> bool:
        """True if the rule applies to ``method`` + ``path`` (ignoring counters)."""
        return (self.method in ("*", method.upper())) and fnmatch.fnmatchcase(path, self.path)

    def status_response(self) -> Response:
        """Build the response of a ``status`` rule."""
        body = self.body if self.body is not None else _DEFAULT_STATUS_BODIES.get(self.status, {})
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        return json_response(body, self.status, headers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (for ``GET /_sandbox/faults``)."""
        return {k: v for k, v in self.__dict__.items()}


class Faults:
    """An ordered, thread-safe list of :class:`FaultRule`.

    For each request, rules are tried in the order they were added. Every rule whose method and
    glob match counts the request (``seen``); the first one that is past its ``after`` and not
    exhausted fires (``hits`` += 1) and later rules do not see the request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, kind: str, method: str = "*", path: str = "*", **options: Any) -> FaultRule:
        """Add a rule; see :class:`FaultRule` for the options.

        Examples:
            ``faults.add("status", "POST", "/crm/v3/objects/deals/search", status=429,
            retry_after=1)``; ``faults.add("short_pages", "GET", "/services/data/*/query*",
            page_size=1000, times=None)``; ``faults.add("drop", path="/crm/*", after=2)``.

        Returns:
            The new rule (its ``hits`` / ``seen`` counters are live).
        """
        rule = FaultRule(kind=kind, method=method, path=path, **options)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """A snapshot of the current rules."""
        with self._lock:
            return list(self._rules)

    def match(self, method: str, path: str) -> FaultRule | None:
        """Return the rule that fires for this request (counting it), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(method, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                rule.hits += 1
                return rule
        return None


def sleep(seconds: float) -> None:
    """Real sleep (used by ``delay`` faults); isolated so tests can see where time goes."""
    if seconds > 0:
        time.sleep(seconds)


@runtime_checkable
class Facade(Protocol):
    """What a CRM facade offers :class:`crm_sandbox.server.Sandbox`.

    ``prefixes`` are the URL path prefixes the facade serves (e.g. ``("/services/",)``).
    ``handle`` answers one request. The control methods change records as a CRM user would and
    bump the record's modification stamp (``SystemModstamp`` / ``hs_lastmodifieddate``) to
    ``clock.now()``; ``object_type`` is the CRM's own type name (``"Opportunity"``,
    ``"deals"``), ``values`` use the CRM's own field names.
    """

    prefixes: tuple[str, ...]

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request under one of :attr:`prefixes`."""
        ...

    def create(self, object_type: str, values: dict[str, Any]) -> str:
        """Create a record and return its id."""
        ...

    def update(self, object_type: str, record_id: str, values: dict[str, Any]) -> None:
        """Change fields of a record."""
        ...

    def delete(self, object_type: str, record_id: str) -> None:
        """Delete (Salesforce: recycle bin / HubSpot: archive) a record."""
        ...

    def merge(self, object_type: str, winner_id: str, loser_id: str) -> None:
        """Merge ``loser_id`` into ``winner_id``; the loser ends up deleted."""
        ...
