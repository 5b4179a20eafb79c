"""ForecastingQuota + Period records -> targets rows: revenue quotas of month / quarter / year
periods; quantity quotas and other periods left out with a note; 15-character owner ids get
their checksum (005XX: X upper case at positions 4 and 5 -> 11000 = Y; then 0 0 -> AA)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connectors.salesforce.quotas import periods_soql, quota_rows

PERIODS = {
    "026XX0000000001AAA": {"Id": "026XX0000000001AAA", "StartDate": "2024-04-01",
                           "EndDate": "2024-06-30", "Type": "Quarter"},
    "026XX0000000002AAA": {"Id": "026XX0000000002AAA", "StartDate": "2024-04-01",
                           "EndDate": "2024-04-07", "Type": "Week"},
}


def _quota(qid: str, period: str = "026XX0000000001AAA", **extra: object) -> dict:
    return {"Id": qid, "QuotaOwnerId": "005XX0000000001", "QuotaAmount": 200000.0,
            "QuotaQuantity": None, "IsAmount": True, "IsQuantity": False,
            "StartDate": "2024-04-01", "PeriodId": period,
            "SystemModstamp": "2024-03-01T09:00:00.000+0000", **extra}


def test_quota_rows_revenue_quotas_of_forecast_periods() -> None:
    rows, notes = quota_rows([
        _quota("0J9A"),
        _quota("0J9B", IsAmount=False, IsQuantity=True, QuotaAmount=None, QuotaQuantity=10),
        _quota("0J9C", period="026XX0000000002AAA"),
        _quota("0J9D", QuotaAmount=None),
    ], PERIODS, "USD")
    assert [(r["target_id"], r["member"], r["kpi"], r["grain"], r["period_start"],
             r["period_end"], r["target"], r["currency"]) for r in rows] == [
        ("0J9A", "005XX0000000001YAA", "won_amount", "quarter", date(2024, 4, 1),
         date(2024, 7, 1), Decimal(200000), "USD"),
    ]
    assert notes == [
        "salesforce targets: 1 quantity quota(s) left out (product units are no partnerkpi KPI)",
        "salesforce targets: 1 quota(s) of a period that is not a month, quarter or year left out",
        "salesforce targets: 1 quota(s) without QuotaAmount or QuotaOwnerId left out",
    ]


def test_quota_periods_soql_quotes_the_ids() -> None:
    assert periods_soql(["026B", "026A", "026A"]) == (
        "SELECT Id, StartDate, EndDate, Type FROM Period WHERE Id IN ('026A','026B')")
