"""A small World for the HubSpot facade tests, with the traps the sync cases need.

Non-ASCII partner and owner names, a won deal without amount (C-04), deals in EUR and CAD (C-05),
an archived deal (C-06), a second won stage that gets a custom numeric stage id (C-12) and an
inactive owner (C-13).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from crm_sandbox.world import Deal, Lead, Owner, Partner, Stage, World


def ts(text: str) -> datetime:
    """Parse ``2024-05-10T12:00:00Z``-style text into an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def small_world() -> World:
    """The test World (7 deals, 3 partners, 3 owners, 5 stages, 2 leads)."""
    stages = [
        Stage("Prospecting", "Prospecting", Decimal("0.1"), False, False, 1),
        Stage("Engaging", "Engaging", Decimal("0.4"), False, False, 2),
        Stage("Won", "Won", Decimal("1"), True, True, 3),
        Stage("Lost", "Lost", Decimal("0"), True, False, 4),
        Stage("Won (Renewal)", "Won (Renewal)", Decimal("1"), True, True, 5),
    ]
    partners = [
        Partner("P01", "Société Générale Partenaires", "Reseller", "Gold"),
        Partner("P02", "Northwind Referral", "Referral", "Silver"),
        Partner("P03", "北京合作伙伴有限公司", "Agency"),
    ]
    owners = [
        Owner("U1", "Rep One", "rep.one@example.com", "East", "North America"),
        Owner("U2", "Rep Two", "rep.two@example.com", "East", "North America", is_active=False),
        Owner("U3", "Zoë Ångström", "zoe@example.com", None, None),
    ]

    # fmt: off
    def deal(key, partner, owner, account, stage, amount, currency, created, close, modified,
             history, deleted=False):
        # fmt: on
        return Deal(
            key=key,
            name=f"Deal {key}",
            partner_key=partner,
            owner_key=owner,
            account_name=account,
            stage_key=stage,
            amount=None if amount is None else Decimal(amount),
            currency=currency,
            created_at=ts(created),
            close_date=close,
            lead_source="Partner",
            modified_at=ts(modified),
            stage_history=[(k, ts(t)) for k, t in history],
            is_deleted=deleted,
        )

    # fmt: off
    deals = [
        deal("D1", "P01", "U1", "Acme Corp", "Won", "10000.50", "USD", "2024-01-05T09:00:00Z",
             date(2024, 4, 10), "2024-04-10T15:30:00.123Z",
             [("Prospecting", "2024-01-05T09:00:00Z"), ("Engaging", "2024-02-01T10:00:00Z"),
              ("Won", "2024-04-10T15:30:00Z")]),
        deal("D2", "P01", "U2", "Acme Corp", "Won", None, "USD", "2024-02-01T08:00:00Z",
             date(2024, 5, 10), "2024-05-10T12:00:00Z",
             [("Prospecting", "2024-02-01T08:00:00Z"), ("Won", "2024-05-10T12:00:00Z")]),
        deal("D3", "P02", "U1", "Globex", "Lost", "8000", "EUR", "2024-03-01T08:00:00Z",
             date(2024, 6, 8), "2024-05-31T09:00:00Z",
             [("Prospecting", "2024-03-01T08:00:00Z"), ("Lost", "2024-05-31T09:00:00Z")]),
        deal("D4", "P02", "U3", "Initech", "Engaging", "50000", "EUR", "2024-04-01T08:00:00Z",
             None, "2024-05-20T10:00:00Z",
             [("Prospecting", "2024-04-01T08:00:00Z"), ("Engaging", "2024-05-20T10:00:00Z")]),
        deal("D5", "P01", "U1", "Globex", "Prospecting", "1200", "USD", "2024-04-15T08:00:00Z",
             None, "2024-05-10T12:00:00Z", [("Prospecting", "2024-04-15T08:00:00Z")],
             deleted=True),
        deal("D6", "P02", "U1", "Umbrella", "Won (Renewal)", "7000", "CAD",
             "2024-04-20T08:00:00Z", date(2024, 5, 7), "2024-05-07T16:00:00Z",
             [("Engaging", "2024-04-20T08:00:00Z"), ("Won (Renewal)", "2024-05-07T16:00:00Z")]),
        deal("D7", None, "U1", "Hooli", "Prospecting", "300", "USD", "2024-05-01T08:00:00Z",
             None, "2024-05-01T08:00:00Z", [("Prospecting", "2024-05-01T08:00:00Z")]),
    ]
    # fmt: on
    return World(
        partners=partners,
        owners=owners,
        stages=stages,
        deals=deals,
        leads=[
            Lead("L1", "Ève Durand", "P01", "U1", ts("2024-03-03T09:15:00Z"), "Partner"),
            Lead("L2", "Tom Lee", None, "U3", ts("2024-04-04T10:00:00Z"), "Web", is_deleted=True),
        ],
        corporate_currency="USD",
        currency_rates={"USD": Decimal(1), "EUR": Decimal("0.8"), "CAD": Decimal("1.25")},
    )
