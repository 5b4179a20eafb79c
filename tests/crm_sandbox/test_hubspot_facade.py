"""The HubSpot facade through the real, unpatched hubspot-api-client against the HTTPS Sandbox."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.companies import BatchInputSimplePublicObjectBatchInput
from hubspot.crm.deals import (
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
)
from hubspot.crm.deals.exceptions import ApiException as DealsApiException
from hubspot.crm.properties import PropertyCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from werkzeug import Request
from werkzeug.test import Client

from crm_sandbox.core import Clock
from crm_sandbox.hubspot import DEFAULT_TOKEN, HubSpotFacade
from crm_sandbox.server import Sandbox
from crm_sandbox.world import Deal, Owner, Partner, Stage, World
from tests.helpers.hubspot_world import small_world, ts

#: every test here starts the CRM sandbox
pytestmark = pytest.mark.slow

NOW = "2024-06-01T10:00:00.000Z"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(small_world(), clock=Clock(ts(NOW))) as sb:
        yield sb


def hs(sb: Sandbox, token: str = DEFAULT_TOKEN) -> HubSpot:
    """A real hubspot-api-client pointed at the sandbox (host + CA bundle, nothing patched)."""
    return HubSpot(access_token=token, host=sb.url, ssl_ca_cert=sb.ca_bundle)


def raw(sb: Sandbox, method: str, path: str, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    return requests.request(
        method, sb.url + path, headers=headers, verify=sb.ca_bundle, timeout=10, **kwargs
    )


# -- list ----------------------------------------------------------------------------------------


def test_list_pages_follow_after_cursor_in_id_order(sandbox: Sandbox) -> None:
    client = hs(sandbox)
    fac = sandbox.hubspot
    page = client.crm.deals.basic_api.get_page(
        limit=2, properties=["amount", "dealstage", "amount_in_home_currency", "closedate"]
    )
    assert [d.id for d in page.results] == [fac.deal_id("D1"), fac.deal_id("D2")]
    first = page.results[0]
    assert first.properties == {
        "amount": "10000.50",
        "amount_in_home_currency": "10000.50",
        "closedate": "2024-04-10T00:00:00.000Z",
        "createdate": "2024-01-05T09:00:00.000Z",
        "dealstage": "closedwon",
        "hs_lastmodifieddate": "2024-04-10T15:30:00.123Z",
        "hs_object_id": fac.deal_id("D1"),
    }
    assert first.archived is False
    assert page.paging.next.after == fac.deal_id("D3")
    assert page.paging.next.link.endswith(f"after={fac.deal_id('D3')}")

    ids = [d.id for d in page.results]
    after = page.paging.next.after
    while after:
        page = client.crm.deals.basic_api.get_page(limit=2, after=after)
        ids += [d.id for d in page.results]
        after = page.paging.next.after if page.paging else None
    # D5 is archived: plain lists never show it.
    assert ids == [fac.deal_id(k) for k in ("D1", "D2", "D3", "D4", "D6", "D7")]


def test_list_default_properties_and_strings_as_hubspot_sends_them(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    body = raw(sandbox, "GET", "/crm/v3/objects/deals?limit=100").json()
    by_id = {d["id"]: d for d in body["results"]}
    d2 = by_id[fac.deal_id("D2")]
    # C-04: a deal without amount has "" (not 0, not a number).
    assert d2["properties"] == {
        "amount": "",
        "closedate": "2024-05-10T00:00:00.000Z",
        "createdate": "2024-02-01T08:00:00.000Z",
        "dealname": "Deal D2",
        "dealstage": "closedwon",
        "hs_lastmodifieddate": "2024-05-10T12:00:00.000Z",
        "hs_object_id": fac.deal_id("D2"),
        "pipeline": "default",
    }
    assert by_id[fac.deal_id("D4")]["properties"]["closedate"] is None
    assert "paging" not in body


def test_amount_in_home_currency_and_custom_properties(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    props = "amount,deal_currency_code,amount_in_home_currency,partner_company_id,hubspot_owner_id"
    body = raw(sandbox, "GET", f"/crm/v3/objects/deals?limit=100&properties={props}").json()
    got = {
        d["id"]: (
            d["properties"]["amount"],
            d["properties"]["deal_currency_code"],
            d["properties"]["amount_in_home_currency"],
            d["properties"]["partner_company_id"],
            d["properties"]["hubspot_owner_id"],
        )
        for d in body["results"]
    }
    p1, p2, u1, u3 = (
        fac.company_id("P01"),
        fac.company_id("P02"),
        fac.owner_id("U1"),
        fac.owner_id("U3"),
    )
    assert got[fac.deal_id("D2")] == ("", "USD", "", p1, fac.owner_id("U2"))
    assert got[fac.deal_id("D3")] == ("8000", "EUR", "10000", p2, u1)  # 8000 / 0.8
    assert got[fac.deal_id("D4")] == ("50000", "EUR", "62500", p2, u3)
    assert got[fac.deal_id("D6")] == ("7000", "CAD", "5600", p2, u1)  # 7000 / 1.25
    assert got[fac.deal_id("D7")] == ("300", "USD", "300", None, u1)


def test_limit_over_100_is_a_validation_error(sandbox: Sandbox) -> None:
    with pytest.raises(DealsApiException) as err:
        hs(sandbox).crm.deals.basic_api.get_page(limit=101)
    assert err.value.status == 400
    body = json.loads(err.value.body)
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"] == [{"message": body["message"], "in": "limit"}]
    assert set(body) == {"status", "message", "correlationId", "category", "errors"}


def test_companies_partner_and_customer_types_non_ascii(sandbox: Sandbox) -> None:
    client = hs(sandbox)
    fac = sandbox.hubspot
    page = client.crm.companies.basic_api.get_page(limit=100, properties=["name", "type", "domain"])
    by_id = {c.id: c.properties for c in page.results}
    assert by_id[fac.company_id("P01")]["name"] == "Société Générale Partenaires"
    assert by_id[fac.company_id("P01")]["type"] == "RESELLER"
    assert by_id[fac.company_id("P01")]["domain"] == "societe-generale-partenaires.example.com"
    assert by_id[fac.company_id("P02")]["type"] == "PARTNER"
    assert by_id[fac.company_id("P03")]["name"] == "北京合作伙伴有限公司"
    assert by_id[fac.customer_company_id("Acme Corp")]["type"] == "CUSTOMER"
    assert by_id[fac.customer_company_id("Initech")]["type"] == "PROSPECT"
    assert len(by_id) == 3 + 5  # partners + distinct account names


def test_contacts_from_leads_with_partner_company(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    body = raw(sandbox, "GET", "/crm/v3/objects/contacts?associations=companies").json()
    (contact,) = body["results"]  # L2 is archived
    assert contact["properties"] == {
        "createdate": "2024-03-03T09:15:00.000Z",
        "email": "eve.durand@example.org",
        "firstname": "Ève",
        "hs_object_id": contact["id"],
        "lastmodifieddate": "2024-03-03T09:15:00.000Z",
        "lastname": "Durand",
    }
    assert {a["id"] for a in contact["associations"]["companies"]["results"]} == {
        fac.company_id("P01")
    }
    archived = raw(sandbox, "GET", "/crm/v3/objects/contacts?archived=true").json()
    assert [c["properties"]["lastname"] for c in archived["results"]] == ["Lee"]


# -- archive (C-06) ------------------------------------------------------------------------------


def test_archive_keeps_lastmodified_and_only_archived_list_shows_it(sandbox: Sandbox) -> None:
    client = hs(sandbox)
    fac = sandbox.hubspot
    d1 = fac.deal_id("D1")
    sandbox.clock.advance(3600)
    fac.delete("deals", d1)
    archived = client.crm.deals.basic_api.get_page(archived=True, limit=100)
    assert [d.id for d in archived.results] == [d1, fac.deal_id("D5")]
    body = raw(sandbox, "GET", "/crm/v3/objects/deals?archived=true&limit=100").json()
    entry = next(d for d in body["results"] if d["id"] == d1)
    assert entry["archived"] is True
    assert entry["archivedAt"] == "2024-06-01T11:00:00.000Z"
    assert entry["properties"]["hs_lastmodifieddate"] == "2024-04-10T15:30:00.123Z"
    assert entry["updatedAt"] == "2024-04-10T15:30:00.123Z"
    search = client.crm.deals.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(limit=100)
    )
    assert d1 not in {d.id for d in search.results}
    assert search.total == 5
    with pytest.raises(DealsApiException) as err:
        client.crm.deals.basic_api.get_by_id(d1)
    assert err.value.status == 404


# -- search --------------------------------------------------------------------------------------


def _search(sb: Sandbox, **body) -> dict:
    resp = raw(sb, "POST", "/crm/v3/objects/deals/search", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_search_filters_or_groups_and_datetime_as_instants(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    client = hs(sandbox)
    iso = "2024-05-10T12:00:00Z"
    millis = str(int(ts(iso).timestamp() * 1000))
    by_iso = _search(
        sandbox,
        filterGroups=[
            {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": iso}]}
        ],
    )
    by_ms = _search(
        sandbox,
        filterGroups=[
            {
                "filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": millis}
                ]
            }
        ],
    )
    expected = [fac.deal_id(k) for k in ("D2", "D3", "D4")]
    assert [r["id"] for r in by_iso["results"]] == expected
    assert [r["id"] for r in by_ms["results"]] == expected
    assert by_iso["total"] == 3

    # (won AND amount > 5000) OR (pipeline stage IN open stages), sorted by two rules.
    result = client.crm.deals.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
                        {"propertyName": "amount", "operator": "GT", "value": "5000"},
                    ]
                },
                {
                    "filters": [
                        {
                            "propertyName": "dealstage",
                            "operator": "IN",
                            "values": ["appointmentscheduled", "qualifiedtobuy"],
                        }
                    ]
                },
            ],
            sorts=[
                {"propertyName": "dealstage", "direction": "ASCENDING"},
                {"propertyName": "amount", "direction": "DESCENDING"},
            ],
            properties=["dealstage", "amount"],
            limit=10,
        )
    )
    assert [(r.properties["dealstage"], r.properties["amount"]) for r in result.results] == [
        ("appointmentscheduled", "300"),
        ("closedwon", "10000.50"),
        ("qualifiedtobuy", "50000"),
    ]
    assert result.total == 3
    assert result.paging is None


def test_search_has_property_between_not_in(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot

    def ids(*filters) -> list[str]:
        return [
            r["id"] for r in _search(sandbox, filterGroups=[{"filters": list(filters)}])["results"]
        ]

    assert ids({"propertyName": "amount", "operator": "NOT_HAS_PROPERTY"}) == [fac.deal_id("D2")]
    assert fac.deal_id("D2") not in ids({"propertyName": "amount", "operator": "HAS_PROPERTY"})
    assert ids(
        {
            "propertyName": "closedate",
            "operator": "BETWEEN",
            "value": "2024-04-01",
            "highValue": "2024-05-31T23:59:59.999Z",
        }
    ) == [fac.deal_id(k) for k in ("D1", "D2", "D6")]
    assert ids(
        {"propertyName": "deal_currency_code", "operator": "NOT_IN", "values": ["USD", "EUR"]}
    ) == [fac.deal_id("D6")]
    assert ids({"propertyName": "amount", "operator": "LT", "value": 1000}) == [fac.deal_id("D7")]


def test_search_paging_by_offset_and_validation_limits(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    page1 = _search(sandbox, limit=4)
    assert page1["total"] == 6
    assert page1["paging"] == {"next": {"after": "4", "link": "?after=4"}}
    page2 = _search(sandbox, limit=4, after=page1["paging"]["next"]["after"])
    assert [r["id"] for r in page2["results"]] == [fac.deal_id("D6"), fac.deal_id("D7")]
    assert "paging" not in page2

    too_many_groups = [
        {"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}]} for _ in range(6)
    ]
    resp = raw(
        sandbox, "POST", "/crm/v3/objects/deals/search", json={"filterGroups": too_many_groups}
    )
    assert resp.status_code == 400
    assert resp.json()["category"] == "VALIDATION_ERROR"
    resp = raw(sandbox, "POST", "/crm/v3/objects/deals/search", json={"limit": 201})
    assert resp.status_code == 400


def test_search_stops_at_10000_results() -> None:
    world = _big_world(10_050)
    with Sandbox(world, clock=Clock(ts(NOW))) as sb:
        client = hs(sb)
        after = None
        seen = 0
        while True:
            kwargs = {"limit": 200, "properties": ["amount"]}
            if after is not None:
                kwargs["after"] = after
            request = PublicObjectSearchRequest(**kwargs)
            if after == "10000":
                with pytest.raises(DealsApiException) as err:
                    client.crm.deals.search_api.do_search(public_object_search_request=request)
                break
            page = client.crm.deals.search_api.do_search(public_object_search_request=request)
            assert page.total == 10_050
            seen += len(page.results)
            after = page.paging.next.after
    assert seen == 10_000
    assert err.value.status == 400
    body = json.loads(err.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["status"] == "error"


# -- batch read / update -------------------------------------------------------------------------


def test_batch_read_properties_with_history_newest_first(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    client = hs(sandbox)
    result = client.crm.deals.batch_api.read(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            inputs=[{"id": fac.deal_id("D1")}],
            properties=["dealstage", "amount"],
            properties_with_history=["dealstage"],
        )
    )
    assert result.status == "COMPLETE"
    (deal,) = result.results
    assert deal.properties["amount"] == "10000.50"
    body = raw(
        sandbox,
        "POST",
        "/crm/v3/objects/deals/batch/read",
        json={
            "inputs": [{"id": fac.deal_id("D1")}],
            "properties": ["dealstage"],
            "propertiesWithHistory": ["dealstage"],
        },
    ).json()
    user = f"userId:{fac.owners[int(fac.owner_id('U1'))].user_id}"
    assert body["results"][0]["propertiesWithHistory"] == {
        "dealstage": [
            {
                "value": "closedwon",
                "timestamp": "2024-04-10T15:30:00.000Z",
                "sourceType": "CRM_UI",
                "sourceId": user,
            },
            {
                "value": "qualifiedtobuy",
                "timestamp": "2024-02-01T10:00:00.000Z",
                "sourceType": "CRM_UI",
                "sourceId": user,
            },
            {
                "value": "appointmentscheduled",
                "timestamp": "2024-01-05T09:00:00.000Z",
                "sourceType": "CRM_UI",
                "sourceId": user,
            },
        ]
    }

    # A stage change through the control lands on top of the history.
    sandbox.clock.advance(60)
    fac.update("deals", fac.deal_id("D4"), {"dealstage": "Lost"})
    body = raw(
        sandbox,
        "POST",
        "/crm/v3/objects/deals/batch/read",
        json={
            "inputs": [{"id": fac.deal_id("D4")}, {"id": "123"}],
            "propertiesWithHistory": ["dealstage"],
        },
    )
    assert body.status_code == 207
    data = body.json()
    history = data["results"][0]["propertiesWithHistory"]["dealstage"]
    assert [h["value"] for h in history] == ["closedlost", "qualifiedtobuy", "appointmentscheduled"]
    assert history[0]["timestamp"] == "2024-06-01T10:01:00.000Z"
    assert data["results"][0]["properties"]["hs_lastmodifieddate"] == "2024-06-01T10:01:00.000Z"
    assert data["numErrors"] == 1
    assert data["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert data["errors"][0]["context"] == {"ids": ["123"]}


def test_batch_update_one_failing_input_gives_207(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    client = hs(sandbox)
    p1, p2, p3 = (fac.company_id(k) for k in ("P01", "P02", "P03"))
    fac.fail_record("companies", p2, "VALIDATION_ERROR", "Tier must be set before KPIs")
    sandbox.clock.advance(5)
    result = client.crm.companies.batch_api.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {
                    "id": p1,
                    "properties": {"partner_win_rate": "0.5", "partner_avg_deal_size": "90000"},
                },
                {"id": p2, "properties": {"partner_win_rate": "0.75"}},
                {"id": p3, "properties": {"partner_not_a_property": "1"}},
            ]
        )
    )
    assert result.status == "COMPLETE"
    assert result.num_errors == 2
    assert [r.id for r in result.results] == [p1]
    assert result.results[0].properties == {
        "createdate": "2015-03-02T14:05:11.487Z",
        "hs_lastmodifieddate": "2024-06-01T10:00:05.000Z",
        "hs_object_id": p1,
        "partner_avg_deal_size": "90000",
        "partner_win_rate": "0.5",
    }
    errors = {e.context["ids"][0]: e for e in result.errors}
    assert errors[p2].category == "VALIDATION_ERROR"
    assert errors[p2].message == "Tier must be set before KPIs"
    assert errors[p3].category == "VALIDATION_ERROR"
    assert "PROPERTY_DOESNT_EXIST" in errors[p3].message
    # Nothing was written for the failed inputs.
    assert fac.record("companies", p2).props.get("partner_win_rate") is None
    assert fac.record("companies", p1).props["partner_win_rate"] == "0.5"


def test_batch_update_all_ok_is_200_and_over_100_inputs_is_400(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    p1 = fac.company_id("P01")
    resp = raw(
        sandbox,
        "POST",
        "/crm/v3/objects/companies/batch/update",
        json={"inputs": [{"id": p1, "properties": {"partner_deals_won": 2}}]},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "COMPLETE"
    assert "errors" not in body
    assert body["results"][0]["properties"]["partner_deals_won"] == "2"
    assert body["startedAt"] == body["completedAt"] == NOW
    many = [{"id": p1, "properties": {"partner_deals_won": "1"}}] * 101
    resp = raw(sandbox, "POST", "/crm/v3/objects/companies/batch/update", json={"inputs": many})
    assert resp.status_code == 400
    assert resp.json()["category"] == "VALIDATION_ERROR"


# -- auth ----------------------------------------------------------------------------------------


def test_bad_or_rotated_token_is_401_invalid_authentication(sandbox: Sandbox) -> None:
    with pytest.raises(DealsApiException) as err:
        hs(sandbox, token="not-a-token").crm.deals.basic_api.get_page()
    assert err.value.status == 401
    body = json.loads(err.value.body)
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    sandbox.hubspot.set_token("pat-na1-rotated")
    with pytest.raises(DealsApiException):
        hs(sandbox).crm.deals.basic_api.get_page()
    assert hs(sandbox, "pat-na1-rotated").crm.deals.basic_api.get_page(limit=1).results
    resp = raw(sandbox, "GET", "/crm/v3/owners/", headers={})
    assert resp.status_code == 401


def test_oauth_refresh_issues_a_working_token(sandbox: Sandbox) -> None:
    resp = raw(
        sandbox,
        "POST",
        "/oauth/v1/token",
        headers={},
        data={"grant_type": "refresh_token", "refresh_token": "sandbox-refresh-token"},
    )
    assert resp.status_code == 200
    token = resp.json()["access_token"]
    assert hs(sandbox, token).crm.deals.basic_api.get_page(limit=1).results


# -- pipelines, owners, associations, properties, account ---------------------------------------


def test_pipeline_stage_ids_and_string_metadata(sandbox: Sandbox) -> None:
    result = hs(sandbox).crm.pipelines.pipelines_api.get_all(object_type="deals")
    (pipeline,) = result.results
    assert pipeline.id == "default"
    assert [(s.id, s.label, s.metadata) for s in pipeline.stages] == [
        ("appointmentscheduled", "Prospecting", {"isClosed": "false", "probability": "0.1"}),
        ("qualifiedtobuy", "Engaging", {"isClosed": "false", "probability": "0.4"}),
        ("closedwon", "Won", {"isClosed": "true", "probability": "1.0"}),
        ("closedlost", "Lost", {"isClosed": "true", "probability": "0.0"}),
        ("1234567", "Won (Renewal)", {"isClosed": "true", "probability": "1.0"}),
    ]
    single = raw(sandbox, "GET", "/crm/v3/pipelines/deals/default").json()
    assert single["stages"][4]["metadata"] == {"isClosed": "true", "probability": "1.0"}


def test_owners_active_by_default_archived_only_with_flag(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    client = hs(sandbox)
    active = client.crm.owners.owners_api.get_page(limit=100)
    assert [o.email for o in active.results] == ["rep.one@example.com", "zoe@example.com"]
    one = active.results[0]
    assert (one.first_name, one.last_name, one.user_id, one.archived) == (
        "Rep",
        "One",
        50000001,
        False,
    )
    assert [(t.id, t.name, t.primary) for t in one.teams] == [("7000001", "East", True)]
    assert active.results[1].first_name == "Zoë"
    assert active.results[1].teams is None

    archived = raw(sandbox, "GET", "/crm/v3/owners/?archived=true&limit=100").json()
    assert archived["results"] == [
        {
            "id": fac.owner_id("U2"),
            "email": "rep.two@example.com",
            "type": "PERSON",
            "firstName": "",
            "lastName": "",
            "userId": None,
            "userIdIncludingInactive": 50000002,
            "createdAt": "2015-03-02T14:05:11.487Z",
            "updatedAt": "2015-03-02T14:05:11.487Z",
            "archived": True,
            "teams": [{"id": "7000001", "name": "East", "primary": True}],
        }
    ]
    fac.archive_owner(fac.owner_id("U1"))
    page = client.crm.owners.owners_api.get_page(limit=1, archived=True)
    assert [o.id for o in page.results] == [fac.owner_id("U1")]
    assert page.paging.next.after == fac.owner_id("U2")
    assert page.results[0].updated_at.isoformat() == "2024-06-01T10:00:00+00:00"


def test_associations_v4_partner_label_and_primary_customer(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    empty_deal = fac.create("deals", {"dealname": "Lonely", "dealstage": "Prospecting"})
    result = raw(
        sandbox,
        "POST",
        "/crm/v4/associations/deals/companies/batch/read",
        json={"inputs": [{"id": fac.deal_id("D1")}, {"id": fac.deal_id("D7")}, {"id": empty_deal}]},
    )
    assert result.status_code == 207
    body = result.json()
    assert body["results"] == [
        {
            "from": {"id": fac.deal_id("D1")},
            "to": [
                {
                    "toObjectId": int(fac.company_id("P01")),
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 341, "label": None},
                        {"category": "USER_DEFINED", "typeId": 31, "label": "Partner"},
                    ],
                },
                {
                    "toObjectId": int(fac.customer_company_id("Acme Corp")),
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"},
                        {"category": "HUBSPOT_DEFINED", "typeId": 341, "label": None},
                    ],
                },
            ],
        },
        {
            "from": {"id": fac.deal_id("D7")},
            "to": [
                {
                    "toObjectId": int(fac.customer_company_id("Hooli")),
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"},
                        {"category": "HUBSPOT_DEFINED", "typeId": 341, "label": None},
                    ],
                }
            ],
        },
    ]
    assert body["numErrors"] == 1
    assert body["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"

    typed = hs(sandbox).crm.associations.v4.batch_api.get_page(
        from_object_type="deals",
        to_object_type="companies",
        batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[{"id": fac.deal_id("D3")}]
        ),
    )
    labels = {
        (str(t.to_object_id), a.label)
        for r in typed.results
        for t in r.to
        for a in t.association_types
    }
    assert (fac.company_id("P02"), "Partner") in labels


def test_properties_kpi_group_and_create_conflict(sandbox: Sandbox) -> None:
    client = hs(sandbox)
    props = client.crm.properties.core_api.get_all(object_type="companies")
    kpis = {
        p.name: (p.type, p.field_type, p.group_name)
        for p in props.results
        if p.group_name == "partnerkpi"
    }
    assert kpis == {
        "partner_win_rate": ("number", "number", "partnerkpi"),
        "partner_avg_deal_size": ("number", "number", "partnerkpi"),
        "partner_quality_score": ("number", "number", "partnerkpi"),
        "partner_deals_won": ("number", "number", "partnerkpi"),
        "partner_won_amount": ("number", "number", "partnerkpi"),
        "kpi_period": ("string", "text", "partnerkpi"),
        "kpi_as_of": ("date", "date", "partnerkpi"),
    }
    new = PropertyCreate(
        name="partner_open_pipeline",
        label="Partner open pipeline",
        type="number",
        field_type="number",
        group_name="partnerkpi",
    )
    created = client.crm.properties.core_api.create(object_type="companies", property_create=new)
    assert created.name == "partner_open_pipeline"
    with pytest.raises(PropertiesApiException) as err:
        client.crm.properties.core_api.create(object_type="companies", property_create=new)
    assert err.value.status == 409
    assert json.loads(err.value.body)["category"] == "OBJECT_ALREADY_EXISTS"
    got = client.crm.properties.core_api.get_by_name(
        object_type="companies", property_name="partner_open_pipeline"
    )
    assert got.group_name == "partnerkpi"


def test_account_details(sandbox: Sandbox) -> None:
    body = raw(sandbox, "GET", "/account-info/v3/details").json()
    assert body == {
        "portalId": 4815162,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": ["CAD", "EUR"],
        "utcOffset": "-04:00",
        "utcOffsetMilliseconds": -14400000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }


def test_rate_limit_headers_search_only_daily(sandbox: Sandbox) -> None:
    listing = raw(sandbox, "GET", "/crm/v3/objects/deals?limit=1")
    names = {k for k in listing.headers if k.lower().startswith("x-hubspot-ratelimit")}
    assert {n.lower() for n in names} == {
        "x-hubspot-ratelimit-daily",
        "x-hubspot-ratelimit-daily-remaining",
        "x-hubspot-ratelimit-interval-milliseconds",
        "x-hubspot-ratelimit-max",
        "x-hubspot-ratelimit-remaining",
        "x-hubspot-ratelimit-secondly",
        "x-hubspot-ratelimit-secondly-remaining",
    }
    assert listing.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    search = raw(sandbox, "POST", "/crm/v3/objects/deals/search", json={})
    names = {k.lower() for k in search.headers if k.lower().startswith("x-hubspot-ratelimit")}
    assert names == {"x-hubspot-ratelimit-daily", "x-hubspot-ratelimit-daily-remaining"}
    assert (
        int(search.headers["X-HubSpot-RateLimit-Daily-Remaining"])
        == int(listing.headers["X-HubSpot-RateLimit-Daily-Remaining"]) - 1
    )


# -- controls ------------------------------------------------------------------------------------


def test_update_mid_sync_bumps_lastmodified_c02(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    client = hs(sandbox)
    page = client.crm.deals.basic_api.get_page(
        limit=2, properties=["amount", "hs_lastmodifieddate"]
    )
    assert page.results[0].properties["amount"] == "10000.50"
    sandbox.clock.advance(5)
    fac.update("deals", fac.deal_id("D1"), {"amount": Decimal("5000")})
    found = client.crm.deals.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "GT",
                            "value": "2024-06-01T10:00:00Z",
                        }
                    ]
                }
            ],
            properties=["amount", "amount_in_home_currency"],
        )
    )
    assert [
        (r.id, r.properties["amount"], r.properties["amount_in_home_currency"])
        for r in found.results
    ] == [(fac.deal_id("D1"), "5000", "5000")]
    assert found.results[0].properties["hs_lastmodifieddate"] == "2024-06-01T10:00:05.000Z"


def test_merge_companies_loser_resolves_to_winner(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    winner, loser = fac.company_id("P01"), fac.company_id("P03")
    fac.merge("companies", winner, loser)
    ids = [
        c["id"]
        for c in raw(sandbox, "GET", "/crm/v3/objects/companies?limit=100").json()["results"]
    ]
    assert loser not in ids
    got = raw(
        sandbox, "GET", f"/crm/v3/objects/companies/{loser}?properties=hs_merged_object_ids"
    ).json()
    assert got["id"] == winner
    assert got["properties"]["hs_merged_object_ids"] == loser
    assert got["properties"]["hs_lastmodifieddate"] == NOW


def test_create_control_and_patch_endpoint(sandbox: Sandbox) -> None:
    fac = sandbox.hubspot
    new_id = fac.create(
        "deals",
        {
            "dealname": "Nouvelle affaire à Zürich",
            "amount": Decimal("1000.50"),
            "deal_currency_code": "EUR",
            "dealstage": "Engaging",
            "closedate": date(2024, 7, 1),
            "partner_company_id": fac.company_id("P02"),
        },
    )
    body = raw(
        sandbox,
        "GET",
        f"/crm/v3/objects/deals/{new_id}?properties=dealname,amount,amount_in_home_currency,dealstage,closedate,pipeline",
    ).json()
    assert body["properties"] == {
        "amount": "1000.50",
        "amount_in_home_currency": "1250.63",
        "closedate": "2024-07-01T00:00:00.000Z",
        "createdate": NOW,
        "dealname": "Nouvelle affaire à Zürich",
        "dealstage": "qualifiedtobuy",
        "hs_lastmodifieddate": NOW,
        "hs_object_id": new_id,
        "pipeline": "default",
    }
    resp = raw(
        sandbox,
        "PATCH",
        f"/crm/v3/objects/deals/{new_id}",
        json={"properties": {"amount": "abc"}},
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "INVALID_DECIMAL"
    resp = raw(
        sandbox, "PATCH", f"/crm/v3/objects/deals/{new_id}", json={"properties": {"amount": ""}}
    )
    assert resp.status_code == 200
    assert resp.json()["properties"]["amount"] == ""


# -- speed ---------------------------------------------------------------------------------------


def _big_world(n: int) -> World:
    stages = [
        Stage("Open", "Open", Decimal("0.3"), False, False, 1),
        Stage("Won", "Won", Decimal("1"), True, True, 2),
        Stage("Lost", "Lost", Decimal("0"), True, False, 3),
    ]
    base = ts("2023-01-01T00:00:00Z")
    deals = [
        Deal(
            key=f"D{i}",
            name=f"Deal {i}",
            partner_key=f"P{i % 20}",
            owner_key=f"U{i % 30}",
            account_name=f"Account {i % 500}",
            stage_key=stages[i % 3].key,
            amount=Decimal(1000 + i),
            currency="USD",
            created_at=base + timedelta(minutes=i),
            close_date=date(2024, 1 + i % 12, 1 + i % 28),
            lead_source="Partner",
            modified_at=base + timedelta(minutes=2 * i),
            stage_history=[("Open", base + timedelta(minutes=i))],
        )
        for i in range(n)
    ]
    return World(
        partners=[Partner(f"P{i}", f"Partner {i}") for i in range(20)],
        owners=[Owner(f"U{i}", f"Rep {i}", f"rep{i}@example.com", "T", "U") for i in range(30)],
        stages=stages,
        deals=deals,
    )


def test_serving_50000_deals_as_500_pages_takes_seconds() -> None:
    world = _big_world(50_000)
    start = time.perf_counter()
    facade = HubSpotFacade(world, Clock(ts(NOW)))
    render_seconds = time.perf_counter() - start

    def app(environ, start_response):
        return facade.handle(Request(environ))(environ, start_response)

    client = Client(app)
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    start = time.perf_counter()
    after, count, pages = None, 0, 0
    props = "amount,dealstage,closedate,hs_lastmodifieddate,partner_company_id,hubspot_owner_id"
    while True:
        url = f"/crm/v3/objects/deals?limit=100&properties={props}"
        if after:
            url += f"&after={after}"
        body = client.get(url, headers=headers).get_json()
        count += len(body["results"])
        pages += 1
        nxt = body.get("paging")
        if not nxt:
            break
        after = nxt["next"]["after"]
    serve_seconds = time.perf_counter() - start
    assert (count, pages) == (50_000, 500)
    # ~1-3 s each on a loaded 2-core machine; the bounds only catch quadratic behaviour.
    assert render_seconds < 15, render_seconds
    assert serve_seconds < 10, serve_seconds
