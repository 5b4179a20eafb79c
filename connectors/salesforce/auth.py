"""Logging in to Salesforce: an access token and the org's instance URL.

Four ways (``sources.salesforce.auth``), secrets read from the environment variables the config
names (:func:`connectors.secrets.resolve_secret`):

- ``password``: OAuth 2.0 username-password flow against ``{login_url}/services/oauth2/token``
  when a connected app is configured (``client_id_env`` + ``client_secret_env``), else the SOAP
  login through ``simple_salesforce.SalesforceLogin`` (only for ``*.salesforce.com`` login URLs).
  The password sent is the password followed by the security token.
- ``jwt``: OAuth 2.0 JWT bearer flow: an RS256 assertion (iss = consumer key, sub = username,
  aud = login URL, exp = now + 3 minutes) signed with the connected app's private key.
- ``client_credentials``: OAuth 2.0 client-credentials flow (consumer key + secret).
- ``access_token``: an existing token and ``instance_url``; it cannot be renewed.

Docs: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flows.htm (OAuth flows;
token endpoint errors are HTTP 400 ``{"error", "error_description"}``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

import requests

from connectors.errors import AuthError, ConfigError, FatalAPIError
from connectors.http import RetryPolicy, call_with_retries
from connectors.salesforce.http import send
from connectors.salesforce.settings import SalesforceSettings
from connectors.secrets import resolve_secret

_SETTING = "sources.salesforce"


@dataclass(frozen=True)
class Login:
    """A live session.

    Attributes:
        instance_url: the org's base URL, ``https://...`` without a trailing slash.
        access_token: the bearer token (a secret: never logged or shown).
    """

    instance_url: str
    access_token: str


def _secret(settings: SalesforceSettings, name: str, secrets: Mapping[str, str] | None) -> str:
    env = getattr(settings, name)
    return resolve_secret(env, f"{_SETTING}.{name}", secrets)


def _token_request(
    session: requests.Session, url: str, form: dict[str, str], timeout: float
) -> Login:
    """POST an OAuth grant; one try (retries wrap it).

    Raises:
        AuthError: the token endpoint refused the grant (its ``error`` and description named).
        RetriableAPIError: connection error, timeout, 429 or 5xx.
        FatalAPIError: TLS cannot verify the host (certificate, ``ca_bundle``).
    """
    what = f"salesforce login at {url}"
    try:
        resp = send(session, "POST", url, what, data=form, timeout=timeout)
    except (FatalAPIError, AuthError) as exc:
        if exc.status is None:  # no answer (TLS cannot verify the host): not a refusal
            raise
        # the token endpoint refused the grant: OAuth's ``error`` and ``error_description``
        error = exc.error_code or f"HTTP {exc.status}"
        detail = exc.api_message if exc.error_code else ""
        msg = f"salesforce login failed at {url}: {error}" + (f" ({detail})" if detail else "")
        raise AuthError(msg) from None
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict) or "access_token" not in body:
        msg = f"salesforce login failed at {url}: HTTP {resp.status_code} without an access token"
        raise AuthError(msg)
    instance = str(body.get("instance_url") or "").rstrip("/")
    if not instance.startswith("https://"):
        msg = f"salesforce login at {url}: the token response has no https instance_url"
        raise AuthError(msg)
    return Login(instance_url=instance, access_token=str(body["access_token"]))


def _jwt_assertion(settings: SalesforceSettings, client_id: str) -> str:
    import jwt  # PyJWT, a dependency of simple-salesforce

    assert settings.private_key_file is not None
    key = settings.private_key_file.read_text(encoding="utf-8")
    claims = {
        "iss": client_id,
        "sub": settings.username,
        "aud": settings.login_url.rstrip("/"),
        "exp": int(time.time()) + 180,
    }
    return jwt.encode(claims, key, algorithm="RS256")


def _soap_login(
    settings: SalesforceSettings, session: requests.Session, password: str, token: str
) -> Login:
    from simple_salesforce import SalesforceLogin
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed

    host = urlparse(settings.login_url).hostname or ""
    if not host.endswith(".salesforce.com"):
        msg = (
            f"{_SETTING}.login_url {settings.login_url}: the SOAP login needs a *.salesforce.com "
            "host; set client_id_env and client_secret_env to log in through OAuth"
        )
        raise ConfigError(msg)
    try:
        session_id, instance = SalesforceLogin(
            username=settings.username,
            password=password,
            security_token=token,
            session=session,
            domain=host.removesuffix(".salesforce.com"),
            sf_version=settings.api_version,
        )
    except SalesforceAuthenticationFailed as exc:
        msg = f"salesforce login failed at {settings.login_url}: {exc.code} ({exc.message})"
        raise AuthError(msg) from None
    return Login(instance_url=f"https://{instance}", access_token=session_id)


def login(
    settings: SalesforceSettings,
    session: requests.Session,
    *,
    policy: RetryPolicy,
    secrets: Mapping[str, str] | None = None,
) -> Login:
    """Log in as the settings say.

    Args:
        settings: ``sources.salesforce``.
        session: the HTTP session (verifies TLS against ``ca_bundle``).
        policy: retries for connection errors, timeouts and 5xx of the token endpoint.
        secrets: values from the secrets file, used when the environment lacks a variable.

    Returns:
        The instance URL and access token.

    Raises:
        ConfigError: a named environment variable is not set, or the login URL cannot be used.
        AuthError: Salesforce refused the credentials (the message names the OAuth error).
        RetriableAPIError: the token endpoint kept failing.
    """
    url = settings.login_url.rstrip("/") + "/services/oauth2/token"
    timeout = settings.timeout_seconds
    if settings.auth == "access_token":
        assert settings.instance_url is not None
        return Login(
            settings.instance_url.rstrip("/"), _secret(settings, "access_token_env", secrets)
        )
    if settings.auth == "password":
        password = _secret(settings, "password_env", secrets)
        token = (
            _secret(settings, "security_token_env", secrets) if settings.security_token_env else ""
        )
        if settings.client_id_env is None:
            return _soap_login(settings, session, password, token)
        form = {
            "grant_type": "password",
            "client_id": _secret(settings, "client_id_env", secrets),
            "client_secret": _secret(settings, "client_secret_env", secrets),
            "username": settings.username or "",
            "password": password + token,
        }
    elif settings.auth == "client_credentials":
        form = {
            "grant_type": "client_credentials",
            "client_id": _secret(settings, "client_id_env", secrets),
            "client_secret": _secret(settings, "client_secret_env", secrets),
        }
    else:
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _jwt_assertion(settings, _secret(settings, "client_id_env", secrets)),
        }
    return call_with_retries(lambda: _token_request(session, url, form, timeout), policy)
