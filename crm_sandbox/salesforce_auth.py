"""OAuth token endpoint, sessions and the daily API allowance of the Salesforce facade.

``POST /services/oauth2/token`` accepts two grants (form-encoded, as Salesforce does):

* ``grant_type=password`` with ``client_id``, ``client_secret``, ``username`` and ``password``
  = the user's password with the security token appended;
* ``grant_type=client_credentials`` with ``client_id`` and ``client_secret``.

The accepted values are a :class:`SalesforceCredentials` (defaults below). The success body has
``access_token``, ``instance_url`` (the sandbox's own base URL), ``id``, ``token_type``,
``issued_at`` (epoch milliseconds as text) and ``signature`` (base64 HMAC-SHA256 of ``id`` +
``issued_at`` keyed with the client secret, as Salesforce computes it). Failures are HTTP 400
``{"error": ..., "error_description": ...}``.

Sessions die when :meth:`SessionManager.expire_sessions_after` says so (case C-08) or on
:meth:`SessionManager.expire_all`. :class:`ApiUsage` counts API calls against the daily
allowance reported in ``Sforce-Limit-Info: api-usage=N/M`` and ``/limits``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from werkzeug import Request, Response

from crm_sandbox.core import Clock, json_response

__all__ = ["ApiUsage", "SalesforceCredentials", "SessionManager"]

ORG_ID = "00DXX0000000001AAA"


@dataclass(frozen=True)
class SalesforceCredentials:
    """What the sandbox's token endpoint accepts (all plain text; nothing secret).

    Defaults: username ``sandbox@partnerkpi.example``, password ``sandbox-password``, security
    token ``SANDBOXTOKEN`` (so the password grant sends ``sandbox-passwordSANDBOXTOKEN``),
    client id ``partnerkpi-sandbox-client``, client secret ``partnerkpi-sandbox-secret``.
    """

    username: str = "sandbox@partnerkpi.example"
    password: str = "sandbox-password"
    security_token: str = "SANDBOXTOKEN"
    client_id: str = "partnerkpi-sandbox-client"
    client_secret: str = "partnerkpi-sandbox-secret"


def _oauth_error(error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, 400)


class SessionManager:
    """Issues bearer tokens and decides which are alive. Thread-safe."""

    def __init__(self, clock: Clock, credentials: SalesforceCredentials, user_id: str) -> None:
        self.clock = clock
        self.credentials = credentials
        self.user_id = user_id
        self._lock = threading.Lock()
        self._alive: dict[str, bool] = {}
        self._doomed: set[str] = set()
        self._calls_left: int | None = None
        self.revoked = False  # the grant was revoked: every login is refused (invalid_grant)

    def issue(self) -> str:
        """Create a new live session and return its token."""
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self._alive[token] = True
        return token

    def is_alive(self, token: str | None) -> bool:
        """True if ``token`` is a live session (no side effects)."""
        return bool(token) and self._alive.get(token or "", False)

    def check_call(self, token: str | None) -> bool:
        """Account for one API call made with ``token``; True if the session is alive.

        Applies a pending :meth:`expire_sessions_after`: once its allowance of calls is used up,
        every token that was live when it was set dies before this call is judged.
        """
        with self._lock:
            if self._calls_left is not None and self._calls_left <= 0:
                for t in self._doomed:
                    self._alive[t] = False
                self._doomed.clear()
                self._calls_left = None
            alive = bool(token) and self._alive.get(token or "", False)
            if alive and self._calls_left is not None:
                self._calls_left -= 1
            return alive

    def expire_sessions_after(self, n_calls: int) -> None:
        """Let the currently live sessions make ``n_calls`` more API calls, then kill them.

        Tokens issued afterwards are not affected. ``n_calls=0`` kills them at the next call.
        """
        with self._lock:
            self._doomed = {t for t, alive in self._alive.items() if alive}
            self._calls_left = n_calls

    def expire_all(self) -> None:
        """Kill every session now."""
        with self._lock:
            for t in self._alive:
                self._alive[t] = False
            self._doomed.clear()
            self._calls_left = None

    def token_endpoint(self, request: Request) -> Response:
        """Answer ``POST /services/oauth2/token``."""
        if request.method != "POST":
            return _oauth_error("invalid_request", "must use HTTP POST")
        form = request.form
        creds = self.credentials
        grant = form.get("grant_type", "")
        if grant not in ("password", "client_credentials"):
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if self.revoked:
            return _oauth_error("invalid_grant", "expired access/refresh token")
        if form.get("client_id") != creds.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if form.get("client_secret") != creds.client_secret:
            return _oauth_error("invalid_client", "invalid client credentials")
        if grant == "password" and (
            form.get("username") != creds.username
            or form.get("password") != creds.password + creds.security_token
        ):
            return _oauth_error("invalid_grant", "authentication failure")
        instance_url = request.host_url.rstrip("/")
        identity = f"{instance_url}/id/{ORG_ID}/{self.user_id}"
        issued_at = str(int(self.clock.now().timestamp() * 1000))
        signature = base64.b64encode(
            hmac.new(
                creds.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
            ).digest()
        ).decode()
        body = {
            "access_token": self.issue(),
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }
        return json_response(body)


class ApiUsage:
    """The org's daily API request allowance.

    Attributes:
        max: the daily allowance (15,000 like a Developer Edition org by default).
        used: calls counted so far.
    """

    def __init__(self, max_calls: int = 15000) -> None:
        self._lock = threading.Lock()
        self.max = max_calls
        self.used = 0

    def take(self) -> bool:
        """Count one call; False (and nothing counted) if the allowance is used up."""
        with self._lock:
            if self.used >= self.max:
                return False
            self.used += 1
            return True

    def set(self, used: int | None = None, max_calls: int | None = None) -> None:
        """Set the counters (e.g. ``set(used=max)`` makes the next call fail with 403)."""
        with self._lock:
            if max_calls is not None:
                self.max = max_calls
            if used is not None:
                self.used = used

    @property
    def header(self) -> str:
        """The ``Sforce-Limit-Info`` header value, e.g. ``api-usage=230/15000``."""
        return f"api-usage={self.used}/{self.max}"
