"""Export formats: exact columns, ISO dates, plain numbers, NULL as empty / null."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from kpi_engine.errors import EngineError
from kpi_engine.export import COLUMNS, export, plain_number
from kpi_engine.store import Store
from tests.helpers.kpi_rows import insert_long_rows


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "e.duckdb")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        ("quarter", date(2017, 4, 1), date(2017, 7, 1), "overall", "all", "All", "won_amount",
         Decimal("3086111"), 1254),
        ("quarter", date(2017, 4, 1), date(2017, 7, 1), "overall", "all", "All", "win_rate",
         Decimal("0.6171259843"), 2032),
        ("quarter", date(2017, 4, 1), date(2017, 7, 1), "partner", "P1", "Ünïcode, \"Ltd\"",
         "average_deal_size", None, 0),
        ("year", date(2017, 1, 1), date(2018, 1, 1), "overall", "all", "All", "won_amount",
         Decimal("1234567890.5"), 3),
    ]
    insert_long_rows(s, rows, now)
    yield s
    s.close()


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("3086111.0000000000"), "3086111"), (Decimal("0E-10"), "0"),
     (Decimal("2461.0135566188"), "2461.0135566188"), (Decimal("1E+3"), "1000"),
     (Decimal("-117855.5000"), "-117855.5"), (None, ""), (7, "7")],
)
def test_plain_number(value: Decimal | int | None, text: str) -> None:
    assert plain_number(value) == text


def test_export_csv_exact_text(store: Store) -> None:
    buffer = io.StringIO()
    assert export(store, "csv", buffer, grain="quarter") == 3
    assert buffer.getvalue() == (
        "grain,period_start,dimension,member,member_name,kpi,value,n,period_status\n"
        "quarter,2017-04-01,overall,all,All,win_rate,0.6171259843,2032,complete\n"
        "quarter,2017-04-01,overall,all,All,won_amount,3086111,1254,complete\n"
        'quarter,2017-04-01,partner,P1,"Ünïcode, ""Ltd""",average_deal_size,,0,complete\n'
    )


def test_export_json_numbers_and_null(store: Store) -> None:
    buffer = io.StringIO()
    export(store, "json", buffer)
    data = json.loads(buffer.getvalue(), parse_float=Decimal)
    assert list(data[0]) == list(COLUMNS)
    assert data[0]["value"] == Decimal("0.6171259843")
    assert data[2]["value"] is None
    assert data[2]["member_name"] == 'Ünïcode, "Ltd"'
    assert data[3] == {"grain": "year", "period_start": "2017-01-01", "dimension": "overall",
                       "member": "all", "member_name": "All", "kpi": "won_amount",
                       "value": Decimal("1234567890.5"), "n": 3, "period_status": "complete"}


def test_export_parquet_same_rows(store: Store, tmp_path: Path) -> None:
    target = tmp_path / "k.parquet"
    assert export(store, "parquet", target, dimension="overall") == 3
    rows = duckdb.connect().execute(f"SELECT * FROM '{target}'").fetchall()
    assert [r[5] for r in rows] == ["win_rate", "won_amount", "won_amount"]
    assert rows[1][6] == Decimal("3086111")


def test_export_rejects_unknown_format(store: Store) -> None:
    with pytest.raises(EngineError, match="unknown format 'xml'"):
        export(store, "xml", io.StringIO())


def test_export_period_choices_and_status(store: Store) -> None:
    # a quarter in progress on 2017-08-20: measured at its as_of, not at its end
    insert_long_rows(store, [("quarter", date(2017, 7, 1), date(2017, 10, 1), "overall", "all",
                              "All", "won_amount", 10, 1)], as_of=[date(2017, 8, 20)])
    today = date(2017, 8, 20)

    def periods(period: str | date) -> list[tuple[str, str, str]]:
        buffer = io.StringIO()
        export(store, "csv", buffer, grain="quarter", kpi="won_amount", period=period,
               today=today)
        return [tuple(line.split(",")[i] for i in (1, 6, 8))
                for line in buffer.getvalue().splitlines()[1:]]

    assert periods("complete") == [("2017-04-01", "3086111", "complete")]
    assert periods("latest") == [("2017-04-01", "3086111", "complete")]
    assert periods("current") == [("2017-07-01", "10", "to date")]
    assert periods(date(2017, 9, 30)) == [("2017-07-01", "10", "to date")]
    assert periods("all") == [("2017-04-01", "3086111", "complete"),
                              ("2017-07-01", "10", "to date")]
    # before 2017-07-01 (today) the second quarter had not ended: nothing complete
    buffer = io.StringIO()
    assert export(store, "csv", buffer, grain="quarter", period="complete",
                  today=date(2017, 6, 30)) == 0
