"""Case C-15: two stage changes in the same instant -- the CRM's own order decides (issue 14).

The case's records (../shared/cases/crm-sync-cases.md, C-15; copied here) go through the
connectors' own row builders into a store: Salesforce OpportunityHistory rows with one
``CreatedDate`` (whole seconds), HubSpot ``dealstage`` versions with one millisecond (newest
first). At the end of Q1-2024 the Salesforce deal is in Negotiation/Review (the greater history
Id) and the HubSpot deal in contractsent (the first, newest element): weighted pipeline P1 =
90,000.00, company 555 = 36,000.00. Picking by stage name (20,000 / 16,000) or by load order is
the bug.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.hubspot import rows as hs
from connectors.salesforce import rows as sf
from tests.helpers.kpi import compute_kpis, deal, kpi

SF_STAGES = [
    {"ApiName": "Qualification", "DefaultProbability": 20, "IsClosed": False},
    {"ApiName": "Negotiation/Review", "DefaultProbability": 90, "IsClosed": False},
]
SF_OPPORTUNITY = {
    "Id": "006XX0000000031AAA", "Partner_Account__c": "001XX00000000P1AAA",
    "StageName": "Negotiation/Review", "IsClosed": False, "IsWon": False, "Amount": 100000.0,
    "CreatedDate": "2024-03-20T14:05:07.000+0000", "CloseDate": "2024-06-28",
}
SF_HISTORY = [  # ORDER BY CreatedDate, Id
    {"Id": "008XX0000000001AAA", "OpportunityId": "006XX0000000031AAA",
     "StageName": "Qualification", "CreatedDate": "2024-03-20T14:05:07.000+0000"},
    {"Id": "008XX0000000002AAA", "OpportunityId": "006XX0000000031AAA",
     "StageName": "Negotiation/Review", "CreatedDate": "2024-03-20T14:05:07.000+0000"},
]
HS_DEAL = {
    "id": "7301",
    "properties": {"pipeline": "default", "dealstage": "contractsent", "amount": "40000",
                   "createdate": "2024-03-20T14:05:07.123Z",
                   "closedate": "2024-06-28T12:00:00.000Z"},
    "propertiesWithHistory": {"dealstage": [
        {"value": "contractsent", "timestamp": "2024-03-20T14:05:07.123Z",
         "sourceType": "AUTOMATION_PLATFORM"},
        {"value": "qualifiedtobuy", "timestamp": "2024-03-20T14:05:07.123Z",
         "sourceType": "CRM_UI"},
    ]},
}
HS_STAGES = [("qualifiedtobuy", Decimal("0.4")), ("contractsent", Decimal("0.9"))]


def _salesforce_rows() -> dict[str, list[dict[str, Any]]]:
    ctx = sf.RowContext("Partner_Account__c", "PartnerAccountId", "Department", "Division", None,
                        "USD")
    rows = {
        "stages": [sf.stage_row(sf.flatten(s), ctx) for s in SF_STAGES],
        "deals": [sf.deal_row(sf.flatten(SF_OPPORTUNITY), ctx)],
        "stage_history": [sf.history_row(sf.flatten(h), ctx) for h in SF_HISTORY],
    }
    assert not ctx.bad.rejects
    return rows


def _hubspot_rows() -> dict[str, list[dict[str, Any]]]:
    p = HS_DEAL["properties"]
    return {
        "stages": [{"source": "hubspot", "pipeline": "default", "stage": s, "label": s,
                    "probability": prob, "is_closed": False, "is_won": False,
                    "display_order": i} for i, (s, prob) in enumerate(HS_STAGES)],
        "deals": [deal(source="hubspot", deal_id="7301", partner_id="555",
                       stage=p["dealstage"], amount=p["amount"], created_at=p["createdate"],
                       close_date="2024-06-28")],
        "stage_history": hs.history_rows(HS_DEAL),
    }


def _load(store, *, reverse_history: bool = False) -> None:
    for tables in (_salesforce_rows(), _hubspot_rows()):
        for table in ("stages", "deals", "stage_history"):
            rows = tables[table][::-1] if reverse_history and table == "stage_history" \
                else tables[table]
            store.upsert(table, rows)


def test_c15_keys_are_the_crm_order() -> None:
    assert [(r["stage"], r["crm_order"]) for r in _salesforce_rows()["stage_history"]] == [
        ("Qualification", "008XX0000000001AAA"), ("Negotiation/Review", "008XX0000000002AAA")]
    assert [(r["stage"], r["crm_order"]) for r in _hubspot_rows()["stage_history"]] == [
        ("contractsent", "0000000001"), ("qualifiedtobuy", "0000000000")]


@pytest.mark.parametrize("reverse_history", [False, True], ids=["crm-order", "reversed-load"])
def test_c15_weighted_pipeline_follows_the_crm_order(store, reverse_history: bool) -> None:
    _load(store, reverse_history=reverse_history)
    compute_kpis(store, grains=["quarter"], as_of="2024-04-01")
    assert kpi(store, "quarter", "2024-01-01", "partner", "001XX00000000P1AAA",
               "pipeline_weighted_amount") == (Decimal("90000.00"), 1)
    assert kpi(store, "quarter", "2024-01-01", "partner", "555",
               "pipeline_weighted_amount") == (Decimal("36000.00"), 1)


def test_c15_same_answer_after_a_reload(store) -> None:
    _load(store)
    _load(store, reverse_history=True)  # an incremental run re-reading the same rows
    assert store.con.execute("SELECT count(*) FROM stage_history").fetchall() == [(4,)]
    compute_kpis(store, grains=["quarter"], as_of="2024-04-01")
    assert kpi(store, "quarter", "2024-01-01", "partner", "555",
               "pipeline_weighted_amount") == (Decimal("36000.00"), 1)
