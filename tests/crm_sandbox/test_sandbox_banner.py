"""``partnerkpi sandbox`` prints every credential it accepts, and each one it prints logs in."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

import pytest
import requests

from tests.helpers.maven import ROOT

pytestmark = pytest.mark.slow


def _banner() -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "sandbox", "--port", "0", "--data", "synthetic",
         "--synthetic", "5"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or lines[-1] != "Ctrl-C stops it.":
        line = proc.stdout.readline()
        assert line, lines
        lines.append(line.rstrip("\n"))
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, lines


def _value(lines: list[str], pattern: str) -> str:
    found = [m.group(1) for line in lines if (m := re.search(pattern, line))]
    assert len(found) == 1, (pattern, lines)
    return found[0]


def test_sandbox_banner_credentials_each_log_in() -> None:
    proc, lines = _banner()
    try:
        url = _value(lines, r"^CRM sandbox at (\S+) ")
        http = requests.Session()
        http.trust_env = False
        http.verify = _value(lines, r"^CA bundle: (\S+)$")
        password = _value(lines, r"^  auth password: (.*)$")
        sf = dict(re.findall(r"(username|password|security token|client id|client secret) "
                             r"([^,\s]+)", password))
        grants = [
            {"grant_type": "password", "username": sf["username"],
             "password": sf["password"] + sf["security token"], "client_id": sf["client id"],
             "client_secret": sf["client secret"]},
            {"grant_type": "client_credentials", "client_id": _value(
                lines, r"^  auth client_credentials: client id (\S+),"),
             "client_secret": _value(lines, r"^  auth client_credentials: .*client secret (\S+)$")},
        ]
        for grant in grants:
            reply = http.post(f"{url}/services/oauth2/token", data=grant, timeout=10)
            assert reply.status_code == 200, (grant["grant_type"], reply.text)
            assert reply.json()["instance_url"] == url
        bearer = _value(lines, r"^  auth access_token: bearer token (\S+) ")
        reply = http.get(f"{url}/services/data/v60.0/sobjects/",
                         headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
        assert reply.status_code == 200
        tokens = _value(lines, r"^  private-app token: any of (.*)$").split(", ")
        for token in tokens:
            reply = http.get(f"{url}/crm/v3/owners", headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
            assert reply.status_code == 200, token
        refresh = _value(lines, r"^  OAuth refresh token: any of (\S+) ")
        reply = http.post(f"{url}/oauth/v1/token", timeout=10,
                          data={"grant_type": "refresh_token", "refresh_token": refresh})
        assert reply.status_code == 200
        assert reply.json()["refresh_token"] == refresh
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
