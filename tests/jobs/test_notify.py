"""The ``notify:`` webhook of ``partnerkpi run``, against a local HTTP receiver started here.

A run of the Maven CSV import that fails (a deals file without its id column) posts one
Slack-compatible message; an ok run posts nothing; an unset variable or a refusing receiver is
a warning line that names the setting, never the URL, and leaves the run's exit code alone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.store import Store
from tests.helpers.maven import maven_config, write_config

pytestmark = pytest.mark.slow  # starts a local HTTP server

ENV = "TEST_PARTNERKPI_WEBHOOK"


class Receiver:
    """A local HTTP server recording each POST's path and JSON body; answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((self.path, json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000/B000/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def _config(tmp_path: Path, *, broken: bool, on: list[str] | None = None) -> Path:
    deals = None
    if broken:
        deals = tmp_path / "deals.csv"
        deals.write_text("foo\n1\n", encoding="utf-8")
    data = maven_config(tmp_path / "maven.duckdb", **({"deals": deals} if deals else {}))
    data["notify"] = {"url_env": ENV, **({"on": on} if on else {})}
    return write_config(tmp_path / "partnerkpi.yaml", data)


def _run(config: Path) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--json"])
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_notify_failed_run_posts_one_slack_message(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, receiver.url)
    config = _config(tmp_path, broken=True)
    code, body, stderr = _run(config)
    with Store(tmp_path / "maven.duckdb", read_only=True) as store:
        ((run_id, error, rows),) = store.con.execute(
            "SELECT run_id, error, rows FROM sync_runs").fetchall()
    keys = ("inserted", "updated", "unchanged", "deleted", "rejected")
    counts = {n: {k: c.get(k, 0) for k in keys} for n, c in json.loads(rows).items()}
    assert (code, body["status"], body["notify_error"]) == (1, "failed", None)
    assert error == ("deals.csv: column 'opportunity_id' is not in the header (foo); fix the "
                     "column mapping or sources.csv.delimiter")
    assert len(receiver.posts) == 1
    path, message = receiver.posts[0]
    assert path == "/hooks/T000/B000/secret"
    assert message["text"] == (f"partnerkpi run failed at sync: {error} "
                               f"({body['duration_s']:.1f} s; sync runs csv {run_id})")
    assert message["partnerkpi"] == {
        "run_ids": {"csv": run_id}, "status": "failed", "exit_code": 1, "step": "sync",
        "error": error, "started_at": body["started_at"], "finished_at": body["finished_at"],
        "duration_s": body["duration_s"], "counts": {"csv": counts}, "push": {},
    }
    assert sorted(counts) == ["currency_rates", "deals", "owners", "stages"]
    assert stderr == f"error: sync: {error}\n"


def test_notify_ok_run_posts_nothing_unless_asked(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, receiver.url)
    code, body, _ = _run(_config(tmp_path, broken=False))
    assert (code, body["status"], receiver.posts) == (0, "ok", [])

    code, body, _ = _run(_config(tmp_path, broken=False, on=["ok"]))
    ((_, message),) = receiver.posts
    deals = message["partnerkpi"]["counts"]["csv"]["deals"]
    assert (code, message["partnerkpi"]["status"]) == (0, "ok")
    assert deals == body["sync"][0]["streams"]["deals"]
    assert deals["unchanged"] + deals["updated"] + deals["inserted"] == 8800


@pytest.mark.parametrize("problem", ["unset", "http_500"])
def test_notify_problem_is_a_warning_without_the_url(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    if problem == "unset":
        monkeypatch.delenv(ENV, raising=False)
        expected = f"notify.url_env: the environment variable {ENV} is not set"
    else:
        monkeypatch.setenv(ENV, receiver.url)
        receiver.status = 500
        expected = f"notify: the webhook answered HTTP 500 (URL in {ENV})"
    code, body, stderr = _run(_config(tmp_path, broken=True))
    assert (code, body["notify_error"]) == (1, expected)
    assert stderr.splitlines()[0] == f"warning: {expected}"
    assert "secret" not in stderr
    assert "hooks" not in json.dumps(body)


def test_notify_unreachable_receiver_names_the_setting(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.server.shutdown()
    receiver.server.server_close()
    monkeypatch.setenv(ENV, receiver.url)
    code, body, _ = _run(_config(tmp_path, broken=True))
    assert (code, body["notify_error"]) == (
        1, f"notify: the webhook POST failed (ConnectionError; URL in {ENV})")
