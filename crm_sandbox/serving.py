"""The sandbox's HTTP layer: werkzeug's threaded server with a keep-alive request handler.

werkzeug's development request handler closes every connection (``Connection: close``) and then
waits ~10 ms draining the socket, so each request costs a fresh TLS handshake plus that wait --
about 30 ms, which would make the sandbox the bottleneck of any paging benchmark. The handler
here keeps HTTP/1.1 connections alive instead: it reads the request body up front (so an
unread body can never be mistaken for the next request), buffers the application's response,
sends it with an exact ``Content-Length`` and keeps the connection unless the client asked to
close it. ``TCP_NODELAY`` avoids Nagle/delayed-ACK stalls between the header and body writes.

A WSGI application may set ``environ[DROP_AFTER_ENVIRON_KEY] = n``: the handler then sends the
headers (with the full ``Content-Length``) and only the first ``n`` body bytes, and shuts the
socket down -- the ``drop`` fault.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["DROP_AFTER_ENVIRON_KEY", "KeepAliveHandler", "serve"]

DROP_AFTER_ENVIRON_KEY = "crm_sandbox.drop_after"
log = logging.getLogger(__name__)


class KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 keep-alive WSGI request handler (quiet: no per-request log lines)."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds an idle keep-alive connection is kept open

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns = getattr(self.server, "open_connections", None)
        if conns is not None:
            conns.add(self.connection)

    def finish(self) -> None:
        conns = getattr(self.server, "open_connections", None)
        if conns is not None:
            conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            log.debug(message, *args)

    def run_wsgi(self) -> None:
        """Run the application for one request and write its buffered response."""
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.environ = self.make_environ()
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            self.close_connection = True
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length > 0 else b"")
        state: dict[str, Any] = {}
        early: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            state["status"], state["headers"] = status, headers
            return early.append

        try:
            app_iter = self.server.app(environ, start_response)
            try:
                chunks = list(app_iter)
            finally:
                if hasattr(app_iter, "close"):
                    app_iter.close()
        except Exception:
            log.exception("sandbox application error")
            state = {"status": "500 INTERNAL SERVER ERROR", "headers": []}
            early, chunks = (
                [],
                [b'[{"message":"internal sandbox error","errorCode":"UNKNOWN_EXCEPTION"}]'],
            )
        data = b"".join(early + chunks)
        code_str, _, msg = state["status"].partition(" ")
        code = int(code_str)
        self.send_response(code, msg)
        for key, value in state["headers"]:
            if key.lower() not in ("content-length", "connection", "server", "date"):
                self.send_header(key, value)
        if not (100 <= code < 200 or code in (204, 304)):
            self.send_header("Content-Length", str(len(data)))
        drop = environ.get(DROP_AFTER_ENVIRON_KEY)
        if self.close_connection or drop is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if environ["REQUEST_METHOD"] != "HEAD":
            self.wfile.write(data if drop is None else data[:drop])
        self.wfile.flush()
        if drop is not None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


def serve(
    app: Any, host: str, port: int, ssl_context: Any
) -> tuple[BaseWSGIServer, threading.Thread]:
    """Start a threaded werkzeug server for ``app`` in a daemon thread.

    Returns:
        ``(server, thread)``; the server has ``open_connections`` (a set of live sockets) so
        that :func:`shutdown` can close kept-alive connections too.
    """
    server = make_server(
        host, port, app, threaded=True, ssl_context=ssl_context, request_handler=KeepAliveHandler
    )
    server.daemon_threads = True
    server.open_connections = set()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="crm-sandbox", daemon=True)
    thread.start()
    return server, thread


def shutdown(server: BaseWSGIServer, thread: threading.Thread) -> None:
    """Stop accepting, close every open (kept-alive) connection and the listening socket."""
    server.shutdown()
    for conn in list(getattr(server, "open_connections", ())):
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
    server.server_close()
    thread.join(timeout=5)
