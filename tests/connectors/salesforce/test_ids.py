"""Salesforce ids in every form: the 18-character case-safe form (issue 14, item 5).

Unit tests of the checksum against known 15/18 pairs, and end to end against the sandbox: deals
whose partner and owner fields hold the 15-character form of the id are credited to the partner.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from connectors.errors import RecordError
from connectors.salesforce.ids import case_safe_id, checksum
from crm_sandbox.server import Sandbox
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.salesforce import Sleeps, kpi, sandbox_settings, start, sync

# (15, 18): the worked example of the CASESAFEID() rule (gammone.com), ids of the recorded
# responses in ../shared/api-samples, and ids the sandbox makes (crm_sandbox.salesforce_schema).
KNOWN = [
    ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
    ("0014S000007NxgW", "0014S000007NxgWQAS"),
    ("001RM000003oCpr", "001RM000003oCprYAE"),
    ("a00D0000008pQRA", "a00D0000008pQRAIA2"),
    ("006XX0000000001", "006XX0000000001YAA"),
    ("000000000000000", "000000000000000AAA"),
    ("ABCDEABCDEABCDE", "ABCDEABCDEABCDE555"),
]


@pytest.mark.parametrize(("id15", "id18"), KNOWN)
def test_checksum_of_known_pairs(id15: str, id18: str) -> None:
    assert checksum(id15) == id18[15:]
    assert case_safe_id(id15) == id18
    assert case_safe_id(id18) == id18
    assert case_safe_id(f" {id15} ") == id18


def test_eighteen_character_suffix_is_case_insensitive() -> None:
    assert case_safe_id("0014S000007NxgWqas") == "0014S000007NxgWQAS"


def test_blank_is_none() -> None:
    assert case_safe_id(None) is None
    assert case_safe_id("") is None
    assert case_safe_id("   ") is None


@pytest.mark.parametrize(
    "value",
    ["0014S000007Nxg", "0014S000007NxgWQ", "0014S000007NxgWQASX", "Acme Corp",
     "0014S000007Nxg!", "0014S000007NxgWQa9", "https://x.my.salesforce.com/0014S000007NxgW"],
)
def test_not_an_id_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not a Salesforce id"):
        case_safe_id(value)


# -- end to end: 15-character ids in the deals' and leads' fields -----------------------------
@pytest.fixture
def own() -> Iterator[Sandbox]:
    with start() as sb:
        yield sb


def _short_links(sb: Sandbox) -> tuple[str, str]:
    """D1 / D2 (P1's won deals) and L1 carry P1's and U1's ids in the 15-character form."""
    sf = sb.salesforce
    p1, u1 = sf.id_for("Account", "P1"), sf.id_for("User", "U1")
    for deal in ("D1", "D2"):
        sf.update("Opportunity", sf.id_for("Opportunity", deal),
                  {"Partner_Account__c": p1[:15], "OwnerId": u1[:15]})
    sf.update("Lead", sf.id_for("Lead", "L1"), {"PartnerAccountId": p1[:15]})
    return p1, u1


@pytest.mark.usefixtures("sandbox_env")
@pytest.mark.slow
def test_fifteen_character_partner_ids_credit_the_partner(own: Sandbox, sleeps: Sleeps) -> None:
    p1, u1 = _short_links(own)
    store = Store(":memory:")
    settings = sandbox_settings(own, partner_field="Partner_Account__c")
    sync(store, settings, sleeps)
    assert store.con.execute(
        "SELECT name, partner_id, owner_id FROM deals WHERE name IN ('USD deal', 'CAD deal') "
        "ORDER BY name"
    ).fetchall() == [("CAD deal", p1, u1), ("USD deal", p1, u1)]
    assert store.con.execute(
        "SELECT partner_id FROM leads WHERE lead_id = ?", [own.salesforce.id_for("Lead", "L1")]
    ).fetchall() == [(p1,)]
    compute(store, KpiSettings(reporting_currency="USD"), ["quarter"])
    assert kpi(store, "partner", p1, "won_amount") == Decimal("180000")
    assert kpi(store, "partner", p1, "average_deal_size") == Decimal("90000")
    assert kpi(store, "partner", p1, "deals_won") == Decimal(2)
    assert kpi(store, "partner", "none", "won_amount") in (None, Decimal(0))


@pytest.mark.usefixtures("sandbox_env")
@pytest.mark.slow
def test_a_value_that_is_not_an_id_follows_on_bad_record(own: Sandbox, sleeps: Sleeps) -> None:
    sf = own.salesforce
    d1 = sf.id_for("Opportunity", "D1")
    sf.update("Opportunity", d1, {"Partner_Account__c": "Partner North"})
    store = Store(":memory:")
    settings = sandbox_settings(own, partner_field="Partner_Account__c", on_bad_record="reject")
    sync(store, settings, sleeps)
    assert store.con.execute("SELECT count(*) FROM deals WHERE deal_id = ?", [d1]).fetchall() \
        == [(0,)]
    assert store.con.execute(
        "SELECT record_id, field, value FROM rejects WHERE stream = 'deals'"
    ).fetchall() == [(d1, "Partner_Account__c", "Partner North")]
    with pytest.raises(RecordError, match=r"Partner_Account__c 'Partner North'.*not a Salesforce"):
        sync(Store(":memory:"), sandbox_settings(
            own, partner_field="Partner_Account__c", on_bad_record="stop"), sleeps)
