"""Unit tests of the Salesforce connector against recorded-shape bodies (``responses``).

Every body comes from ``fixtures/salesforce/`` (shaped like ``fixtures/api-samples/salesforce-*``).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.errors import AuthError, ConfigError, FatalAPIError, LimitReachedError
from connectors.http import make_session
from connectors.salesforce import SalesforceSettings
from connectors.salesforce.auth import login
from connectors.salesforce.rows import flatten
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.salesforce import body, policy, raw_body, sync

LOGIN = "https://login.example.test"
INSTANCE = "https://example.my.salesforce.com"
DATA = f"{INSTANCE}/services/data/v60.0"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
QUERY = re.compile(re.escape(f"{DATA}/queryAll/") + r"\?.*")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SF_PASSWORD", "SF_TOKEN", "SF_CLIENT_ID", "SF_CLIENT_SECRET", "SF_ACCESS"):
        monkeypatch.setenv(name, f"value-of-{name}")


def settings(**overrides: Any) -> SalesforceSettings:
    data = {
        "auth": "password",
        "login_url": LOGIN,
        "username": "rep@example.com",
        "password_env": "SF_PASSWORD",
        "security_token_env": "SF_TOKEN",
        "client_id_env": "SF_CLIENT_ID",
        "client_secret_env": "SF_CLIENT_SECRET",
        "streams": ["deals"],
        "count_check": False,  # the completeness count is tested against the sandbox
        **overrides,
    }
    return SalesforceSettings.model_validate(data)


def add_login(rsps: responses.RequestsMock, times: int = 1) -> None:
    for _ in range(times):
        rsps.post(TOKEN_URL, json=body("oauth-token-response.json"))


def add_describes(rsps: responses.RequestsMock, usage: str = "api-usage=10/15000") -> None:
    headers = {"Sforce-Limit-Info": usage}
    rsps.get(f"{INSTANCE}/services/data/", json=body("versions.json"))
    rsps.get(
        f"{DATA}/sobjects/Opportunity/describe",
        json=body("describe-opportunity.json"),
        headers=headers,
    )
    rsps.get(
        f"{DATA}/sobjects/Account/describe", json=body("describe-account.json"), headers=headers
    )


def c01_pages(base_url: str = "") -> list[dict[str, Any]]:
    """The three C-01 pages with their generated records."""
    spec = body("c01-short-pages.json")
    pages = []
    for page in spec["pages"]:
        records = []
        for n in range(page["records_from"], page["records_to"] + 1):
            rid = spec["id_format"].format(n=n)
            text = json.dumps(spec["record_template"]).replace("{id}", rid).replace("{n}", str(n))
            records.append(json.loads(text))
        out = {k: page[k] for k in ("totalSize", "done")}
        if "nextRecordsUrl" in page:
            out["nextRecordsUrl"] = page["nextRecordsUrl"]
        out["records"] = records
        pages.append(out)
    return pages


def deal_rows(store: Store) -> list[tuple]:
    return store.con.execute(
        "SELECT deal_id, amount, created_at, updated_at, is_deleted FROM deals ORDER BY deal_id"
    ).fetchall()


# -- C-07: flattening ---------------------------------------------------------------------------
def test_flatten_relationship_paths_and_null_parents_c07() -> None:
    first, second = (flatten(r) for r in body("c07-relationship-fields.json")["records"])
    assert first["partner_account__r_name"] == "Partner North Ltd"
    assert first["owner_name"] == "Rep One"
    assert first["account_billingcountry"] == "France"
    assert first["account_billingaddress_city"] == "Lyon"
    assert [
        second.get(k)
        for k in (
            "partner_account__r_name",
            "owner_name",
            "account_billingcountry",
            "account_billingaddress_city",
        )
    ] == [None, "Rep Two", None, None]
    assert not any("attributes" in k or "url" in k or "type" in k for k in first)


# -- C-01: short pages --------------------------------------------------------------------------
@responses.activate
def test_pull_short_pages_reads_until_done_c01(env: None, sleeps: list) -> None:
    add_login(responses)
    add_describes(responses)
    first, second, third = c01_pages()
    responses.get(QUERY, json=first)
    responses.get(f"{INSTANCE}/services/data/v60.0/queryAll/0r8XX0000000001-1000", json=second)
    responses.get(f"{INSTANCE}/services/data/v60.0/queryAll/0r8XX0000000001-2000", json=third)
    store = Store(":memory:")
    result, connector = sync(store, settings(), sleeps)
    assert result.streams["deals"].pages == 3
    assert result.streams["deals"].inserted == 2500
    assert connector.totals["deals"] == 2500
    compute(store, KpiSettings(reporting_currency="USD"), ["quarter"])
    won = store.con.execute(
        "SELECT value FROM kpi_values WHERE grain = 'quarter' AND period_start = DATE '2024-01-01' "
        "AND dimension = 'overall' AND kpi = 'won_amount'"
    ).fetchall()
    assert won == [(Decimal("2500000.0000000000"),)]


@responses.activate
def test_pull_done_false_without_next_url_is_an_error(env: None, sleeps: list) -> None:
    add_login(responses)
    add_describes(responses)
    responses.get(QUERY, body=raw_body("page-done-false-without-next.json"))
    store = Store(":memory:")
    with pytest.raises(FatalAPIError, match="done=false but has no nextRecordsUrl"):
        sync(store, settings(), sleeps)
    status = store.con.execute("SELECT status FROM sync_runs").fetchall()
    assert status == [("failed",)]


# -- C-03 and amounts ---------------------------------------------------------------------------
@responses.activate
def test_pull_values_datetime_variants_and_exact_amounts_c03(env: None, sleeps: list) -> None:
    add_login(responses)
    add_describes(responses)
    responses.get(QUERY, body=raw_body("c03-values-page.json"))
    store = Store(":memory:")
    sync(store, settings(), sleeps)
    rows = deal_rows(store)
    t = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)
    assert [r[0] for r in rows] == [
        "006XX0000000031AAA",
        "006XX0000000032AAA",
        "006XX0000000033AAA",
    ]  # 034 is deleted and was never stored
    assert [r[1] for r in rows] == [Decimal("15000"), Decimal("20000.50"), Decimal("0.1")]
    assert rows[0][2] == t
    assert rows[1][2] == t
    assert rows[2][2] == datetime(2024, 4, 1, 4, 30, tzinfo=UTC)  # -05:00 -> April in UTC
    assert rows[1][3] == datetime(2024, 3, 31, 23, 30, 0, 123000, tzinfo=UTC)
    assert store.con.execute(
        "SELECT typeof(created_at), typeof(close_date) FROM deals LIMIT 1"
    ).fetchall() == [("TIMESTAMP WITH TIME ZONE", "DATE")]
    assert store.watermarks("salesforce").get("deals") == "2024-04-01T04:30:00.000000+00:00"


# -- C-08: session expiry mid-pagination --------------------------------------------------------
@responses.activate
def test_pull_session_expired_mid_pages_logs_in_again_and_requeries_c08(
    env: None, sleeps: list
) -> None:
    add_login(responses, times=2)
    add_describes(responses)
    first, _, third = c01_pages()
    locator = f"{INSTANCE}/services/data/v60.0/queryAll/0r8XX0000000001-1000"
    responses.get(QUERY, json=first)
    responses.get(locator, json=body("error-invalid-session.json"), status=401)
    rest = copy.deepcopy(first)
    rest.update(done=True, totalSize=1500)
    rest.pop("nextRecordsUrl")
    rest["records"] = first["records"][-1:] + c01_pages()[1]["records"] + third["records"]
    responses.get(QUERY, json=rest)
    store = Store(":memory:")
    result, connector = sync(store, settings(), sleeps)
    assert store.con.execute("SELECT count(DISTINCT deal_id) FROM deals").fetchall() == [(2500,)]
    calls = [c.request.url.split("?")[0] for c in responses.calls]
    assert calls.count(locator) == 1  # the dead locator is never asked again
    assert calls.count(TOKEN_URL) == 2
    assert connector.client.logins == 2
    requery = [
        c.request for c in responses.calls if c.request.url.startswith(f"{DATA}/queryAll/?")
    ][1]
    assert "SystemModstamp+%3E%3D+2024-02-16T09%3A50%3A00%2B00%3A00" in requery.url
    assert result.status == "ok"


@responses.activate
def test_pull_session_expired_again_after_new_login_fails_with_watermark_kept(
    env: None, sleeps: list
) -> None:
    add_login(responses, times=2)
    add_describes(responses)
    first = c01_pages()[0]
    responses.get(QUERY, json=first)
    responses.get(
        f"{INSTANCE}/services/data/v60.0/queryAll/0r8XX0000000001-1000",
        json=body("error-invalid-session.json"),
        status=401,
    )
    responses.get(QUERY, json=body("error-invalid-session.json"), status=401)
    store = Store(":memory:")
    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        sync(store, settings(), sleeps)
    assert store.watermarks("salesforce").get("deals") == "2024-02-16T10:00:00.000000+00:00"
    assert store.con.execute("SELECT status FROM sync_runs").fetchall() == [("failed",)]


# -- C-09: daily limit -------------------------------------------------------------------------
@responses.activate
def test_pull_request_limit_exceeded_stops_without_retry_c09(env: None, sleeps: list) -> None:
    add_login(responses)
    add_describes(responses)
    responses.get(QUERY, json=c01_pages()[0])
    locator = f"{INSTANCE}/services/data/v60.0/queryAll/0r8XX0000000001-1000"
    responses.get(locator, json=body("error-request-limit-exceeded.json"), status=403)
    store = Store(":memory:")
    with pytest.raises(LimitReachedError, match="API limit reached"):
        sync(store, settings(), sleeps)
    assert [c.request.url for c in responses.calls].count(locator) == 1
    assert sleeps == []
    assert store.con.execute("SELECT status FROM sync_runs").fetchall() == [("stopped",)]
    assert store.watermarks("salesforce").get("deals") == "2024-02-16T10:00:00.000000+00:00"


@responses.activate
def test_pull_stops_before_configured_share_of_allowance(env: None, sleeps: list) -> None:
    add_login(responses)
    add_describes(responses, usage="api-usage=78/100")
    responses.get(QUERY, json=c01_pages()[0], headers={"Sforce-Limit-Info": "api-usage=80/100"})
    store = Store(":memory:")
    with pytest.raises(LimitReachedError, match="80 of the org's 100 daily API calls"):
        sync(store, settings(), sleeps)
    assert len(responses.calls) == 5  # token, versions, 2 describes, 1 query: no next page
    assert store.con.execute("SELECT count(*) FROM deals").fetchall() == [(1000,)]


# -- retries, describe, auth -------------------------------------------------------------------
@responses.activate
def test_pull_retries_5xx_with_backoff(
    env: None, sleeps: list, caplog: pytest.LogCaptureFixture
) -> None:
    add_login(responses)
    add_describes(responses)
    responses.get(
        QUERY,
        json=[{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}],
        status=503,
    )
    responses.get(QUERY, body='{"totalSize": 3, "done": tr')  # cut short: not JSON
    responses.get(QUERY, body=raw_body("c03-values-page.json"))
    store = Store(":memory:")
    result, _ = sync(store, settings(), sleeps)
    assert result.streams["deals"].inserted == 3
    assert sleeps == [1.0, 2.0]
    assert [r.getMessage() for r in caplog.records if r.name == "connectors.salesforce.client"] == [
        "salesforce query Opportunity: HTTP 503 SERVER_UNAVAILABLE: Service Unavailable; try 2 again in 1.0 s",
        "salesforce query Opportunity: the response body is not valid JSON; try 3 again in 2.0 s",
    ]  # the error's own "salesforce <what>:" prefix, once


@responses.activate
def test_describe_missing_configured_field_is_one_line_config_error(
    env: None, sleeps: list
) -> None:
    add_login(responses)
    add_describes(responses)
    store = Store(":memory:")
    with pytest.raises(ConfigError) as caught:
        sync(store, settings(partner_field="Partner__c"), sleeps)
    assert str(caught.value) == (
        "salesforce: Opportunity has no field Partner__c (set by "
        "sources.salesforce.partner_field); check the API name in Setup, and field-level "
        "security on the integration user's profile or permission set (an admin sees the "
        "field, the API user does not)"
    )
    assert not [c for c in responses.calls if "query" in c.request.url]


@responses.activate
def test_login_client_credentials_posts_the_grant(env: None, sleeps: list) -> None:
    add_login(responses)
    got = login(settings(auth="client_credentials"), make_session(), policy=policy(sleeps))
    assert got.instance_url == INSTANCE
    sent = responses.calls[0].request.body
    assert "grant_type=client_credentials" in sent
    assert "client_id=value-of-SF_CLIENT_ID" in sent


@responses.activate
def test_login_jwt_bearer_signs_an_assertion(env: None, sleeps: list, tmp_path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "server.key"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    add_login(responses)
    login(
        settings(auth="jwt", private_key_file=str(pem), client_secret_env=None),
        make_session(),
        policy=policy(sleeps),
    )
    form = dict(p.split("=", 1) for p in responses.calls[0].request.body.split("&"))
    assert form["grant_type"] == "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    claims = jwt.decode(form["assertion"], key.public_key(), algorithms=["RS256"], audience=LOGIN)
    assert (claims["iss"], claims["sub"]) == ("value-of-SF_CLIENT_ID", "rep@example.com")


def test_login_access_token_needs_no_request(env: None, sleeps: list) -> None:
    got = login(
        settings(auth="access_token", access_token_env="SF_ACCESS", instance_url=INSTANCE),
        requests.Session(),
        policy=policy(sleeps),
    )
    assert got == type(got)(INSTANCE, "value-of-SF_ACCESS")


@responses.activate
def test_login_refused_names_the_oauth_error(env: None, sleeps: list) -> None:
    responses.post(TOKEN_URL, json=body("oauth-error-invalid-grant.json"), status=400)
    with pytest.raises(AuthError, match=r"invalid_grant \(authentication failure\)"):
        login(settings(), make_session(), policy=policy(sleeps))


def test_login_missing_secret_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, sleeps: list
) -> None:
    monkeypatch.delenv("SF_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="SF_PASSWORD is not set"):
        login(settings(), make_session(), policy=policy(sleeps))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth": "jwt", "private_key_file": None}, "auth jwt needs private_key_file"),
        ({"auth": "access_token"}, "auth access_token needs access_token_env, instance_url"),
        ({"partner_field": "Partner Account"}, "is not a Salesforce field API name"),
        ({"password_env": "hunter2!"}, "is not an environment variable name"),
        ({"pasword_env": "X"}, "Extra inputs are not permitted"),
    ],
    ids=["jwt-key", "access-token", "field-name", "secret-in-config", "typo"],
)
def test_settings_reject_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings(**overrides)


def test_settings_defaults() -> None:
    s = settings()
    assert (s.partner_field, s.partner_filter, s.owner_team_field, s.owner_unit_field) == (
        "PartnerAccountId",
        "IsPartner = true",
        "UserRole.Name",
        "Division",
    )
    assert (s.lookback_seconds, s.bulk_threshold, s.max_api_share, s.sweep_interval_days) == (
        600,
        50000,
        0.8,
        7,
    )


def test_config_example_section_documents_every_setting() -> None:
    import yaml

    from tests.helpers.salesforce import ROOT

    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    section = text[text.index("# >>> salesforce") : text.index("# <<< salesforce")]
    lines = [
        line.strip()[2:] if line.strip().startswith("# ") else ""
        for line in section.splitlines()[2:]
    ]
    block = "\n".join(line for line in lines if line.startswith(("salesforce:", "  ")))
    parsed = yaml.safe_load(block)["salesforce"]
    SalesforceSettings.model_validate({**parsed, "login_url": LOGIN})
    documented = {w.split(":")[0].strip("# ") for w in section.splitlines() if ":" in w}
    assert set(SalesforceSettings.model_fields) <= documented
