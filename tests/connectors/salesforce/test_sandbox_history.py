"""Amount and close-date history from Salesforce OpportunityHistory against the sandbox, and the
pipeline waterfall it gives, with exact values.

The small World (``tests/helpers/salesforce.py``): D3 (no partner, no amount, Prospecting,
created 2024-03-01, close date 2024-09-01) is edited on 2024-06-10: amount 6,000, close date
2024-06-20 -- one OpportunityHistory row. P1's D1 (USD 100,000, close date 2024-05-20) and D2
(CAD 100,000 = USD 80,000 at 1.25, close date 2024-05-22) are won. By hand, quarter 2024-Q2:
- partner none: D3's close date at the start was 2024-09-01 (Q3), at the end 2024-06-20:
  pulled in at its amount then, 6,000; end 6,000; start 0;
- partner P1: D1 and D2, open at the start with their close dates in Q2, won: start 180,000,
  won 180,000 (2 deals each).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.salesforce import Sleeps, sandbox_settings, start, sync

pytestmark = [pytest.mark.usefixtures("sandbox_env"), pytest.mark.slow]


def _waterfall(store: Store, member: str) -> dict[str, tuple]:
    rows = store.con.execute(
        "SELECT kpi, value, n FROM kpi_values WHERE grain = 'quarter' AND period_start = "
        "DATE '2024-04-01' AND dimension = 'partner' AND member = ? AND kpi LIKE 'waterfall_%' "
        "AND n > 0", [member]).fetchall()
    return {k.removeprefix("waterfall_"): (v, n) for k, v, n in rows}


def test_salesforce_history_feeds_the_waterfall(sleeps: Sleeps) -> None:
    with start() as sb, Store(":memory:") as store:
        sf = sb.salesforce
        sync(store, sandbox_settings(sb), sleeps)
        d3 = sf.id_for("Opportunity", "D3")
        sb.clock.freeze(datetime(2024, 6, 10, 12, 0, tzinfo=UTC))
        sf.update("Opportunity", d3, {"Amount": Decimal(6000), "CloseDate": date(2024, 6, 20)})
        sb.clock.freeze(datetime(2024, 6, 11, 12, 0, tzinfo=UTC))
        result, _ = sync(store, sandbox_settings(sb), sleeps)
        assert result.streams["stage_history"].tables["deal_history"].inserted == 2
        assert store.con.execute(
            "SELECT field, changed_at, value_amount, value_date FROM deal_history "
            "WHERE deal_id = ? ORDER BY field, changed_at", [d3]).fetchall() == [
            ("amount", datetime(2024, 3, 1, 9, 30, tzinfo=UTC), None, None),
            ("amount", datetime(2024, 6, 10, 12, tzinfo=UTC), Decimal(6000), None),
            ("close_date", datetime(2024, 3, 1, 9, 30, tzinfo=UTC), None, date(2024, 9, 1)),
            ("close_date", datetime(2024, 6, 10, 12, tzinfo=UTC), None, date(2024, 6, 20)),
        ]
        compute(store, KpiSettings(reporting_currency="USD"), grains=("quarter",),
                today=date(2024, 7, 15))
        assert _waterfall(store, "none") == {"pulled_in": (Decimal(6000), 1),
                                              "end": (Decimal(6000), 1)}
        assert _waterfall(store, sf.id_for("Account", "P1")) == {
            "start": (Decimal(180000), 2), "won": (Decimal(180000), 2)}
