"""A World holding the inputs of the sync cases C-04, C-05, C-12 and C-13 (one partner each).

The sandbox renders it as HubSpot would: the second won and second lost stage get custom numeric
stage ids (C-12), the inactive owner is listed only with ``archived=true`` with blank names and
``userId`` null (C-13), amounts are strings with ``""`` for none (C-04), and the EUR deal's
``amount_in_home_currency`` is 54000 (C-05).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from crm_sandbox.world import Deal, Owner, Partner, Stage, World

STAGES = [
    Stage("Prospecting", "Appointment Scheduled", Decimal("0.2"), False, False, 1),
    Stage("Won", "Closed Won", Decimal("1"), True, True, 2),
    Stage("Lost", "Closed Lost", Decimal("0"), True, False, 3),
    Stage("Signed", "Signed (was: Won)", Decimal("1"), True, True, 4),
    Stage("Dropped", "Dropped", Decimal("0"), True, False, 5),
]
MODIFIED = datetime(2024, 5, 31, 9, 0, tzinfo=UTC)


def _deal(key: str, partner: str | None, owner: str, stage: str, amount: str | None,
          close: date | None, currency: str = "USD") -> Deal:
    return Deal(key=key, name=f"Deal {key}", partner_key=partner, owner_key=owner,
                account_name=None, stage_key=stage,
                amount=None if amount is None else Decimal(amount), currency=currency,
                created_at=datetime(2024, 1, 2, 9, 0, tzinfo=UTC), close_date=close,
                lead_source=None, modified_at=MODIFIED)


def cases_world() -> World:
    """Partners C04, C05, C12 (company per case); owners O11 (active), O12 (left), O13."""
    partners = [Partner("C04", "Partner C-04"), Partner("C05", "Partner C-05"),
                Partner("C12", "Partner C-12")]
    owners = [
        Owner("O11", "Rep One", "rep.one@example.com", "East", None),
        Owner("O12", "Rep Two", "rep.two@example.com", "East", None, is_active=False),
        Owner("O13", "Rep Three", "rep.three@example.com", "West", None),
    ]
    deals = [
        _deal("3001", "C04", "O13", "Won", "10000", date(2024, 4, 10)),
        _deal("3002", "C04", "O13", "Won", None, date(2024, 5, 10)),
        _deal("3003", "C04", "O13", "Won", "20000.50", date(2024, 6, 10)),
        _deal("4001", "C05", "O13", "Won", "50000", date(2024, 5, 20), "EUR"),
        _deal("6001", "C12", "O13", "Won", "10000", date(2024, 4, 5)),
        _deal("6002", "C12", "O13", "Lost", "8000", date(2024, 4, 6)),
        _deal("6003", "C12", "O13", "Signed", "20000", date(2024, 5, 7)),
        _deal("6004", "C12", "O13", "Dropped", "5000", date(2024, 6, 8)),
        _deal("6005", "C12", "O13", "Signed", "7000", None),
        _deal("2101", None, "O11", "Won", "10000", date(2024, 2, 1)),
        _deal("2102", None, "O12", "Won", "20000", date(2024, 2, 2)),
    ]
    # 50000 EUR / (50000 / 54000 EUR per USD) = 54000 USD (C-05)
    rates = {"USD": Decimal(1), "EUR": Decimal(50000) / Decimal(54000)}
    return World(partners=partners, owners=owners, stages=STAGES, deals=deals,
                 corporate_currency="USD", currency_rates=rates)
