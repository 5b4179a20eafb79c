"""Secrets never leak: sentinel credentials through sync, compute, export, status, push, run and
their error paths, then a search of every place a value could end up.

The sandbox (1,000 synthetic deals, in this process) accepts only sentinel credentials: a
Salesforce password, security token, consumer key and secret, and a HubSpot private-app token.
``partnerkpi`` runs as a subprocess with them in its environment. None of them (nor any session
token the sandbox issued) may appear in standard output or error, in a log file written at DEBUG
by every logger, in the DuckDB file (every column of every table, and the raw bytes of the file
and its WAL), in exports, or in exception messages and tracebacks. Config values that look like
tokens (a secret pasted where the config wants a variable name) are masked in ``status`` and
``--json`` output. A quote inside a SOQL filter value cannot change the query.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.errors import ConnectorError
from connectors.http import RetryPolicy
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sync import run_sync
from crm_sandbox.datasets import synthetic
from crm_sandbox.salesforce_auth import SalesforceCredentials
from crm_sandbox.server import Sandbox
from kpi_engine.store import Store
from tests.helpers.reliability import (
    HS_FIELDS,
    SF_FIELDS,
    hs_source,
    run_cli,
    sf_source,
    write_yaml,
)

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

SECRETS = {
    "REL_SF_PASSWORD": "SENTINEL-SF-PASSWORD-7f3a",
    "REL_SF_TOKEN": "SENTINELSFTOKEN9c1d",
    "REL_SF_CLIENT_ID": "SENTINEL-SF-CLIENT-ID-2b8e",
    "REL_SF_CLIENT_SECRET": "SENTINEL-SF-CLIENT-SECRET-4d6e",
    "REL_HS_TOKEN": "pat-na1-SENTINEL-HS-TOKEN-5e9b",
}
WRONG = {"REL_SF_PASSWORD": "SENTINEL-WRONG-SF-PASSWORD-1a2b",
         "REL_HS_TOKEN": "pat-na1-SENTINEL-WRONG-HS-TOKEN-3c4d"}


class Sleeps(list[float]):
    """A ``sleep`` that records the seconds asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """A sandbox that accepts only the sentinel credentials."""
    sandbox = Sandbox(synthetic(1000, 3))
    creds = SalesforceCredentials(
        password=SECRETS["REL_SF_PASSWORD"], security_token=SECRETS["REL_SF_TOKEN"],
        client_id=SECRETS["REL_SF_CLIENT_ID"], client_secret=SECRETS["REL_SF_CLIENT_SECRET"])
    sandbox.salesforce.credentials = creds
    sandbox.salesforce.sessions.credentials = creds
    sandbox.hubspot.set_token(SECRETS["REL_HS_TOKEN"])
    with sandbox.start():
        yield sandbox


def _sentinels(sb: Sandbox) -> list[str]:
    """Every secret value, and every session token the sandbox issued so far."""
    issued = list(sb.salesforce.sessions._alive)
    return [*SECRETS.values(), *WRONG.values(), *issued]


def assert_clean(text: str | bytes, sb: Sandbox, where: str) -> None:
    """No sentinel (nor its last 12 characters) appears in ``text``."""
    data = text.encode() if isinstance(text, str) else text
    for secret in _sentinels(sb):
        for part in (secret, secret[-12:]):
            assert part.encode() not in data, f"{where} holds {part!r}"


def sf(sb: Sandbox, **overrides: Any) -> dict[str, Any]:
    return sf_source(sb, **{"retry_attempts": 1, **overrides})


def hs(sb: Sandbox, **overrides: Any) -> dict[str, Any]:
    return hs_source(sb, **{"retry_attempts": 1, **overrides})


def cfg(tmp: Path, sb: Sandbox, name: str = "partnerkpi.yaml", *, sf_over: dict | None = None,
        hs_over: dict | None = None, db: str = "store.duckdb") -> Path:
    data = {"database": str(tmp / db), "reporting_currency": "USD",
            "sources": {"salesforce": sf(sb, **(sf_over or {})),
                        "hubspot": hs(sb, **(hs_over or {}))},
            "kpis": {"quality_score": {"min_closed_deals": 1}},
            "writeback": {"salesforce": {"fields": dict(SF_FIELDS)},
                          "hubspot": {"fields": dict(HS_FIELDS)}}}
    return write_yaml(tmp / name, data)


