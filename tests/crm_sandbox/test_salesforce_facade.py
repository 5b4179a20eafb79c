"""The Salesforce facade through the real, unpatched simple-salesforce client."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from tests.helpers.salesforce_world import API, N_LIVE_OPPS, NOW, auth, client, http, start_sandbox

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

BATCH_200 = {"Sforce-Query-Options": "batchSize=200"}
ID_RE = re.compile(r"^[0-9A-Za-z]{18}$")


@pytest.fixture(scope="module")
def sb():
    with start_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sf(sb):
    return client(sb)


def test_query_page_and_next_records_url(sb, sf):
    q = "SELECT Id, Name, Amount FROM Opportunity ORDER BY Name"
    first = sf.query(q, headers=BATCH_200)
    assert first["totalSize"] == N_LIVE_OPPS
    assert first["done"] is False
    assert len(first["records"]) == 200
    assert re.fullmatch(
        rf"/services/data/v{API}/query/01g[0-9A-Za-z]{{15}}-200", first["nextRecordsUrl"]
    )
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 200
    assert second["nextRecordsUrl"].endswith("-400")
    third = sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    assert third["done"] is True
    assert "nextRecordsUrl" not in third
    ids = [r["Id"] for page in (first, second, third) for r in page["records"]]
    assert len(ids) == len(set(ids)) == N_LIVE_OPPS
    assert all(ID_RE.match(i) and i.startswith("006") for i in ids)


def test_default_page_is_2000_and_query_all_collects_everything(sf):
    page = sf.query("SELECT Id FROM Opportunity")
    assert page["done"] is True
    assert len(page["records"]) == N_LIVE_OPPS
    assert (
        len(sf.query_all("SELECT Id FROM Opportunity", headers=BATCH_200)["records"]) == N_LIVE_OPPS
    )


def test_query_all_returns_deleted_rows(sb, sf):
    deleted_id = sb.salesforce.id_for("Opportunity", "D003")
    q = "SELECT Id, IsDeleted FROM Opportunity WHERE Name = 'Deleted deal'"
    assert sf.query(q)["records"] == []
    rows = sf.query(q, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(deleted_id, True)]
    hist = sf.query_all(
        f"SELECT Id, IsDeleted FROM OpportunityHistory WHERE OpportunityId = '{deleted_id}'",
        include_deleted=True,
    )["records"]
    assert len(hist) == 2
    assert all(h["IsDeleted"] for h in hist)


def test_relationships_null_parents_and_compound_address(sb, sf):
    q = (
        "SELECT Id, Amount, Partner_Account__r.Name, PartnerAccount.Name, Owner.Name, "
        "Owner.UserRole.Name, Account.BillingAddress, Account.BillingCountry FROM Opportunity "
        "WHERE Name IN ('Acme renewal', 'Direct deal') ORDER BY Name"
    )
    acme, direct = sf.query(q)["records"]
    assert acme["Partner_Account__r"]["Name"] == "Société Générale Partenaires"
    assert acme["PartnerAccount"]["attributes"]["type"] == "Account"
    assert acme["Owner"]["Name"] == "Rep One"
    assert acme["Owner"]["UserRole"]["Name"] == "EMEA Channel"
    assert acme["Amount"] == 25000.0
    address = acme["Account"]["BillingAddress"]
    assert set(address) == {
        "city",
        "country",
        "geocodeAccuracy",
        "latitude",
        "longitude",
        "postalCode",
        "state",
        "street",
    }
    assert address["country"] == acme["Account"]["BillingCountry"]
    assert direct["Partner_Account__r"] is None
    assert direct["PartnerAccount"] is None
    assert direct["Account"] is None
    assert direct["Owner"]["Name"] == "Rep Two"


def test_records_render_the_world(sb, sf):
    opp = sf.Opportunity.get(sb.salesforce.id_for("Opportunity", "D001"))
    assert opp["StageName"] == "Closed Won"
    assert opp["IsWon"] is True
    assert opp["IsClosed"] is True
    assert opp["Probability"] == 100.0
    assert opp["CloseDate"] == "2024-03-11"
    assert opp["CreatedDate"] == "2024-03-01T09:30:00.000+0000"
    assert opp["PartnerAccountId"] == sb.salesforce.id_for("Account", "P01")
    partner = sf.Account.get(opp["PartnerAccountId"])
    assert (partner["Type"], partner["IsPartner"]) == ("Partner", True)
    customer = sf.Account.get(sb.salesforce.id_for("Account", "customer:Acme Corp"))
    assert (customer["Type"], customer["IsPartner"]) == ("Customer", False)
    stages = sf.query(
        "SELECT ApiName, DefaultProbability, IsWon FROM OpportunityStage ORDER BY SortOrder"
    )
    assert [(s["ApiName"], s["DefaultProbability"]) for s in stages["records"]] == [
        ("Prospecting", 10.0),
        ("Negotiation", 60.0),
        ("Closed Won", 100.0),
        ("Closed Lost", 0.0),
    ]
    rates = sf.query(
        "SELECT IsoCode, ConversionRate, IsCorporate FROM CurrencyType ORDER BY IsoCode"
    )
    assert [(r["IsoCode"], r["ConversionRate"], r["IsCorporate"]) for r in rates["records"]] == [
        ("CAD", 1.25, False),
        ("USD", 1.0, True),
    ]
    lead = sf.query(
        "SELECT IsConverted, ConvertedDate, ConvertedOpportunityId FROM Lead "
        "WHERE Name = 'Lea Converted'"
    )
    assert lead["records"][0]["ConvertedOpportunityId"] == opp["Id"]
    assert lead["records"][0]["ConvertedDate"] == "2024-03-01"
    partners = sf.query(
        "SELECT AccountToId, Role, IsPrimary FROM OpportunityPartner "
        f"WHERE OpportunityId = '{opp['Id']}'"
    )
    assert partners["records"][0]["AccountToId"] == opp["PartnerAccountId"]
    user = sf.query(
        "SELECT Name, Department, Division, IsActive, UserRoleId FROM User WHERE Name = 'Rep Gone'"
    )
    assert user["records"][0]["IsActive"] is False


def test_describe(sf):
    desc = sf.Opportunity.describe()
    assert desc["name"] == "Opportunity"
    assert desc["keyPrefix"] == "006"
    fields = {f["name"]: f for f in desc["fields"]}
    assert fields["PartnerAccountId"]["type"] == "reference"
    assert fields["PartnerAccountId"]["referenceTo"] == ["Account"]
    assert fields["PartnerAccountId"]["relationshipName"] == "PartnerAccount"
    assert fields["Amount"]["type"] == "currency"
    for f in fields.values():
        assert {
            "name",
            "type",
            "label",
            "updateable",
            "custom",
            "nillable",
            "referenceTo",
            "relationshipName",
        } <= set(f)
    account = {f["name"]: f for f in sf.Account.describe()["fields"]}
    for name, type_ in [
        ("Partner_Win_Rate__c", "percent"),
        ("Partner_Avg_Deal_Size__c", "currency"),
        ("Partner_Quality_Score__c", "double"),
        ("Partner_Deals_Won__c", "double"),
        ("Partner_Won_Amount__c", "currency"),
    ]:
        assert (account[name]["type"], account[name]["updateable"], account[name]["custom"]) == (
            type_,
            True,
            True,
        )
    assert account["BillingAddress"]["type"] == "address"
    assert account["IsPartner"]["updateable"] is False


def _collection(sb, records, all_or_none=False):
    r = http(sb).patch(
        f"{sb.url}/services/data/v{API}/composite/sobjects",
        headers=auth(sb.salesforce.issue_token()),
        json={"allOrNone": all_or_none, "records": records},
    )
    return r.status_code, r.json()


def _kpis(sb, key, **values):
    return {"attributes": {"type": "Account"}, "id": sb.salesforce.id_for("Account", key), **values}


def test_composite_update_with_partial_failure(sb, sf):
    p1, p2 = sb.salesforce.id_for("Account", "P01"), sb.salesforce.id_for("Account", "P02")
    sb.salesforce.fail_record(p2, "Tier must be set before KPIs")
    try:
        result = sf.restful(
            "composite/sobjects",
            method="PATCH",
            data=json.dumps(
                {
                    "allOrNone": False,
                    "records": [
                        _kpis(
                            sb, "P01", Partner_Avg_Deal_Size__c=90000.0, Partner_Win_Rate__c=50.0
                        ),
                        _kpis(
                            sb, "P02", Partner_Avg_Deal_Size__c=25000.0, Partner_Win_Rate__c=75.0
                        ),
                    ],
                }
            ),
        )
    finally:
        sb.salesforce.clear_record_failures()
    assert result == [
        {"id": p1, "success": True, "errors": []},
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    "message": "Tier must be set before KPIs",
                    "fields": [],
                }
            ],
        },
    ]
    written = sf.Account.get(p1)
    assert written["Partner_Avg_Deal_Size__c"] == 90000.0
    assert written["Partner_Win_Rate__c"] == 50.0
    assert written["SystemModstamp"] == "2024-06-01T10:00:00.000+0000"
    assert sf.Account.get(p2)["Partner_Avg_Deal_Size__c"] is None


def test_composite_all_or_none_rolls_back_and_field_errors(sb, sf):
    p3 = sb.salesforce.id_for("Account", "customer:Acme Corp")
    status, result = _collection(
        sb,
        [
            _kpis(sb, "customer:Acme Corp", Partner_Quality_Score__c=7.5),
            _kpis(sb, "customer:Maple Inc", IsPartner=True),
            _kpis(sb, "customer:Filler Co", No_Such_Field__c=1),
        ],
        all_or_none=True,
    )
    assert status == 200
    assert result[0] == {
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the "
                "request was using AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert result[1]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert result[1]["errors"][0]["fields"] == ["IsPartner"]
    assert result[2]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.Account.get(p3)["Partner_Quality_Score__c"] is None
    _, bad = _collection(
        sb,
        [
            {
                "attributes": {"type": "Account"},
                "id": sb.salesforce.id_for("Opportunity", "D001"),
                "Name": "x",
            },
            _kpis(sb, "P03", Partner_Deals_Won__c=1),
            _kpis(sb, "P01", Partner_Deals_Won__c="many"),
        ],
    )
    assert [r["errors"][0]["statusCode"] for r in bad] == [
        "MALFORMED_ID",
        "ENTITY_IS_DELETED",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
    ]


def test_composite_rejects_more_than_200_records(sb):
    status, body = _collection(sb, [_kpis(sb, "P01", Partner_Deals_Won__c=1)] * 201)
    assert status == 400
    assert body[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_single_record_patch(sb, sf):
    p2 = sb.salesforce.id_for("Account", "P02")
    assert sf.Account.update(p2, {"Partner_Deals_Won__c": 3}) == 204
    assert sf.Account.get(p2)["Partner_Deals_Won__c"] == 3.0
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.update(p2, {"IsDeleted": True})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM", "MALFORMED_QUERY"),
        ("SELECT Id, Nme FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunityy", "INVALID_TYPE"),
    ],
)
def test_query_errors(sf, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(soql)
    assert err.value.status == 400
    [body] = err.value.content
    assert set(body) == {"message", "errorCode"}
    assert body["errorCode"] == code


def test_get_missing_or_deleted_record_is_404(sb, sf):
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Opportunity.get(sb.salesforce.id_for("Opportunity", "D003"))
    assert err.value.content == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]


def test_get_deleted(sb, sf):
    victim = sb.salesforce.create(
        "Opportunity", {"Name": "Short-lived", "StageName": "Prospecting"}
    )
    sb.salesforce.delete("Opportunity", victim)
    result = sf.Opportunity.deleted(NOW - timedelta(days=1), NOW + timedelta(minutes=1))
    assert {"id": victim, "deletedDate": "2024-06-01T10:00:00.000+0000"} in result["deletedRecords"]
    assert result["latestDateCovered"] == "2024-06-01T10:00:00.000+0000"  # min(end, now)
    older = sf.Opportunity.deleted(NOW - timedelta(days=120), NOW - timedelta(days=1))
    assert [r["id"] for r in older["deletedRecords"]] == [
        sb.salesforce.id_for("Opportunity", "D003")
    ]


def test_control_changes_bump_system_modstamp(sb, sf):
    opp = sb.salesforce.id_for("Opportunity", "F0001")
    sb.clock.advance(60)
    try:
        r = http(sb).post(
            f"{sb.url}/_sandbox/salesforce/update",
            json={
                "object_type": "Opportunity",
                "id": opp,
                "values": {"StageName": "Closed Won", "Amount": 1234.5},
            },
        )
        assert r.json() == {"ok": True}
        got = sf.Opportunity.get(opp)
        assert got["SystemModstamp"] == "2024-06-01T10:01:00.000+0000"
        assert (got["IsWon"], got["Amount"], got["Probability"]) == (True, 1234.5, 100.0)
        hist = sf.query(
            "SELECT StageName, CreatedDate FROM OpportunityHistory "
            f"WHERE OpportunityId = '{opp}' ORDER BY CreatedDate DESC LIMIT 1"
        )
        assert hist["records"][0]["StageName"] == "Closed Won"
        new_id = (
            http(sb)
            .post(
                f"{sb.url}/_sandbox/salesforce/create",
                json={
                    "object_type": "Account",
                    "values": {"Name": "New Partner", "Type": "Partner"},
                },
            )
            .json()["id"]
        )
        assert sf.Account.get(new_id)["IsPartner"] is True
        loser = sb.salesforce.create("Account", {"Name": "Old Partner", "Type": "Partner"})
        sb.salesforce.update("Opportunity", opp, {"PartnerAccountId": loser})
        http(sb).post(
            f"{sb.url}/_sandbox/salesforce/merge",
            json={"object_type": "Account", "winner_id": new_id, "loser_id": loser},
        ).raise_for_status()
        assert sf.Opportunity.get(opp)["PartnerAccountId"] == new_id
        merged = sf.query_all(
            f"SELECT IsDeleted, MasterRecordId FROM Account WHERE Id = '{loser}'",
            include_deleted=True,
        )
        assert merged["records"][0]["MasterRecordId"] == new_id
    finally:
        sb.clock.freeze(NOW)


def test_limits_and_limit_info_header(sb, sf):
    sf.query("SELECT Id FROM User")
    assert sf.api_usage["api-usage"].used == sb.salesforce.usage.used
    assert sf.api_usage["api-usage"].total == 15000
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15000
    assert limits["DailyApiRequests"]["Remaining"] == 15000 - sb.salesforce.usage.used


def test_request_limit_exceeded_is_403(sb, sf):
    used = sb.salesforce.usage.used
    sb.salesforce.exhaust_api_limit()
    try:
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.query("SELECT Id FROM User")
        assert err.value.content == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
    finally:
        sb.salesforce.set_api_usage(used=used)


def test_session_expiry_mid_pagination_kills_the_locator(sb):
    old = client(sb)
    first = old.query("SELECT Id FROM Opportunity ORDER BY Id", headers=BATCH_200)
    sb.salesforce.expire_sessions_after(1)
    second = old.query_more(first["nextRecordsUrl"], identifier_is_url=True)  # the 1 call left
    with pytest.raises(SalesforceExpiredSession) as err:
        old.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    assert err.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    new = client(sb)
    with pytest.raises(SalesforceMalformedRequest) as err:
        new.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    assert err.value.content == [
        {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
    ]
    assert (
        len(new.query_all("SELECT Id FROM Opportunity", headers=BATCH_200)["records"])
        >= N_LIVE_OPPS
    )


def test_oauth_token_endpoint(sb):
    s = http(sb)
    creds = sb.salesforce.credentials
    form = {
        "grant_type": "password",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "username": creds.username,
        "password": creds.password + creds.security_token,
    }
    body = s.post(f"{sb.url}/services/oauth2/token", data=form).json()
    assert set(body) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert body["instance_url"] == sb.url
    assert body["issued_at"] == str(int(NOW.timestamp() * 1000))
    assert client(sb, body["access_token"]).query("SELECT Id FROM User")["totalSize"] == 3
    cc = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    assert s.post(f"{sb.url}/services/oauth2/token", data=cc).status_code == 200
    bad = s.post(f"{sb.url}/services/oauth2/token", data=form | {"password": creds.password})
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "authentication failure"},
    )
    anon = s.get(f"{sb.url}/services/data/v{API}/limits")
    assert (anon.status_code, anon.json()) == (
        401,
        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )


def test_versions(sb):
    s = http(sb)
    versions = s.get(f"{sb.url}/services/data/").json()
    assert versions[0]["version"] == "40.0"
    assert versions[-1]["version"] == "66.0"
    assert {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"} in versions
    token = auth(sb.salesforce.issue_token())
    assert s.get(f"{sb.url}/services/data/v39.0/limits", headers=token).status_code == 404
    assert s.get(f"{sb.url}/services/data/v66.0/limits", headers=token).status_code == 200


def test_bulk2_query_csv_is_utf8_without_charset(sb, sf):
    ids = "', '".join(sb.salesforce.id_for("Account", k) for k in ("P01", "P02", "P03"))
    chunks = list(
        sf.bulk2.Account.query(
            "SELECT Id, Name, CreatedDate, IsPartner FROM Account "
            f"WHERE Id IN ('{ids}') ORDER BY Name",
            max_records=1,
            wait=0.01,
        )
    )
    assert len(chunks) == 2  # P02, P01 (P03 is deleted): one record per result page
    assert chunks[0].splitlines()[0] == '"Id","Name","CreatedDate","IsPartner"'
    # epoch = midnight 30 days before the World's first datetime (lead L01, 2024-02-27)
    assert (
        chunks[1]
        .splitlines()[1]
        .endswith('"Société Générale Partenaires","2024-01-28T00:00:00.000Z","true"')
    )
    s, token = http(sb), auth(sb.salesforce.issue_token())
    job = s.post(
        f"{sb.url}/services/data/v{API}/jobs/query",
        headers=token,
        json={
            "operation": "queryAll",
            "query": f"SELECT Id, Name FROM Account WHERE Id IN ('{ids}')",
        },
    ).json()
    assert job["state"] == "UploadComplete"
    assert (
        s.get(f"{sb.url}/services/data/v{API}/jobs/query/{job['id']}", headers=token).json()[
            "state"
        ]
        == "JobComplete"
    )
    r = s.get(f"{sb.url}/services/data/v{API}/jobs/query/{job['id']}/results", headers=token)
    assert r.headers["Content-Type"] == "text/csv"
    assert r.headers["Sforce-Locator"] == "null"
    assert r.headers["Sforce-NumberOfRecords"] == "3"
    assert "Société Générale Partenaires" in r.content.decode("utf-8")
    assert "Zürich Vertrieb AG" in r.content.decode("utf-8")  # queryAll: the deleted partner too
    assert "SociÃ©tÃ©" in r.text  # what a client falling back to ISO-8859-1 sees (case C-11)


def test_bulk2_rejects_compound_fields(sb):
    r = http(sb).post(
        f"{sb.url}/services/data/v{API}/jobs/query",
        headers=auth(sb.salesforce.issue_token()),
        json={"operation": "query", "query": "SELECT Id, BillingAddress FROM Account"},
    )
    assert r.status_code == 400
    assert r.json() == [
        {"message": "Selecting compound data not supported in Bulk Query", "errorCode": "API_ERROR"}
    ]
