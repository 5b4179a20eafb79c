"""A small World for the Salesforce-facade tests, and helpers to talk to a running Sandbox.

Partners: P01 "Société Générale Partenaires" (non-ASCII), P02 "Partner North Ltd", P03 deleted.
Deals: D001 won with partner P01 / owner U01 / account "Acme Corp"; D002 with no partner, no
account (null parents); D003 deleted; D004 in CAD; plus 450 filler deals (F0001..F0450) of P02 so
that 200-row pages paginate. Leads: L01 converted into D001, L02 open. Clock frozen at
2024-06-01T10:00:00Z.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import requests
from simple_salesforce import Salesforce

from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from crm_sandbox.world import Deal, Lead, Owner, Partner, Stage, World

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
N_FILLER = 450
N_LIVE_OPPS = 3 + N_FILLER  # every deal but the deleted D003
API = "60.0"


def build_world() -> World:
    """The test World described in the module docstring."""
    stages = [
        Stage("Prospecting", "Prospecting", Decimal("0.1"), False, False, 1),
        Stage("Negotiation", "Negotiation/Review", Decimal("0.6"), False, False, 2),
        Stage("Closed Won", "Closed Won", Decimal("1.0"), True, True, 3),
        Stage("Closed Lost", "Closed Lost", Decimal("0"), True, False, 4),
    ]
    partners = [
        Partner("P01", "Société Générale Partenaires", "Reseller", "Gold"),
        Partner("P02", "Partner North Ltd", "Referral"),
        Partner("P03", "Zürich Vertrieb AG", "Agency", is_deleted=True),
    ]
    owners = [
        Owner("U01", "Rep One", "rep.one@example.com", "EMEA Channel", "EMEA"),
        Owner("U02", "Rep Two", "rep.two@example.com", None, None),
        Owner("U03", "Rep Gone", "rep.gone@example.com", "EMEA Channel", "EMEA", is_active=False),
    ]
    history = [("Prospecting", T0), ("Negotiation", T0 + timedelta(days=5))]
    won = [*history, ("Closed Won", T0 + timedelta(days=10))]
    deals = [
        Deal(
            "D001",
            "Acme renewal",
            "P01",
            "U01",
            "Acme Corp",
            "Closed Won",
            Decimal("25000.00"),
            "USD",
            T0,
            date(2024, 3, 11),
            "Partner Referral",
            T0 + timedelta(days=10),
            won,
        ),
        Deal(
            "D002",
            "Direct deal",
            None,
            "U02",
            None,
            "Prospecting",
            Decimal("5000"),
            "USD",
            T0,
            date(2024, 7, 1),
            None,
            T0,
            history[:1],
        ),
        Deal(
            "D003",
            "Deleted deal",
            "P01",
            "U01",
            "Acme Corp",
            "Negotiation",
            Decimal("7000"),
            "USD",
            T0,
            date(2024, 7, 1),
            None,
            T0 + timedelta(days=20),
            history,
            is_deleted=True,
        ),
        Deal(
            "D004",
            "Toronto expansion",
            "P02",
            "U01",
            "Maple Inc",
            "Closed Won",
            Decimal("100000"),
            "CAD",
            T0,
            date(2024, 5, 22),
            "Web",
            T0 + timedelta(days=30),
            won,
        ),
    ]
    deals += [
        Deal(f"F{i:04d}", f"Filler {i}", "P02", "U02", "Filler Co", "Negotiation",
             Decimal(1000 + i), "USD", T0 + timedelta(minutes=i), date(2024, 8, 1), None,
             T0 + timedelta(minutes=i), history)
        for i in range(1, N_FILLER + 1)
    ]  # fmt: skip
    leads = [
        Lead("L01", "Lea Converted", "P01", "U01", T0 - timedelta(days=3), "Partner Referral",
             T0, "D001"),
        Lead("L02", "Otto Open", "P02", "U02", T0, "Web"),
    ]  # fmt: skip
    return World(partners, owners, stages, deals, leads, "USD",
                 {"USD": Decimal(1), "CAD": Decimal("1.25")})  # fmt: skip


def start_sandbox() -> Sandbox:
    """A started Sandbox over :func:`build_world` with the clock frozen at :data:`NOW`."""
    return Sandbox(build_world(), clock=Clock(NOW), api_version=API).start()


def http(sb: Sandbox) -> requests.Session:
    """A requests session that trusts only the sandbox CA.

    ``trust_env=False`` because requests lets ``REQUESTS_CA_BUNDLE`` (set on this machine)
    override ``Session.verify``.
    """
    s = requests.Session()
    s.trust_env = False
    s.verify = sb.ca_bundle
    return s


def client(sb: Sandbox, token: str | None = None) -> Salesforce:
    """The real simple-salesforce client on a fresh token (or ``token``)."""
    return Salesforce(
        instance_url=sb.url,
        session_id=token or sb.salesforce.issue_token(),
        session=http(sb),
        version=API,
    )


def auth(token: str) -> dict[str, str]:
    """Bearer header."""
    return {"Authorization": f"Bearer {token}"}
