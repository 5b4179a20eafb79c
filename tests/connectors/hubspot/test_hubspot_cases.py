"""The sync cases C-03, C-04, C-05, C-12 and C-13 through the connector against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from connectors.hubspot.rows import close_date, stage_map, stage_rows
from connectors.sync import SyncResult
from connectors.values import parse_amount, parse_instant
from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.hubspot import rows, sync
from tests.helpers.hubspot_cases import cases_world

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
Q2 = date(2024, 4, 1)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Store, SyncResult]]:
    with Sandbox(cases_world(), clock=Clock(NOW)) as sb:
        unknown = sb.hubspot.create(
            "deals",
            {
                "dealname": "Deal 2103",
                "dealstage": "Won",
                "amount": "500",
                "closedate": "2024-02-03",
                "hubspot_owner_id": "999",
            },
        )
        sb.unknown_owner_deal = unknown  # type: ignore[attr-defined]
        store = Store(tmp_path_factory.mktemp("cases") / "hs.duckdb")
        result = sync(store, sb)
        compute(store, KpiSettings(), ("quarter",))
        yield sb, store, result
        store.close()


def kpi(store: Store, dimension: str, member: str, name: str, period: date = Q2) -> Decimal | None:
    found = rows(
        store,
        "SELECT value FROM kpi_values WHERE grain = 'quarter' AND period_start = ? "
        "AND dimension = ? AND member = ? AND kpi = ?",
        period,
        dimension,
        member,
        name,
    )
    return found[0][0] if found else None


def deal(sb: Sandbox, store: Store, key: str) -> dict:
    did = sb.hubspot.deal_id(key)
    cur = store.con.execute("SELECT * FROM deals WHERE source = 'hubspot' AND deal_id = ?", [did])
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


@pytest.mark.slow
def test_c04_empty_amount_is_null_and_average_skips_it(synced) -> None:
    sb, store, _ = synced
    assert deal(sb, store, "3002")["amount"] is None
    partner = sb.hubspot.company_id("C04")
    assert kpi(store, "partner", partner, "deals_won") == 3
    assert kpi(store, "partner", partner, "won_amount") == Decimal("30000.50")
    assert kpi(store, "partner", partner, "average_deal_size") == Decimal("15000.25")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,800.00", Decimal("1800.00")),
        ("67340.0", Decimal("67340.00")),
        ("  250  ", Decimal(250)),
        ("1.5E4", Decimal(15000)),
        (None, None),
        ("", None),
    ],
    ids=repr,
)
def test_c04_number_formats(text: str | None, expected: Decimal | None) -> None:
    assert parse_amount(text) == expected


@pytest.mark.slow
def test_c04_unreadable_amount_is_null_and_named() -> None:
    # C-04: "Unparseable text is recorded as NULL with a warning naming the record. It is never 0
    # and never crashes the whole run." (the default on_bad_record: keep)
    with Sandbox(cases_world(), clock=Clock(NOW)) as sb, Store(":memory:") as store:
        bad = sb.hubspot.create("deals", {"dealname": "bad", "dealstage": "Won", "amount": "n/a"})
        result = sync(store, sb)
        assert rows(store, "SELECT amount FROM deals WHERE deal_id = ?", bad) == [(None,)]
        assert rows(
            store, "SELECT field, value, reason FROM rejects WHERE record_id = ?", bad
        ) == [("amount", "n/a", "'n/a' is not a number")]
    assert result.streams["deals"].rejected == 1


@pytest.mark.slow
def test_c05_home_currency_amount_is_used(synced) -> None:
    sb, store, _ = synced
    row = deal(sb, store, "4001")
    assert (row["amount"], row["currency"], row["amount_reporting"]) == (
        Decimal(50000),
        "EUR",
        Decimal(54000),
    )
    assert kpi(store, "partner", sb.hubspot.company_id("C05"), "won_amount") == Decimal(54000)


@pytest.mark.slow
def test_c12_won_and_lost_come_from_stage_metadata(synced) -> None:
    sb, store, result = synced
    partner = sb.hubspot.company_id("C12")
    won = {
        r[0]
        for r in rows(store, "SELECT deal_id FROM deals WHERE partner_id = ? AND is_won", partner)
    }
    lost = {
        r[0]
        for r in rows(
            store,
            "SELECT deal_id FROM deals WHERE partner_id = ? AND is_closed AND NOT is_won",
            partner,
        )
    }
    ids = sb.hubspot.deal_id
    assert won == {ids("6001"), ids("6003"), ids("6005")}
    assert lost == {ids("6002"), ids("6004")}
    assert deal(sb, store, "6003")["stage"] not in ("closedwon", "Signed")  # a custom numeric id
    assert kpi(store, "partner", partner, "win_rate") == Decimal("0.5")
    assert kpi(store, "partner", partner, "won_amount") == Decimal(30000)
    assert kpi(store, "partner", partner, "average_deal_size") == Decimal(15000)
    assert deal(sb, store, "6005")["close_date"] is None
    assert (
        f"deal {ids('6005')}: won but has no close date; left out of period KPIs"
        in result.streams["deals"].warnings
    )


def test_c12_stages_resolved_per_pipeline_never_by_label() -> None:
    body = {
        "results": [
            {
                "id": "default",
                "label": "Sales Pipeline",
                "stages": [
                    {
                        "id": "appointmentscheduled",
                        "label": "Appointment Scheduled",
                        "metadata": {"isClosed": "false", "probability": "0.2"},
                    },
                    {
                        "id": "closedwon",
                        "label": "Closed Won",
                        "metadata": {"isClosed": "true", "probability": "1.0"},
                    },
                    {
                        "id": "closedlost",
                        "label": "Closed Lost",
                        "metadata": {"isClosed": "true", "probability": "0.0"},
                    },
                ],
            },
            {
                "id": "734001",
                "label": "Partner Pipeline",
                "stages": [
                    {
                        "id": "734002",
                        "label": "Signed (was: Won)",
                        "metadata": {"isClosed": "true", "probability": "1.0"},
                    },
                    {
                        "id": "734003",
                        "label": "Dropped",
                        "metadata": {"isClosed": "true", "probability": "0.0"},
                    },
                ],
            },
        ]
    }
    stages = stage_map(stage_rows(body))
    assert stages[("734001", "734002")].is_won
    assert stages[("734001", "734003")].is_closed
    assert not stages[("734001", "734003")].is_won
    assert ("default", "734002") not in stages  # joined within its pipeline
    renamed = body["results"][1]["stages"][0] | {"label": "Renamed"}
    body["results"][1]["stages"][0] = renamed
    assert stage_map(stage_rows(body))[("734001", "734002")].is_won


@pytest.mark.slow
def test_c13_archived_owner_kept_and_named_by_email(synced) -> None:
    sb, store, result = synced
    o11, o12 = sb.hubspot.owner_id("O11"), sb.hubspot.owner_id("O12")
    got = rows(
        store,
        "SELECT owner_id, name, team, is_active FROM owners WHERE owner_id IN (?, ?) "
        "ORDER BY owner_id",
        o11,
        o12,
    )
    assert got == [(o11, "Rep One", "East", True), (o12, "rep.two@example.com", "East", False)]
    q1 = date(2024, 1, 1)
    assert kpi(store, "owner", o11, "won_amount", q1) == Decimal(10000)
    assert kpi(store, "owner", o12, "won_amount", q1) == Decimal(20000)
    assert kpi(store, "team", "East", "won_amount", q1) == Decimal(30000)
    unknown = sb.unknown_owner_deal
    assert rows(store, "SELECT owner_id FROM deals WHERE deal_id = ?", unknown) == [("999",)]
    assert any(
        w.startswith(f"deal {unknown}: owner 999 is unknown")
        for w in result.streams["deals"].warnings
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-31T23:30:00Z", datetime(2024, 3, 31, 23, 30, tzinfo=UTC)),
        ("2024-03-31T23:30:00.123Z", datetime(2024, 3, 31, 23, 30, 0, 123000, tzinfo=UTC)),
        ("2024-03-31T23:30:00.000+0000", datetime(2024, 3, 31, 23, 30, tzinfo=UTC)),
        ("2024-03-31T23:30:00.000-05:00", datetime(2024, 4, 1, 4, 30, tzinfo=UTC)),
        ("1711927800000", datetime(2024, 3, 31, 23, 30, tzinfo=UTC)),
    ],
    ids=str,
)
def test_c03_instants_in_every_format_are_utc(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.slow
def test_c03_epoch_and_iso_modified_dates_land_equal_in_the_store() -> None:
    with Sandbox(cases_world(), clock=Clock(NOW)) as sb, Store(":memory:") as store:
        iso = sb.hubspot.create(
            "deals",
            {"dealname": "iso", "dealstage": "Won", "closedate": "2024-03-31T23:30:00.000Z"},
        )
        epoch = sb.hubspot.create(
            "deals", {"dealname": "epoch", "dealstage": "Won", "closedate": "1711927800000"}
        )
        sync(store, sb)
        got = dict(
            rows(store, "SELECT deal_id, close_date FROM deals WHERE deal_id IN (?, ?)", iso, epoch)
        )
        types = dict(
            rows(
                store,
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'deals'",
            )
        )
    # 23:30 UTC on March 31 is 19:30 in the portal's zone (US/Eastern): still March 31.
    assert got == {iso: date(2024, 3, 31), epoch: date(2024, 3, 31)}
    assert types["updated_at"] == types["created_at"] == "TIMESTAMP WITH TIME ZONE"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-04-10T00:00:00.000Z", date(2024, 4, 10)),  # date-only value: its UTC date
        ("2024-04-10T02:00:00.000Z", date(2024, 4, 9)),  # 22:00 on the 9th in New York
        ("2024-04-10T12:00:00Z", date(2024, 4, 10)),
        ("1712707200000", date(2024, 4, 10)),
        (None, None),
        ("", None),
    ],
    ids=str,
)
def test_close_date_in_the_portal_time_zone(text: str | None, expected: date | None) -> None:
    assert close_date(text, ZoneInfo("America/New_York")) == expected