def scan_store(path: Path, sb: Sandbox) -> None:
    """Every column of every table as text, and the raw bytes of the file and its WAL."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        for schema, table in tables:
            cols = con.execute("SELECT column_name FROM information_schema.columns "
                               "WHERE table_schema = ? AND table_name = ?", [schema, table]
                               ).fetchall()
            for (col,) in cols:
                values = con.execute(
                    f'SELECT DISTINCT CAST("{col}" AS VARCHAR) FROM "{schema}"."{table}"'
                ).fetchall()
                assert_clean("\n".join(str(v) for (v,) in values), sb, f"{table}.{col}")
    finally:
        con.close()
    for file in path.parent.glob(path.name + "*"):
        assert_clean(file.read_bytes(), sb, file.name)


def test_secrets_absent_from_outputs_logs_store_and_exports(sb: Sandbox, tmp_path: Path) -> None:
    config = cfg(tmp_path, sb)
    outputs = []
    for args in (("sync",), ("compute",), ("status",),
                 ("export", "--format", "json"),
                 ("export", "--format", "csv", "--output", str(tmp_path / "kpis.csv")),
                 ("export", "--format", "parquet", "--output", str(tmp_path / "kpis.parquet")),
                 ("push", "--dry-run", "--json"), ("push",), ("run", "--json")):
        done = run_cli(config, *args, secrets=SECRETS)
        assert done.returncode == 0, (args, done.stderr)
        outputs.append((args, done.stdout + done.stderr))
    assert "push salesforce: 2 written" in outputs[7][1]  # the 2 partners of the 1,000 deals
    for args, text in outputs:
        assert_clean(text, sb, " ".join(args))
    assert len(sb.salesforce.sessions._alive) >= 4  # session tokens were issued and checked
    for export in ("kpis.csv", "kpis.parquet"):
        assert_clean((tmp_path / export).read_bytes(), sb, export)
    scan_store(tmp_path / "store.duckdb", sb)


@pytest.mark.parametrize(
    ("env", "sf_over", "hs_over", "prefix"),
    [
        pytest.param({"REL_SF_PASSWORD": WRONG["REL_SF_PASSWORD"]}, None, None,
                     "error: salesforce login failed at ", id="wrong-salesforce-password"),
        pytest.param({"REL_HS_TOKEN": WRONG["REL_HS_TOKEN"]}, None, None,
                     "error: HubSpot GET /crm/v3/properties/deals: 401 ", id="wrong-hubspot-token"),
        pytest.param({"REL_SF_CLIENT_SECRET": ""}, None, None,
                     "error: {config}: sources.salesforce.client_secret_env: environment "
                     "variable REL_SF_CLIENT_SECRET is not set", id="missing-client-secret"),
        pytest.param({}, {"password_env": SECRETS["REL_SF_PASSWORD"]}, None,
                     "error: {config}: sources.salesforce.password_env: '****7f3a' is not an "
                     "environment variable name; this setting names the variable holding the "
                     "secret: put the secret in an environment variable and name that variable "
                     "here",
                     id="password-pasted-into-password_env"),
        pytest.param({}, None, {"token_env": SECRETS["REL_HS_TOKEN"]},
                     "error: {config}: sources.hubspot.token_env: '****5e9b' is not an "
                     "environment variable name; this setting names the variable holding the "
                     "secret: put the secret in an environment variable and name that variable "
                     "here",
                     id="token-pasted-into-token_env"),
        pytest.param({}, {"security_token_env": SECRETS["REL_SF_TOKEN"]}, None,
                     "error: {config}: sources.salesforce.security_token_env: the environment "
                     "variable it names is not set; the name is not shown because it does not "
                     "look like a variable name (UPPER_CASE letters, digits, _): if it is a "
                     "pasted secret, put the secret in the environment and name the variable "
                     "here",
                     id="token-of-letters-and-digits-pasted-into-security_token_env"),
    ],
)
def test_secrets_absent_from_error_paths(
    sb: Sandbox, tmp_path: Path, env: dict[str, str], sf_over: dict | None,
    hs_over: dict | None, prefix: str,
) -> None:
    config = cfg(tmp_path, sb, sf_over=sf_over, hs_over=hs_over)
    secrets = {k: v for k, v in {**SECRETS, **env}.items() if v}
    pasted = sf_over is not None or hs_over is not None
    commands = (("sync",), *((("run", "--json"), ("status",)) if pasted else ()))
    for args in commands:
        done = run_cli(config, *args, secrets=secrets)
        assert_clean(done.stdout + done.stderr, sb, " ".join(args))
        if args == ("sync",):
            refused = "login failed" in prefix or ": 401 " in prefix  # credentials refused: 6
            assert done.returncode == (6 if refused else 1)
            assert done.stderr.splitlines()[-1].startswith(prefix.format(config=config))
        if pasted and args == ("run", "--json"):
            # shown masked, or (a name that does not look like one) not shown at all
            shown = "****" if "****" in prefix else "the name is not shown"
            assert shown in done.stdout + done.stderr
    if (tmp_path / "store.duckdb").exists():
        scan_store(tmp_path / "store.duckdb", sb)


def test_secrets_absent_from_debug_logs_and_exceptions(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    root = logging.getLogger()
    loggers = [root, *(lg for lg in logging.root.manager.loggerDict.values()
                       if isinstance(lg, logging.Logger))]
    levels = {lg: lg.level for lg in loggers}
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    errors: list[BaseException] = []
    policy = RetryPolicy(attempts=2, jitter=0.0, sleep=Sleeps())
    try:
        with Store(tmp_path / "store.duckdb") as store:
            run_sync(store, SalesforceConnector(SalesforceSettings.model_validate(sf(sb)), "USD",
                                                policy=policy))
            run_sync(store, HubSpotConnector(HubSpotSettings.model_validate(hs(sb)), "USD",
                                             policy=policy))
            for name, value in WRONG.items():
                monkeypatch.setenv(name, value)
            for make in (
                lambda: SalesforceConnector(SalesforceSettings.model_validate(sf(sb)), "USD",
                                            policy=policy),
                lambda: HubSpotConnector(HubSpotSettings.model_validate(hs(sb)), "USD",
                                         policy=policy),
            ):
                with pytest.raises(ConnectorError) as caught:
                    run_sync(store, make())
                errors.append(caught.value)
    finally:
        root.removeHandler(handler)
        for lg, level in levels.items():
            lg.setLevel(level)
        handler.close()
    assert len(errors) == 2
    for exc in errors:
        text = "".join(traceback.format_exception(exc)) + repr(exc.args)
        assert_clean(text, sb, f"exception {type(exc).__name__}")
    log = log_file.read_text()
    assert "urllib3.connectionpool DEBUG" in log  # every logger wrote at DEBUG
    assert "/services/oauth2/token" in log
    assert_clean(log_file.read_bytes(), sb, "debug log")
    scan_store(tmp_path / "store.duckdb", sb)


@pytest.mark.parametrize(
    "partner_filter",
    [
        pytest.param("Type = 'Reseller\\' OR IsPartner = true OR Type = \\'x'",
                     id="escaped-quotes-stay-inside-the-value"),
        pytest.param("Name = 'O\\'Brien' OR Type = 'Nothing'", id="apostrophe-in-a-name"),
    ],
)
def test_soql_filter_value_with_a_quote_cannot_change_the_query(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partner_filter: str
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = SalesforceSettings.model_validate(
        sf(sb, partner_filter=partner_filter, streams=["partners"]))
    with Store(tmp_path / "store.duckdb") as store:
        run_sync(store, SalesforceConnector(settings, "USD",
                                            policy=RetryPolicy(attempts=1, sleep=Sleeps())))
        partners = store.con.execute("SELECT count(*) FROM partners").fetchone()
    assert partners == (0,)  # the OR inside the quoted value matched nothing


def test_soql_filter_cannot_break_out_of_its_parentheses(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="partner_filter"):
        SalesforceSettings.model_validate(
            sf(sb, partner_filter="IsPartner = true) OR (IsPartner = false"))
