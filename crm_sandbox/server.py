"""The CRM sandbox server: one HTTPS port speaking Salesforce and HubSpot, plus test controls.

>>> with Sandbox(world).start() as sb:          # doctest: +SKIP
...     requests.get(sb.url + "/services/data/", verify=sb.ca_bundle)

Routing: ``/services/...`` -> :class:`~crm_sandbox.salesforce.SalesforceFacade`; HubSpot paths
(``/crm/...``, ``/account-info/...``, ``/oauth/...``, as the HubSpot facade declares in its
``prefixes``) -> ``crm_sandbox.hubspot.HubSpotFacade``; ``/_sandbox/...`` -> controls (JSON):

=======================================  ==================================================
``POST /_sandbox/{crm}/create``          ``{"object_type", "values"}`` -> ``{"id"}``
``POST /_sandbox/{crm}/update``          ``{"object_type", "id", "values"}``
``POST /_sandbox/{crm}/delete|archive``  ``{"object_type", "id"}``
``POST /_sandbox/{crm}/merge``           ``{"object_type", "winner_id", "loser_id"}``
``POST /_sandbox/clock/freeze``          ``{"at": "2024-06-01T10:00:00Z"}``
``POST /_sandbox/clock/advance``         ``{"seconds": 5}``; ``GET /_sandbox/clock``
``POST /_sandbox/faults``                a :class:`~crm_sandbox.core.FaultRule` as JSON
``POST /_sandbox/faults/clear``          ``GET /_sandbox/faults`` lists rules with counters
``GET /_sandbox/calls``                  ``{"count", "calls": [[method, path], ...]}``
``POST /_sandbox/calls/clear``
``POST /_sandbox/salesforce/token``      -> ``{"access_token"}`` (no OAuth round trip)
``POST /_sandbox/salesforce/expire_sessions_after``  ``{"n_calls"}`` (case C-08)
``POST /_sandbox/salesforce/expire_sessions``
``POST /_sandbox/salesforce/api_usage``  ``{"used", "max"}`` (``used >= max`` -> 403, C-09)
``POST /_sandbox/salesforce/fail_record``  ``{"id", "message", "status_code", "times"}`` (C-10)
``GET /_sandbox/salesforce/id_for?object_type=&key=``
=======================================  ==================================================

``{crm}`` is ``salesforce`` or ``hubspot``. Control calls are not recorded in :attr:`Sandbox.calls`
and never hit faults.

Faults (see :class:`~crm_sandbox.core.Faults`) are applied here, before the facade:
``status`` answers instead of it, ``delay`` sleeps first, ``short_pages`` hands the page size to
the Salesforce facade, ``malformed_json`` cuts the facade's body short (valid HTTP, broken JSON),
``drop`` sends the headers and part of the body, then shuts the socket.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import trustme
from werkzeug import Request, Response

from crm_sandbox.core import PAGE_SIZE_ENVIRON_KEY, Clock, Faults, json_response, sleep
from crm_sandbox.salesforce import SalesforceFacade
from crm_sandbox.serving import DROP_AFTER_ENVIRON_KEY, serve, shutdown
from crm_sandbox.world import World

__all__ = ["Sandbox"]


def _make_hubspot(world: World, clock: Clock) -> Any:
    """The HubSpot facade, or None while ``crm_sandbox.hubspot`` does not exist yet."""
    try:
        from crm_sandbox.hubspot import HubSpotFacade
    except ImportError:
        return None
    return HubSpotFacade(world, clock=clock)


class Sandbox:
    """Both CRM facades behind one local HTTPS server.

    Args:
        world: the data both facades serve.
        clock: the sandbox clock (default: real UTC time).
        api_version: the Salesforce API version the sandbox advertises (``salesforce.base_path``).
        page_size: Salesforce query page size (2,000 like the real API).

    Attributes:
        clock: :class:`~crm_sandbox.core.Clock`.
        faults: :class:`~crm_sandbox.core.Faults`.
        salesforce: :class:`~crm_sandbox.salesforce.SalesforceFacade`.
        hubspot: ``crm_sandbox.hubspot.HubSpotFacade`` (None if that module is absent).
        calls: ``(method, path)`` of every CRM request served, in order (controls excluded).
        url: ``https://127.0.0.1:PORT`` once started.
        ca_bundle: path of the throwaway CA's PEM file once started (pass as ``verify=``).
    """

    def __init__(
        self,
        world: World,
        *,
        clock: Clock | None = None,
        api_version: str = "60.0",
        page_size: int = 2000,
    ) -> None:
        self.world = world
        self.clock = clock or Clock()
        self.faults = Faults()
        self._api_version, self._page_size = api_version, page_size
        self._salesforce: SalesforceFacade | None = None
        self._hubspot: Any = None
        self._build_lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.url: str | None = None
        self.ca_bundle: str | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None

    # -- facades (built on first use, so a one-CRM benchmark renders only that CRM) ------------

    @property
    def salesforce(self) -> SalesforceFacade:
        """The Salesforce facade (rendered from the World on first access)."""
        if self._salesforce is None:
            with self._build_lock:
                if self._salesforce is None:
                    self._salesforce = SalesforceFacade(
                        self.world,
                        self.clock,
                        api_version=self._api_version,
                        page_size=self._page_size,
                    )
        return self._salesforce

    @property
    def hubspot(self) -> Any:
        """The HubSpot facade (rendered on first access; None if the module is absent)."""
        if self._hubspot is None:
            with self._build_lock:
                if self._hubspot is None:
                    self._hubspot = _make_hubspot(self.world, self.clock)
        return self._hubspot

    def warm(self) -> Sandbox:
        """Render both facades now (benchmarks call this before their timed part)."""
        _ = self.salesforce, self.hubspot
        return self

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        """Serve HTTPS on ``host:port`` (0 = a free port) in a background thread."""
        ca = trustme.CA()
        cert = ca.issue_cert(host, "localhost", "127.0.0.1")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self._tmpdir = tempfile.mkdtemp(prefix="crm-sandbox-")
        self.ca_bundle = str(Path(self._tmpdir) / "sandbox-ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        self._server, self._thread = serve(self, host, port, ctx)
        self.url = f"https://{host}:{self._server.server_port}"
        return self

    def stop(self) -> None:
        """Stop serving and remove the CA file."""
        if self._server is not None and self._thread is not None:
            shutdown(self._server, self._thread)
        self._server = self._thread = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def endpoints(self) -> list[str]:
        """Lines naming each CRM API served (after :meth:`start`): its base URL, then every
        credential it accepts, one login method a line (``partnerkpi sandbox`` prints them)."""
        token = self.salesforce.issue_token()
        sf = self.salesforce.credentials
        return [
            f"Salesforce: {self.url}/services/data/v60.0/ (login_url / instance_url {self.url}; "
            f"OAuth at {self.url}/services/oauth2/token)",
            f"  auth password: username {sf.username}, password {sf.password}, security token "
            f"{sf.security_token}, client id {sf.client_id}, client secret {sf.client_secret}",
            f"  auth client_credentials: client id {sf.client_id}, client secret "
            f"{sf.client_secret}",
            f"  auth access_token: bearer token {token} (with instance_url {self.url})",
            f"HubSpot: {self.url}/crm/v3/ (host {self.url})",
            f"  private-app token: any of {', '.join(sorted(self.hubspot.accepted_tokens))}",
            f"  OAuth refresh token: any of {', '.join(sorted(self.hubspot.refresh_tokens))} "
            f"(at {self.url}/oauth/v1/token)",
        ]

    def __enter__(self) -> Sandbox:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call_counts(self) -> Counter[tuple[str, str]]:
        """``Counter`` of ``(method, path)`` over :attr:`calls`."""
        return Counter(self.calls)

    # -- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path = request.path
        if path.startswith("/_sandbox/"):
            try:
                resp = self._control(request)
            except (KeyError, ValueError, TypeError) as exc:
                resp = json_response({"error": type(exc).__name__, "message": str(exc)}, 400)
            return resp(environ, start_response)
        method = request.method
        self.calls.append((method, path))
        rule = self.faults.match(method, path)
        if rule is not None and rule.kind == "delay":
            sleep(rule.seconds)
            rule = None
        if rule is not None and rule.kind == "status":
            return self._with_crm_headers(path, rule.status_response())(environ, start_response)
        if rule is not None and rule.kind == "short_pages":
            environ[PAGE_SIZE_ENVIRON_KEY] = rule.page_size
        resp = self._route(request)
        if rule is not None and rule.kind == "malformed_json":
            data = resp.get_data()
            resp.set_data(
                data[: rule.keep_bytes if rule.keep_bytes is not None else len(data) // 2]
            )
        if rule is not None and rule.kind == "drop":
            data_len = len(resp.get_data())
            keep = rule.keep_bytes if rule.keep_bytes is not None else data_len // 2
            environ[DROP_AFTER_ENVIRON_KEY] = keep
        return resp(environ, start_response)

    def _with_crm_headers(self, path: str, resp: Response) -> Response:
        """Add the usage headers the CRM puts on every response (rule headers win)."""
        if path.startswith(SalesforceFacade.prefixes):
            resp.headers.setdefault("Sforce-Limit-Info", self.salesforce.usage.header)
            return resp
        hubspot = self.hubspot
        if hubspot is not None and path.startswith(tuple(hubspot.prefixes)):
            headers_for = getattr(hubspot, "rate_limit_headers", None)
            for key, value in (headers_for(path) if headers_for else {}).items():
                resp.headers.setdefault(key, value)
        return resp

    def _route(self, request: Request) -> Response:
        path = request.path
        if path.startswith(SalesforceFacade.prefixes):
            return self.salesforce.handle(request)
        hubspot = self.hubspot
        if hubspot is not None and path.startswith(tuple(hubspot.prefixes)):
            return hubspot.handle(request)
        return json_response(
            {"status": "error", "message": "Not found", "category": "OBJECT_NOT_FOUND"}, 404
        )

    # -- controls -------------------------------------------------------------------------

    def _facade(self, crm: str) -> Any:
        facade = {"salesforce": self.salesforce, "hubspot": self.hubspot}.get(crm)
        if facade is None:
            msg = f"unknown or unavailable CRM {crm!r}"
            raise KeyError(msg)
        return facade

    def _control(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p][1:]
        body = request.get_json(silent=True) or {} if request.method == "POST" else {}
        ok = {"ok": True}
        match parts:
            case ["calls"]:
                return json_response(
                    {"count": len(self.calls), "calls": [list(c) for c in self.calls]}
                )
            case ["calls", "clear"]:
                self.calls.clear()
                return json_response(ok)
            case ["clock"]:
                return json_response(
                    {"now": self.clock.now().isoformat(), "frozen": self.clock.is_frozen}
                )
            case ["clock", "freeze"]:
                self.clock.freeze(datetime.fromisoformat(body["at"]))
                return json_response({"now": self.clock.now().isoformat()})
            case ["clock", "advance"]:
                return json_response(
                    {"now": self.clock.advance(float(body["seconds"])).isoformat()}
                )
            case ["faults"] if request.method == "POST":
                rule = self.faults.add(**body)
                return json_response(rule.to_dict())
            case ["faults"]:
                return json_response({"rules": [r.to_dict() for r in self.faults.rules]})
            case ["faults", "clear"]:
                self.faults.clear()
                return json_response(ok)
            case ["salesforce", "token"]:
                return json_response({"access_token": self.salesforce.issue_token()})
            case ["salesforce", "expire_sessions_after"]:
                self.salesforce.expire_sessions_after(int(body["n_calls"]))
                return json_response(ok)
            case ["salesforce", "expire_sessions"]:
                self.salesforce.expire_sessions()
                return json_response(ok)
            case ["salesforce", "api_usage"]:
                self.salesforce.set_api_usage(body.get("used"), body.get("max"))
                return json_response(ok)
            case ["salesforce", "fail_record"]:
                self.salesforce.fail_record(
                    body["id"],
                    body.get("message", "Validation failed"),
                    body.get("status_code", "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
                    body.get("times"),
                )
                return json_response(ok)
            case ["salesforce", "id_for"]:
                args = request.args
                return json_response(
                    {"id": self.salesforce.id_for(args["object_type"], args["key"])}
                )
            case [crm, "create"]:
                facade = self._facade(crm)
                values = self._typed(crm, body["object_type"], body.get("values", {}))
                return json_response({"id": facade.create(body["object_type"], values)})
            case [crm, "update"]:
                values = self._typed(crm, body["object_type"], body.get("values", {}))
                self._facade(crm).update(body["object_type"], body["id"], values)
                return json_response(ok)
            case [crm, "delete" | "archive"]:
                self._facade(crm).delete(body["object_type"], body["id"])
                return json_response(ok)
            case [crm, "merge"]:
                self._facade(crm).merge(body["object_type"], body["winner_id"], body["loser_id"])
                return json_response(ok)
        return json_response({"error": "NotFound", "message": f"no control {request.path}"}, 404)

    def _typed(self, crm: str, object_type: str, values: dict[str, Any]) -> dict[str, Any]:
        """JSON control values -> the facade's typed values (Salesforce only)."""
        if crm != "salesforce":
            return values
        return self.salesforce.typed_values(object_type, values)
