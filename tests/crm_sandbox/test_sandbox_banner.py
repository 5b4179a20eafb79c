"""``partnerkpi sandbox`` prints every credential it accepts, each one it prints logs in, and the
config each connector README shows for it syncs."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner

from cli import cli
from kpi_engine.store import Store
from tests.helpers.maven import ROOT, write_config

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


def _readme_config(crm: str, url: str, ca_bundle: str, database: Path) -> tuple[dict, dict]:
    """The config and the environment the CRM's README shows for `partnerkpi sandbox`."""
    text = (ROOT / "connectors" / crm / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Against the CRM sandbox"):]
    config = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    shell = re.search(r"```sh\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    env = dict(re.findall(r"(\w+)=(\S+)", shell[shell.index("export "):].splitlines()[0]))
    settings = config["sources"][crm]
    settings["login_url" if crm == "salesforce" else "host"] = url
    settings["ca_bundle"] = ca_bundle
    config["database"] = str(database)
    return config, env


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_sandbox_readme_config_syncs(crm: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    proc, lines = _banner()
    try:
        url = _value(lines, r"^CRM sandbox at (\S+) ")
        ca_bundle = _value(lines, r"^CA bundle: (\S+)$")
        config, env = _readme_config(crm, url, ca_bundle, tmp_path / "sandbox.duckdb")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        path = write_config(tmp_path / "sandbox.yaml", config)
        result = CliRunner().invoke(cli, ["--config", str(path), "sync"])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert result.exit_code == 0, result.output
    assert f"sync {crm}: ok" in result.stdout
    with Store(tmp_path / "sandbox.duckdb", read_only=True) as store:
        assert store.con.execute("SELECT count(*) FROM deals").fetchall() == [(5,)]
