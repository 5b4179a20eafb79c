"""Deal history from HubSpot (``propertiesWithHistory`` for dealstage, amount, closedate and
pipeline) against the sandbox: a deal moved to another pipeline keeps stage-history rows of its
old pipeline's stages, and each is resolved in the pipeline the deal was in then, so the weighted
pipeline of past period ends is right; the amount and close-date versions feed the waterfall.

Deal D7 (no partner, USD 300, created 2024-05-01 in Prospecting, p = 0.1 in pipeline
``default``) moves on 2024-06-10 to pipeline ``partner``, stage ``p_review`` (p = 0.8), with
amount 500 and close date 2024-06-20. By hand:
- weighted pipeline at the end of May (partner ``none`` = D7 alone): its (current) amount x the
  probability of its stage then, a ``default`` stage: 500 x 0.1 = 50 (resolved in ``partner``
  the stage would be unknown: NULL, n = 0);
- at the end of June: 500 x 0.8 = 400;
- June's waterfall: start 300 (its close date's first version is in force before it was set),
  increased 200, end 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm_sandbox.core import Clock
from crm_sandbox.server import Sandbox
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.hubspot import rows, sync
from tests.helpers.hubspot_world import small_world

pytestmark = pytest.mark.slow

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(small_world(), clock=Clock(NOW)) as sandbox:
        sandbox.hubspot.add_pipeline("partner", "Partner pipeline", [
            ("p_review", "Partner review", 0.8, False), ("p_won", "Partner won", 1.0, True)])
        yield sandbox


def _value(store: Store, month: str, kpi: str) -> tuple:
    return rows(store, "SELECT value, n FROM kpi_values WHERE grain = 'month' AND period_start = ? "
                "AND dimension = 'partner' AND member = 'none' AND kpi = ?",
                date.fromisoformat(month), kpi)[0]


def test_hubspot_deal_moved_between_pipelines_weighs_past_stages_in_their_pipeline(sb) -> None:
    with Store(":memory:") as store:
        sync(store, sb)
        d7 = sb.hubspot.deal_id("D7")
        sb.clock.freeze(datetime(2024, 6, 10, 12, 0, tzinfo=UTC))
        sb.hubspot.update("deals", d7, {"pipeline": "partner", "dealstage": "p_review",
                                        "amount": "500", "closedate": "2024-06-20"})
        sb.clock.freeze(datetime(2024, 6, 11, 12, 0, tzinfo=UTC))
        result = sync(store, sb)
        assert result.status == "ok"
        assert rows(store, "SELECT stage, pipeline FROM stage_history WHERE deal_id = ? "
                    "ORDER BY entered_at", d7) == [
            (sb.hubspot.stage_id_by_key["Prospecting"], "default"), ("p_review", "partner")]
        assert rows(store, "SELECT field, changed_at, value_amount, value_date, value_text "
                    "FROM deal_history WHERE deal_id = ? ORDER BY field, crm_order", d7) == [
            ("amount", datetime(2024, 5, 1, 8, tzinfo=UTC), Decimal(300), None, None),
            ("amount", datetime(2024, 6, 10, 12, tzinfo=UTC), Decimal(500), None, None),
            ("close_date", datetime(2024, 6, 10, 12, tzinfo=UTC), None, date(2024, 6, 20), None),
            ("pipeline", datetime(2024, 5, 1, 8, tzinfo=UTC), None, None, "default"),
            ("pipeline", datetime(2024, 6, 10, 12, tzinfo=UTC), None, None, "partner"),
        ]
        compute(store, KpiSettings(reporting_currency="USD"), grains=("month",),
                today=date(2024, 7, 15))
        assert _value(store, "2024-05-01", "pipeline_weighted_amount") == (Decimal(50), 1)
        assert _value(store, "2024-06-01", "pipeline_weighted_amount") == (Decimal(400), 1)
        got = {k: _value(store, "2024-06-01", f"waterfall_{k}")
               for k in ("start", "increased", "end", "created", "pushed_out")}
        assert got == {"start": (Decimal(300), 1), "increased": (Decimal(200), 1),
                       "end": (Decimal(500), 1), "created": (Decimal(0), 0),
                       "pushed_out": (Decimal(0), 0)}
