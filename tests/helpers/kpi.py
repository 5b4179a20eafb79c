"""Fixtures and helpers for the independent KPI checks (tests/kpi).

Everything here only *writes* canonical rows and *reads* ``kpi_values``; nothing here
re-implements the engine.  Expected values live in the tests, worked out by hand.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import pytest

ALL_GRAINS = ("month", "quarter", "year")

# The KPI settings the tests default to (docs/kpis.md), overridable per test.
DEFAULT_SETTINGS: dict[str, Any] = {
    "reporting_currency": "USD",
    "fiscal_year_start_month": 1,
    "channels": {
        "paid": ["PAID_SEARCH", "PAID_SOCIAL"],
        "owned": ["EMAIL_MARKETING", "DIRECT_TRAFFIC", "ORGANIC_SOCIAL"],
        "earned": ["ORGANIC_SEARCH", "REFERRALS"],
        "partner": ["Partner", "Partner Referral"],
    },
    "min_closed_deals": 5,
    "quality_weights": {"won_amount": 0.5, "deals_won": 0.5},
}


@pytest.fixture
def store(tmp_path):
    """A fresh store (own DuckDB file) per test."""
    from kpi_engine.store import Store

    s = Store(tmp_path / "t.duckdb")
    yield s
    s.close()


# --------------------------------------------------------------------------- input rows

_ids = itertools.count(1)


def ts(value: str | datetime | None) -> datetime | None:
    """'2024-03-01' or '2024-03-01T10:00' -> aware UTC datetime (strings are UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def d(value: str | date | None) -> date | None:
    """'2024-03-01' -> date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def money(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


_STATUS = {
    "open": ("Prospecting", False, False),
    "won": ("Won", True, True),
    "lost": ("Lost", True, False),
}


def deal(status: str = "open", **overrides: Any) -> dict[str, Any]:
    """A deals row with sensible defaults.

    ``status`` ('open' | 'won' | 'lost') sets stage/is_closed/is_won unless given explicitly.
    Convenience conversions: created_at/updated_at str -> UTC datetime, close_date str -> date,
    amount/amount_reporting int/str -> Decimal.
    """
    stage, is_closed, is_won = _STATUS[status]
    row: dict[str, Any] = {
        "source": "csv",
        "deal_id": f"D{next(_ids):05d}",
        "name": None,
        "partner_id": None,
        "owner_id": None,
        "account_name": None,
        "pipeline": "default",
        "stage": stage,
        "is_closed": is_closed,
        "is_won": is_won,
        "amount": None,
        "currency": "USD",
        "created_at": None,
        "close_date": None,
        "lead_source": None,
        "updated_at": None,
        "is_deleted": False,
    }
    row.update(overrides)
    row["created_at"] = ts(row["created_at"])
    row["updated_at"] = ts(row["updated_at"])
    row["close_date"] = d(row["close_date"])
    row["amount"] = money(row["amount"])
    if "amount_reporting" in row:
        row["amount_reporting"] = money(row["amount_reporting"])
    return row


def lead(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "source": "csv",
        "lead_id": f"L{next(_ids):05d}",
        "partner_id": None,
        "owner_id": None,
        "created_at": None,
        "converted_at": None,
        "converted_deal_id": None,
        "lead_source": None,
        "is_deleted": False,
    }
    row.update(overrides)
    row["created_at"] = ts(row["created_at"])
    row["converted_at"] = ts(row["converted_at"])
    return row


def seed_stages(store, source: str = "csv", pipeline: str = "default") -> None:
    """Prospecting 0.1 open, Negotiation 0.6 open, Won 1.0 closed won, Lost 0.0 closed lost."""
    rows = [
        ("Prospecting", "0.1", False, False, 1),
        ("Negotiation", "0.6", False, False, 2),
        ("Won", "1.0", True, True, 3),
        ("Lost", "0.0", True, False, 4),
    ]
    store.upsert(
        "stages",
        [
            {
                "source": source,
                "pipeline": pipeline,
                "stage": stage,
                "label": stage,
                "probability": Decimal(p),
                "is_closed": closed,
                "is_won": won,
                "display_order": order,
            }
            for stage, p, closed, won, order in rows
        ],
    )


def seed(store, deals: list[dict] = (), **tables: list[dict]) -> None:
    """Stages + the given deals (+ other tables by name: owners=[...], leads=[...], ...)."""
    seed_stages(store)
    if deals:
        store.upsert("deals", list(deals))
    for table, rows in tables.items():
        if rows:
            store.upsert(table, list(rows))


# --------------------------------------------------------------------------- compute / read


def compute_kpis(store, *, grains=ALL_GRAINS, as_of=None, date_from=None, date_to=None, **settings):
    from kpi_engine.kpis import KpiSettings, compute

    kwargs = {**DEFAULT_SETTINGS, **settings}
    return compute(
        store,
        KpiSettings(**kwargs),
        grains=tuple(grains),
        as_of=d(as_of),
        date_from=d(date_from),
        date_to=d(date_to),
    )


def kpi(store, grain: str, period_start: str | date, dimension: str, member: str, kpi: str):
    """-> (value, n) of exactly one kpi_values row (fails if there is none or more than one)."""
    rows = store.con.execute(
        "SELECT value, n FROM kpi_values WHERE grain = ? AND period_start = ? "
        "AND dimension = ? AND member = ? AND kpi = ?",
        [grain, d(period_start), dimension, member, kpi],
    ).fetchall()
    key = (grain, str(period_start), dimension, member, kpi)
    assert len(rows) == 1, f"expected exactly one kpi_values row for {key}, got {rows}"
    value, n = rows[0]
    assert value is None or isinstance(value, Decimal), f"{key}: value {value!r} is not a Decimal"
    assert isinstance(n, int), f"{key}: n {n!r} is not an int"
    return value, n


def row_count(store, **where: Any) -> int:
    """Number of kpi_values rows matching column = value filters (period_start given as str ok)."""
    if "period_start" in where:
        where["period_start"] = d(where["period_start"])
    clause = " AND ".join(f"{col} = ?" for col in where) or "TRUE"
    return store.con.execute(
        f"SELECT count(*) FROM kpi_values WHERE {clause}", list(where.values())
    ).fetchone()[0]


def members(store, grain: str, period_start: str | date, dimension: str) -> set[str]:
    """Members that have any kpi_values row in this (grain, period, dimension)."""
    rows = store.con.execute(
        "SELECT DISTINCT member FROM kpi_values "
        "WHERE grain = ? AND period_start = ? AND dimension = ?",
        [grain, d(period_start), dimension],
    ).fetchall()
    return {r[0] for r in rows}


def period_starts(store, grain: str) -> list[date]:
    rows = store.con.execute(
        "SELECT DISTINCT period_start FROM kpi_values WHERE grain = ? ORDER BY 1", [grain]
    ).fetchall()
    return [r[0] if not isinstance(r[0], datetime) else r[0].date() for r in rows]


def assert_ratio(value: Any, expected: Fraction | int) -> None:
    """value == expected rounded to 10 decimals, allowing 1e-10 for a double division."""
    assert value is not None, f"expected {expected}, got NULL"
    expected = Fraction(expected)
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(expected.numerator) / Decimal(expected.denominator)
        rounded = exact.quantize(Decimal("1e-10"))
        diff = abs(Decimal(value) - rounded)
    assert diff <= Decimal("1e-10"), f"got {value}, expected {rounded} ({expected})"
