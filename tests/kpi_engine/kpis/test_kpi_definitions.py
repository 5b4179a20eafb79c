"""Independent checks of the KPI definitions.

Spec: docs/kpis.md (every definition, unit and edge case).

Every expected value is worked out by hand in the comments next to it; nothing here calls the
engine's SQL or mirrors its logic.  Sums and counts compare exactly (Decimal / int); ratios,
averages, days and velocity compare with the exact Fraction rounded to 10 decimals (+-1e-10).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from tests.helpers.kpi import (
    assert_ratio,
    compute_kpis,
    d,
    deal,
    kpi,
    lead,
    members,
    period_starts,
    row_count,
    seed,
)

D = Decimal
F = Fraction

ALL_KPIS = {
    "deals_won",
    "deals_lost",
    "deals_closed",
    "deals_created",
    "won_amount",
    "average_deal_size",
    "median_deal_size",
    "pipeline_open_count",
    "pipeline_open_amount",
    "pipeline_weighted_amount",
    "pipeline_created_amount",
    "pipeline_change",
    "won_amount_share",
    "win_rate",
    "lead_conversion_rate",
    "sales_cycle_days",
    "sales_velocity",
    "quality_score",
    "quality_score_change",
    "deal_success_rate",
    *(f"waterfall_{b}" for b in ("start", "created", "pulled_in", "increased", "decreased",
                                 "pushed_out", "lost", "won", "end")),
}


# --------------------------------------------------------------------------- deal size


def test_average_deal_size_seed_example(store):
    # The seed's example: two won deals of $200 and $400 closed in one period.
    seed(
        store,
        [
            deal("won", amount=200, created_at="2024-04-02", close_date="2024-05-10"),
            deal("won", amount=400, created_at="2024-04-03", close_date="2024-05-20"),
        ],
    )
    compute_kpis(store)
    for grain, start in [
        ("month", "2024-05-01"),
        ("quarter", "2024-04-01"),
        ("year", "2024-01-01"),
    ]:
        # won_amount = 200 + 400 = 600 over 2 deals; average = 600 / 2 = 300; median(200, 400) = 300
        assert kpi(store, grain, start, "overall", "all", "won_amount") == (D(600), 2)
        assert kpi(store, grain, start, "overall", "all", "deals_won") == (2, 2)
        v, n = kpi(store, grain, start, "overall", "all", "average_deal_size")
        assert n == 2
        assert_ratio(v, 300)
        v, n = kpi(store, grain, start, "overall", "all", "median_deal_size")
        assert n == 2
        assert_ratio(v, 300)


def test_won_amount_null_amount_skipped_c04(store):
    # C-04: three won deals of partner 555 in Q2-2024; the 2nd has no amount (NULL, never 0).
    seed(
        store,
        [
            deal(
                "won",
                partner_id="555",
                amount="10000",
                created_at="2024-04-01",
                close_date="2024-04-10",
            ),
            deal(
                "won",
                partner_id="555",
                amount=None,
                created_at="2024-04-01",
                close_date="2024-05-10",
            ),
            deal(
                "won",
                partner_id="555",
                amount="20000.50",
                created_at="2024-04-01",
                close_date="2024-06-10",
            ),
        ],
    )
    compute_kpis(store)
    for dim, member in [("overall", "all"), ("partner", "555")]:
        # won_amount = 10000 + 20000.50 = 30000.50 over n = 2 deals with an amount
        assert kpi(store, "quarter", "2024-04-01", dim, member, "won_amount") == (D("30000.50"), 2)
        # all three are won
        assert kpi(store, "quarter", "2024-04-01", dim, member, "deals_won") == (3, 3)
        # average = 30000.50 / 2 = 15000.25 (coercing NULL to 0 would give 10000.1666..)
        v, n = kpi(store, "quarter", "2024-04-01", dim, member, "average_deal_size")
        assert n == 2
        assert_ratio(v, F("15000.25"))
        # median(10000, 20000.50) = 15000.25
        v, n = kpi(store, "quarter", "2024-04-01", dim, member, "median_deal_size")
        assert n == 2
        assert_ratio(v, F("15000.25"))


def test_average_deal_size_zero_amount_is_counted(store):
    # A 0 amount is a known amount: it counts (unlike NULL).
    seed(
        store,
        [
            deal("won", amount=0, created_at="2024-03-01", close_date="2024-03-05"),
            deal("won", amount=300, created_at="2024-03-01", close_date="2024-03-06"),
        ],
    )
    compute_kpis(store, grains=["month"])
    # won_amount = 0 + 300 = 300, n = 2; average = 300 / 2 = 150; median(0, 300) = 150
    assert kpi(store, "month", "2024-03-01", "overall", "all", "won_amount") == (D(300), 2)
    v, n = kpi(store, "month", "2024-03-01", "overall", "all", "average_deal_size")
    assert n == 2
    assert_ratio(v, 150)
    v, n = kpi(store, "month", "2024-03-01", "overall", "all", "median_deal_size")
    assert n == 2
    assert_ratio(v, 150)


@pytest.mark.parametrize(
    ("amounts", "median"),
    [
        pytest.param([100, 900, 200], 200, id="odd-count-middle-value"),
        pytest.param([1000, 100, 300, 200], 250, id="even-count-mean-of-middle-two"),
        pytest.param([D("0.10"), D("0.15")], F(1, 8), id="even-count-cents"),
    ],
)
def test_median_deal_size_of_won_amounts(store, amounts, median):
    seed(
        store,
        [deal("won", amount=a, created_at="2024-03-01", close_date="2024-03-20") for a in amounts],
    )
    compute_kpis(store, grains=["month"])
    # odd: sorted 100, 200, 900 -> 200; even: sorted 100, 200, 300, 1000 -> (200+300)/2 = 250;
    # cents: (0.10 + 0.15) / 2 = 0.125
    v, n = kpi(store, "month", "2024-03-01", "overall", "all", "median_deal_size")
    assert n == len(amounts)
    assert_ratio(v, median)


# --------------------------------------------------------------------------- counts and win rate


def test_win_rate_won_over_closed(store):
    seed(
        store,
        [
            deal("won", amount=10, created_at="2024-02-01", close_date="2024-03-02"),
            deal("won", amount=10, created_at="2024-02-01", close_date="2024-03-03"),
            deal("won", amount=10, created_at="2024-02-01", close_date="2024-03-31"),
            deal("lost", amount=10, created_at="2024-02-01", close_date="2024-03-01"),
            deal("open", amount=10, created_at="2024-03-01"),  # open: not closed, not in win_rate
        ],
    )
    compute_kpis(store, grains=["month"])
    m = ("month", "2024-03-01", "overall", "all")
    assert kpi(store, *m, "deals_won") == (3, 3)
    assert kpi(store, *m, "deals_lost") == (1, 1)
    assert kpi(store, *m, "deals_closed") == (4, 4)  # 3 won + 1 lost
    v, n = kpi(store, *m, "win_rate")  # 3 / 4
    assert n == 4
    assert_ratio(v, F(3, 4))


def test_win_rate_null_in_period_with_creations_but_no_closes(store):
    # Created in January, won in February: January has a creation and nothing closed.
    seed(store, [deal("won", amount=500, created_at="2024-01-10", close_date="2024-02-15")])
    compute_kpis(store, grains=["month"])
    jan = ("month", "2024-01-01", "overall", "all")
    assert kpi(store, *jan, "deals_created") == (1, 1)
    assert kpi(store, *jan, "win_rate") == (None, 0)  # rate over nothing: NULL, n 0
    assert kpi(store, *jan, "average_deal_size") == (None, 0)
    assert kpi(store, *jan, "median_deal_size") == (None, 0)
    assert kpi(store, *jan, "sales_cycle_days") == (None, 0)
    assert kpi(store, *jan, "deals_won") == (0, 0)
    assert kpi(store, *jan, "deals_closed") == (0, 0)
    # money sum over nothing is 0 (not NULL)
    assert kpi(store, *jan, "won_amount") == (D(0), 0)
    # overall won_amount of January is 0 -> share NULL (contract); n = member's won_amount n = 0
    assert kpi(store, *jan, "won_amount_share") == (None, 0)
    # win_rate is NULL -> velocity NULL
    assert kpi(store, *jan, "sales_velocity")[0] is None
    # still open at the end of January
    assert kpi(store, *jan, "pipeline_open_count") == (1, 1)
    assert kpi(store, *jan, "pipeline_open_amount") == (D(500), 1)
    assert kpi(store, *jan, "pipeline_created_amount") == (D(500), 1)


def test_money_sums_over_nothing_are_zero(store):
    # February: the deal closes, nothing is created and nothing is open at the end.
    seed(store, [deal("won", amount=500, created_at="2024-01-10", close_date="2024-02-15")])
    compute_kpis(store, grains=["month"])
    feb = ("month", "2024-02-01", "overall", "all")
    assert kpi(store, *feb, "deals_created") == (0, 0)
    assert kpi(store, *feb, "pipeline_created_amount") == (D(0), 0)
    assert kpi(store, *feb, "pipeline_open_count") == (0, 0)
    assert kpi(store, *feb, "pipeline_open_amount") == (D(0), 0)
    assert kpi(store, *feb, "pipeline_weighted_amount") == (D(0), 0)
    assert kpi(store, *feb, "deal_success_rate") == (None, 0)  # nobody created in February
    assert kpi(store, *feb, "won_amount") == (D(500), 1)
    # pipeline_change = open at end of Feb (0) - open at end of Jan (500) = -500
    assert kpi(store, *feb, "pipeline_change")[0] == D(-500)


# --------------------------------------------------------------------------- deleted / reopened


def test_deals_won_deleted_deal_never_counts(store):
    seed(
        store,
        [
            deal(
                "won", partner_id="P1", amount=100, created_at="2024-03-01", close_date="2024-03-10"
            ),
            deal(
                "won",
                partner_id="P1",
                amount=900,
                created_at="2024-03-01",
                close_date="2024-03-11",
                is_deleted=True,
            ),
            deal("open", partner_id="P1", amount=50, created_at="2024-03-02", is_deleted=True),
            # a partner whose only deal is deleted gets no rows at all
            deal(
                "won",
                partner_id="P9",
                amount=70,
                created_at="2024-03-01",
                close_date="2024-03-12",
                is_deleted=True,
            ),
        ],
    )
    compute_kpis(store, grains=["month"])
    for dim, member in [("overall", "all"), ("partner", "P1")]:
        m = ("month", "2024-03-01", dim, member)
        assert kpi(store, *m, "deals_won") == (1, 1)
        assert kpi(store, *m, "won_amount") == (D(100), 1)
        assert kpi(store, *m, "deals_created") == (1, 1)
        assert kpi(store, *m, "pipeline_open_count") == (0, 0)
        assert kpi(store, *m, "pipeline_created_amount") == (D(100), 1)
    assert "P9" not in members(store, "month", "2024-03-01", "partner")


def test_deals_won_reopened_deal_counts_as_open(store):
    # Closed on 2024-01-15 once, reopened since: now open with an old close_date.
    seed(
        store,
        [
            deal(
                "open",
                stage="Negotiation",
                amount=800,
                created_at="2024-01-02",
                close_date="2024-01-15",
            ),
        ],
    )
    compute_kpis(store, grains=["month"])
    jan = ("month", "2024-01-01", "overall", "all")
    assert kpi(store, *jan, "deals_won") == (0, 0)
    assert kpi(store, *jan, "deals_lost") == (0, 0)
    assert kpi(store, *jan, "deals_closed") == (0, 0)
    assert kpi(store, *jan, "won_amount") == (D(0), 0)
    # not closed -> open at the end of January
    assert kpi(store, *jan, "pipeline_open_count") == (1, 1)
    assert kpi(store, *jan, "pipeline_open_amount") == (D(800), 1)
    assert kpi(store, *jan, "deal_success_rate") == (D(0), 1)  # created in Jan, not won: 0 / 1


# --------------------------------------------------------------------------- unknown created date


def test_deals_created_unknown_created_date_left_out(store):
    seed(
        store,
        [
            # won, created date unknown
            deal("won", amount=500, created_at=None, close_date="2024-03-10"),
            # won, created 2024-03-01, closed 2024-03-11 -> cycle 10 days
            deal("won", amount=100, created_at="2024-03-01", close_date="2024-03-11"),
            # open, created date unknown: not in the pipeline (created_at < t is unknown)
            deal("open", amount=50, created_at=None),
            # open, created 2024-03-05
            deal("open", amount=70, created_at="2024-03-05"),
        ],
    )
    compute_kpis(store, grains=["month"])
    mar = ("month", "2024-03-01", "overall", "all")
    assert kpi(store, *mar, "deals_won") == (2, 2)  # by close date, both
    assert kpi(store, *mar, "won_amount") == (D(600), 2)  # 500 + 100
    assert kpi(store, *mar, "deals_created") == (2, 2)  # only the two known creations
    assert kpi(store, *mar, "pipeline_created_amount") == (D(170), 2)  # 100 + 70
    assert kpi(store, *mar, "pipeline_open_count") == (1, 1)  # only the 70 deal
    assert kpi(store, *mar, "pipeline_open_amount") == (D(70), 1)
    v, n = kpi(store, *mar, "sales_cycle_days")  # only the known deal: 10 days
    assert n == 1
    assert_ratio(v, 10)
    v, n = kpi(store, *mar, "deal_success_rate")  # March cohort: 1 won of 2 created
    assert n == 2
    assert_ratio(v, F(1, 2))


# --------------------------------------------------------------------------- pipeline


def _pipeline_deals():
    return [
        # closes exactly on the end date of March (2024-04-01): still open at t = 2024-04-01 00:00
        deal("won", partner_id="P1", amount=100, created_at="2024-03-05", close_date="2024-04-01"),
        # closed the day before the end date: not open at the end of March
        deal("won", partner_id="P1", amount=200, created_at="2024-03-05", close_date="2024-03-31"),
        deal("open", partner_id="P1", amount=300, created_at="2024-03-05"),
        # lost on 2024-04-01: open at the end of March as well
        deal("lost", partner_id="P1", amount=500, created_at="2024-03-05", close_date="2024-04-01"),
        # open without an amount: counted, not summed
        deal("open", partner_id="P1", amount=None, created_at="2024-03-06"),
        # created exactly at t = 2024-04-01 00:00 UTC: not created_at < t -> not open end of March
        deal("open", partner_id="P2", amount=400, created_at="2024-04-01T00:00:00"),
    ]


def test_pipeline_open_count_at_period_end(store):
    seed(store, _pipeline_deals())
    compute_kpis(store, grains=["month"])
    mar = ("month", "2024-03-01", "overall", "all")
    apr = ("month", "2024-04-01", "overall", "all")
    # March end: the 100 (closes 04-01), 300, 500 (lost 04-01), NULL-amount deal -> 4
    assert kpi(store, *mar, "pipeline_open_count") == (4, 4)
    # April end (t = 05-01): 300, NULL-amount, 400 -> 3
    assert kpi(store, *apr, "pipeline_open_count") == (3, 3)


def test_pipeline_open_amount_at_period_end(store):
    seed(store, _pipeline_deals())
    compute_kpis(store, grains=["month", "quarter"])
    # March: 100 + 300 + 500 = 900 over 3 deals with an amount
    assert kpi(store, "month", "2024-03-01", "overall", "all", "pipeline_open_amount") == (
        D(900),
        3,
    )
    # April: 300 + 400 = 700 over 2
    assert kpi(store, "month", "2024-04-01", "overall", "all", "pipeline_open_amount") == (
        D(700),
        2,
    )
    # quarter Q1 ends at the same instant as March, Q2 ends 2024-07-01: 300 + 400 = 700
    assert kpi(store, "quarter", "2024-01-01", "overall", "all", "pipeline_open_amount") == (
        D(900),
        3,
    )
    assert kpi(store, "month", "2024-04-01", "partner", "P2", "pipeline_open_amount") == (D(400), 1)


def test_pipeline_created_amount_sums_deals_created_in_period(store):
    seed(store, _pipeline_deals())
    compute_kpis(store, grains=["month"])
    # March creations: 100 + 200 + 300 + 500 (+ NULL) = 1100 over 4 with an amount
    assert kpi(store, "month", "2024-03-01", "overall", "all", "pipeline_created_amount") == (
        D(1100),
        4,
    )
    # April creation: the 400 deal created 2024-04-01 00:00
    assert kpi(store, "month", "2024-04-01", "overall", "all", "pipeline_created_amount") == (
        D(400),
        1,
    )


def test_pipeline_change_null_first_period_then_difference(store):
    seed(store, _pipeline_deals())
    compute_kpis(store, grains=["month"])
    # March is the first period of the data: NULL
    assert kpi(store, "month", "2024-03-01", "overall", "all", "pipeline_change")[0] is None
    assert kpi(store, "month", "2024-03-01", "partner", "P1", "pipeline_change")[0] is None
    # April overall: 700 - 900 = -200; n = n of pipeline_open_amount(April) = 2
    assert kpi(store, "month", "2024-04-01", "overall", "all", "pipeline_change") == (D(-200), 2)
    # P1: April 300 - March 900 = -600, n 1
    assert kpi(store, "month", "2024-04-01", "partner", "P1", "pipeline_change") == (D(-600), 1)
    # P2 had nothing open (and no rows) in March: 400 - 0 = 400, n 1
    assert "P2" not in members(store, "month", "2024-03-01", "partner")
    assert kpi(store, "month", "2024-04-01", "partner", "P2", "pipeline_change") == (D(400), 1)


def test_pipeline_weighted_amount_from_stage_history(store):
    deals = [
        # open, now in Negotiation; at t = 04-01 00:00 it was in Prospecting (the Negotiation row
        # has entered_at == t, not < t)  -> March 1000 x 0.1 = 100; April 1000 x 0.6 = 600
        deal("open", deal_id="G", stage="Negotiation", amount=1000, created_at="2024-03-01"),
        # open, Negotiation, no history -> current stage: 500 x 0.6 = 300 (both months)
        deal("open", deal_id="H", stage="Negotiation", amount=500, created_at="2024-03-01"),
        # won 2024-04-10 (open at the end of March); in Negotiation at t -> 2000 x 0.6 = 1200
        deal("won", deal_id="I", amount=2000, created_at="2024-03-02", close_date="2024-04-10"),
        # lost 2024-04-05, open at the end of March, no history and closed now -> left out
        deal("lost", deal_id="J", amount=700, created_at="2024-03-03", close_date="2024-04-05"),
    ]
    history = [
        {"source": "csv", "deal_id": "G", "stage": "Prospecting", "entered_at": "2024-03-01"},
        {"source": "csv", "deal_id": "G", "stage": "Negotiation", "entered_at": "2024-04-01"},
        {"source": "csv", "deal_id": "I", "stage": "Prospecting", "entered_at": "2024-03-02"},
        {"source": "csv", "deal_id": "I", "stage": "Negotiation", "entered_at": "2024-03-20T15:00"},
        {"source": "csv", "deal_id": "I", "stage": "Won", "entered_at": "2024-04-10T09:00"},
    ]
    from tests.helpers.kpi import ts

    for h in history:
        h["entered_at"] = ts(h["entered_at"])
    seed(store, deals, stage_history=history)
    compute_kpis(store, grains=["month"])
    mar = ("month", "2024-03-01", "overall", "all")
    apr = ("month", "2024-04-01", "overall", "all")
    # March: G 100 + H 300 + I 1200 = 1600 over 3 deals (J left out, not in n)
    assert kpi(store, *mar, "pipeline_weighted_amount") == (D(1600), 3)
    assert kpi(store, *mar, "pipeline_open_count") == (4, 4)  # G, H, I, J
    assert kpi(store, *mar, "pipeline_open_amount") == (D(4200), 4)  # 1000+500+2000+700
    # April (t = 05-01): G 600 + H 300 = 900 over 2 (I and J closed in April)
    assert kpi(store, *apr, "pipeline_weighted_amount") == (D(900), 2)


# --------------------------------------------------------------------------- channel / share


def test_won_amount_share_by_channel(store):
    seed(
        store,
        [
            deal(
                "won",
                amount=100,
                lead_source="paid_search",
                created_at="2024-06-01",
                close_date="2024-06-10",
            ),
            deal(
                "won",
                amount=200,
                lead_source="PAID_SOCIAL",
                created_at="2024-06-01",
                close_date="2024-06-11",
            ),
            deal(
                "won",
                amount=300,
                lead_source="partner referral",
                created_at="2024-06-01",
                close_date="2024-06-12",
            ),
            deal(
                "won",
                amount=150,
                lead_source="TRADE_SHOW",
                created_at="2024-06-01",
                close_date="2024-06-13",
            ),
            deal(
                "won",
                amount=250,
                lead_source=None,
                created_at="2024-06-01",
                close_date="2024-06-14",
            ),
        ],
    )
    compute_kpis(store, grains=["month"])
    m = ("month", "2024-06-01")
    # total 100 + 200 + 300 + 150 + 250 = 1000
    # paid (case-insensitive): 100 + 200 = 300; partner: 300;
    # unknown (unmapped + NULL): 150 + 250 = 400
    assert members(store, *m, "channel") == {"paid", "partner", "unknown"}
    assert kpi(store, *m, "channel", "paid", "won_amount") == (D(300), 2)
    assert kpi(store, *m, "channel", "partner", "won_amount") == (D(300), 1)
    assert kpi(store, *m, "channel", "unknown", "won_amount") == (D(400), 2)
    for member, share, n in [
        ("paid", F(3, 10), 2),
        ("partner", F(3, 10), 1),
        ("unknown", F(2, 5), 2),
    ]:
        v, got_n = kpi(store, *m, "channel", member, "won_amount_share")
        assert got_n == n
        assert_ratio(v, share)
    v, n = kpi(store, *m, "overall", "all", "won_amount_share")  # 1000 / 1000
    assert n == 5
    assert_ratio(v, 1)


@pytest.mark.parametrize(
    ("lead_source", "channel"),
    [
        pytest.param("ORGANIC_SEARCH", "earned", id="exact-case"),
        pytest.param("organic_search", "earned", id="lower-case"),
        pytest.param("Email_Marketing", "owned", id="mixed-case"),
        pytest.param("PARTNER", "partner", id="upper-case-of-Partner"),
        pytest.param("TRADE_SHOW", "unknown", id="unmapped"),
        pytest.param(None, "unknown", id="null"),
    ],
)
def test_channel_mapping(store, lead_source, channel):
    seed(
        store,
        [
            deal(
                "won",
                amount=10,
                lead_source=lead_source,
                created_at="2024-06-01",
                close_date="2024-06-02",
            )
        ],
    )
    compute_kpis(store, grains=["month"])
    assert members(store, "month", "2024-06-01", "channel") == {channel}
    assert kpi(store, "month", "2024-06-01", "channel", channel, "deals_won") == (1, 1)


# --------------------------------------------------------------------------- leads


def test_lead_conversion_rate_converted_by_now(store):
    leads = [
        lead(
            partner_id="P1", created_at="2024-02-03", converted_at="2024-02-10"
        ),  # converted in Feb
        lead(
            partner_id="P1", created_at="2024-02-05", converted_at="2024-05-01"
        ),  # converted later
        lead(partner_id="P1", created_at="2024-02-07", converted_at=None),  # never
        lead(partner_id="P1", created_at="2024-02-08", converted_at="2024-02-09", is_deleted=True),
        lead(partner_id="P1", created_at="2024-03-01", converted_at=None),  # other period
    ]
    seed(store, [deal("open", partner_id="P1", amount=10, created_at="2024-02-01")], leads=leads)
    compute_kpis(store, grains=["month"])
    for dim, member in [("overall", "all"), ("partner", "P1")]:
        # February: 2 converted (by now) of 3 live leads created in February
        v, n = kpi(store, "month", "2024-02-01", dim, member, "lead_conversion_rate")
        assert n == 3
        assert_ratio(v, F(2, 3))


# --------------------------------------------------------------------------- sales cycle / velocity


def _cycle_deals():
    return [
        # created 2024-04-01 23:30 UTC (date 04-01), won 2024-05-01 -> 30 days
        deal("won", amount=1000, created_at="2024-04-01T23:30:00", close_date="2024-05-01"),
        # created 2024-05-10 08:00, won 2024-05-20 -> 10 days
        deal("won", amount=2000, created_at="2024-05-10T08:00:00", close_date="2024-05-20"),
        # won with close before creation -> skipped in the cycle (still won)
        deal("won", amount=3000, created_at="2024-05-25", close_date="2024-05-20"),
        # won, unknown creation -> skipped in the cycle (still won)
        deal("won", amount=4000, created_at=None, close_date="2024-05-15"),
        # lost: not in the cycle
        deal("lost", amount=9, created_at="2024-05-01", close_date="2024-05-02"),
    ]


def test_sales_cycle_days_mean_over_won_deals(store):
    seed(store, _cycle_deals())
    compute_kpis(store, grains=["month"])
    # (30 + 10) / 2 = 20 days over 2 deals
    v, n = kpi(store, "month", "2024-05-01", "overall", "all", "sales_cycle_days")
    assert n == 2
    assert_ratio(v, 20)


def test_sales_cycle_days_uses_utc_dates_whatever_the_machine_timezone(
    store, tmp_path, monkeypatch
):
    # Same data, but the process runs in New York: 2024-04-01T23:30Z is still 2024-04-01 in UTC
    # (in New York it is 19:30 on 04-01 ... and 2024-05-10T02:00Z would be 05-09 there).
    import time

    from kpi_engine.store import Store

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        ny = Store(tmp_path / "ny.duckdb")
        try:
            seed(
                ny,
                [
                    # created 2024-05-10 02:00 UTC = 05-09 22:00 New York; UTC date 05-10 -> 10 days
                    deal(
                        "won", amount=100, created_at="2024-05-10T02:00:00", close_date="2024-05-20"
                    ),
                    # created 2024-05-01 03:00 UTC = 04-30 23:00 New York: a May creation in UTC
                    deal("open", amount=50, created_at="2024-05-01T03:00:00"),
                ],
            )
            compute_kpis(ny, grains=["month"])
            v, n = kpi(ny, "month", "2024-05-01", "overall", "all", "sales_cycle_days")
            assert n == 1
            assert_ratio(v, 10)
            assert kpi(ny, "month", "2024-05-01", "overall", "all", "deals_created") == (2, 2)
            assert period_starts(ny, "month") == [date(2024, 5, 1)]
        finally:
            ny.close()
    finally:
        monkeypatch.undo()
        time.tzset()


def test_sales_velocity_formula(store):
    seed(store, _cycle_deals())
    compute_kpis(store, grains=["month"])
    # May: deals_created = 3 (05-10, 05-25, lost 05-01; the unknown one is not created in May)
    #      win_rate = 4 won / 5 closed; average_deal_size = (1000+2000+3000+4000)/4 = 2500
    #      sales_cycle_days = 20
    # velocity = 3 x 4/5 x 2500 / 20 = 300 per day; n = deals_created = 3
    may = ("month", "2024-05-01", "overall", "all")
    assert kpi(store, *may, "deals_created") == (3, 3)
    v, n = kpi(store, *may, "sales_velocity")
    assert n == 3
    assert_ratio(v, F(3) * F(4, 5) * 2500 / 20)


def test_sales_velocity_null_when_a_factor_is_null(store):
    seed(store, _cycle_deals())
    compute_kpis(store, grains=["month"])
    # April: one creation (the 04-01 deal), nothing closed -> win_rate NULL -> velocity NULL
    assert kpi(store, "month", "2024-04-01", "overall", "all", "win_rate") == (None, 0)
    assert kpi(store, "month", "2024-04-01", "overall", "all", "sales_velocity")[0] is None


def test_sales_velocity_null_when_cycle_is_zero(store):
    # created and won the same day: cycle 0 days -> velocity NULL (no division by zero)
    seed(store, [deal("won", amount=100, created_at="2024-07-03T10:00", close_date="2024-07-03")])
    compute_kpis(store, grains=["month"])
    jul = ("month", "2024-07-01", "overall", "all")
    v, n = kpi(store, *jul, "sales_cycle_days")
    assert n == 1
    assert_ratio(v, 0)
    assert kpi(store, *jul, "sales_velocity")[0] is None


# --------------------------------------------------------------------------- quality score


def _quality_deals():
    def won(p, amount, day, month="08"):
        return deal(
            "won",
            partner_id=p,
            amount=amount,
            created_at=f"2024-{month}-01",
            close_date=f"2024-{month}-{day:02d}",
        )

    def lost(p, day, month="08"):
        return deal(
            "lost",
            partner_id=p,
            amount=1,
            created_at=f"2024-{month}-01",
            close_date=f"2024-{month}-{day:02d}",
        )

    return [
        # August (min_closed_deals = 2)
        won("P1", 100, 2),
        won("P1", 100, 3),  # won_amount 200, deals_won 2, closed 2
        won("P2", 300, 4),
        lost("P2", 5),  # won_amount 300, deals_won 1, closed 2
        won("P3", 150, 6),
        won("P3", 50, 7),  # won_amount 200, deals_won 2, closed 2 (ties P1)
        won("P4", 1000, 8),  # closed 1 < 2 -> NULL
        won(None, 10, 9),
        won(None, 10, 10),
        won(None, 10, 11),  # 'none': not ranked
        # September
        won("P1", 500, 2, "09"),
        lost("P1", 3, "09"),  # won_amount 500, deals_won 1
        won("P2", 100, 4, "09"),
        won("P2", 100, 5, "09"),  # won_amount 200, deals_won 2
        won("P3", 100, 6, "09"),  # closed 1 -> NULL
    ]


def test_quality_score_ranks_members_with_min_closed_deals(store):
    seed(store, _quality_deals())
    compute_kpis(store, grains=["month"], min_closed_deals=2)
    aug = ("month", "2024-08-01", "partner")
    # ranked: P1, P2, P3.
    # cume_dist(won_amount): P1 200 -> 2/3 (200, 200 <= 200), P3 200 -> 2/3, P2 300 -> 3/3
    # cume_dist(deals_won):  P2 1 -> 1/3, P1 2 -> 3/3, P3 2 -> 3/3
    # P1 = 100 x (0.5 x 2/3 + 0.5 x 1) = 83.333.. -> 83.33; P3 the same (tie)
    # P2 = 100 x (0.5 x 1 + 0.5 x 1/3) = 66.666.. -> 66.67
    assert kpi(store, *aug, "P1", "quality_score") == (D("83.33"), 2)
    assert kpi(store, *aug, "P3", "quality_score") == (D("83.33"), 2)
    assert kpi(store, *aug, "P2", "quality_score") == (D("66.67"), 2)
    # P4 has 1 closed deal < 2: NULL, n = its deals_closed = 1
    assert kpi(store, *aug, "P4", "quality_score") == (None, 1)
    # the 'none' bucket is not ranked (had it been, P1 would be 75): NULL, n = 3
    assert kpi(store, *aug, "none", "quality_score") == (None, 3)
    # no overall row for quality_score / quality_score_change
    assert row_count(store, dimension="overall", kpi="quality_score") == 0
    assert row_count(store, dimension="overall", kpi="quality_score_change") == 0


def test_quality_score_weights_and_rounding(store):
    seed(store, _quality_deals())
    # weights 0.8 on won_amount, 0.2 on deals_won:
    # P1 = 100 x (0.8 x 2/3 + 0.2 x 1) = 73.333.. -> 73.33
    # P2 = 100 x (0.8 x 1 + 0.2 x 1/3) = 86.666.. -> 86.67
    compute_kpis(
        store,
        grains=["month"],
        min_closed_deals=2,
        quality_weights={"won_amount": 0.8, "deals_won": 0.2},
    )
    aug = ("month", "2024-08-01", "partner")
    assert kpi(store, *aug, "P1", "quality_score") == (D("73.33"), 2)
    assert kpi(store, *aug, "P3", "quality_score") == (D("73.33"), 2)
    assert kpi(store, *aug, "P2", "quality_score") == (D("86.67"), 2)


def test_quality_score_change_between_periods(store):
    seed(store, _quality_deals())
    compute_kpis(store, grains=["month"], min_closed_deals=2)
    sep = ("month", "2024-09-01", "partner")
    # September ranked: P1, P2.
    # won_amount: P1 500 -> 1, P2 200 -> 1/2; deals_won: P1 1 -> 1/2, P2 2 -> 1
    # P1 = 100 x (0.5 x 1 + 0.5 x 1/2) = 75; P2 = 100 x (0.5 x 1/2 + 0.5 x 1) = 75
    assert kpi(store, *sep, "P1", "quality_score") == (D(75), 2)
    assert kpi(store, *sep, "P2", "quality_score") == (D(75), 2)
    # change = quality_score(Sep) - quality_score(Aug), of the (rounded) scores:
    # P1 75 - 83.33 = -8.33; P2 75 - 66.67 = 8.33
    assert kpi(store, *sep, "P1", "quality_score_change") == (D("-8.33"), 2)
    assert kpi(store, *sep, "P2", "quality_score_change") == (D("8.33"), 2)
    # P3 below the minimum in September -> NULL change
    assert kpi(store, *sep, "P3", "quality_score_change")[0] is None
    # August is the first period: no previous score -> NULL
    assert kpi(store, "month", "2024-08-01", "partner", "P1", "quality_score_change")[0] is None


# --------------------------------------------------------------------------- deal success (cohort)


def test_deal_success_rate_cohort_won_by_now(store):
    seed(
        store,
        [
            deal("won", amount=1, created_at="2024-01-05", close_date="2024-01-20"),  # won in Jan
            deal("won", amount=1, created_at="2024-01-06", close_date="2024-03-20"),  # won later
            deal("lost", amount=1, created_at="2024-01-07", close_date="2024-02-10"),  # lost
            deal("open", amount=1, created_at="2024-01-08"),  # still open
            deal(
                "won", amount=1, created_at="2024-01-09", close_date="2024-01-21", is_deleted=True
            ),
        ],
    )
    compute_kpis(store, grains=["month", "quarter"])
    # January cohort: 4 live deals, 2 won by now -> 2/4
    v, n = kpi(store, "month", "2024-01-01", "overall", "all", "deal_success_rate")
    assert n == 4
    assert_ratio(v, F(1, 2))
    # nobody created in February -> NULL, n 0
    assert kpi(store, "month", "2024-02-01", "overall", "all", "deal_success_rate") == (None, 0)
    v, n = kpi(store, "quarter", "2024-01-01", "overall", "all", "deal_success_rate")
    assert n == 4
    assert_ratio(v, F(1, 2))


# --------------------------------------------------------------------------- currencies

# The schema keys currency_rates on start_date (NOT NULL, default 0001-01-01 = undated).
UNDATED = {"start_date": date(1, 1, 1), "end_date": None}


def test_won_amount_other_currency_with_and_without_rate(store):
    rates = [
        {"source": "csv", "currency": "EUR", "per_currency": "USD", "rate": D("0.8"), **UNDATED}
    ]
    seed(
        store,
        [
            deal(
                "won", amount=100, currency="USD", created_at="2024-10-01", close_date="2024-10-05"
            ),
            # 1 USD = 0.8 EUR -> 100 EUR = 100 / 0.8 = 125 USD
            deal(
                "won", amount=100, currency="EUR", created_at="2024-10-01", close_date="2024-10-06"
            ),
            # no GBP rate -> left out of amount KPIs, still a won deal
            deal(
                "won", amount=100, currency="GBP", created_at="2024-10-01", close_date="2024-10-07"
            ),
            # open EUR 40 -> 50 USD; open GBP: counted, not summed
            deal("open", amount=40, currency="EUR", created_at="2024-10-02"),
            deal("open", amount=40, currency="GBP", created_at="2024-10-02"),
        ],
        currency_rates=rates,
    )
    compute_kpis(store, grains=["month"])
    oct_ = ("month", "2024-10-01", "overall", "all")
    assert kpi(store, *oct_, "won_amount") == (D(225), 2)  # 100 + 125
    assert kpi(store, *oct_, "deals_won") == (3, 3)
    v, n = kpi(store, *oct_, "average_deal_size")  # 225 / 2
    assert n == 2
    assert_ratio(v, F("112.5"))
    assert kpi(store, *oct_, "pipeline_open_count") == (2, 2)
    assert kpi(store, *oct_, "pipeline_open_amount") == (D(50), 1)
    # created: 100 + 125 + 50 (the two GBP deals left out) over 3
    assert kpi(store, *oct_, "pipeline_created_amount") == (D(275), 3)


def test_won_amount_c05_conversion_rate_and_amount_reporting(store):
    rates = [
        {
            "source": "salesforce",
            "currency": "USD",
            "per_currency": "USD",
            "rate": D("1.0"),
            **UNDATED,
        },
        {
            "source": "salesforce",
            "currency": "CAD",
            "per_currency": "USD",
            "rate": D("1.25"),
            **UNDATED,
        },
        # a hubspot EUR rate exists, but the connector's amount_reporting wins over it
        {
            "source": "hubspot",
            "currency": "EUR",
            "per_currency": "USD",
            "rate": D("0.8"),
            **UNDATED,
        },
    ]
    seed(
        store,
        [
            deal(
                "won",
                source="salesforce",
                deal_id="006XX0000000011AAA",
                partner_id="001XX00000000P1AAA",
                amount=100000,
                currency="USD",
                created_at="2024-04-01",
                close_date="2024-05-20",
            ),
            deal(
                "won",
                source="salesforce",
                deal_id="006XX0000000012AAA",
                partner_id="001XX00000000P1AAA",
                amount=100000,
                currency="CAD",
                created_at="2024-04-01",
                close_date="2024-05-22",
            ),
            deal(
                "won",
                source="hubspot",
                deal_id="4001",
                partner_id="P-HS",
                amount=50000,
                currency="EUR",
                amount_reporting=54000,
                created_at="2024-04-01",
                close_date="2024-05-23",
            ),
        ],
        currency_rates=rates,
    )
    compute_kpis(store, grains=["quarter"])
    q2p1 = ("quarter", "2024-04-01", "partner", "001XX00000000P1AAA")
    # 100000 + 100000 / 1.25 = 180000
    assert kpi(store, *q2p1, "won_amount") == (D(180000), 2)
    v, n = kpi(store, *q2p1, "average_deal_size")  # 180000 / 2
    assert n == 2
    assert_ratio(v, 90000)
    # hubspot deal: amount_reporting 54000 (not 50000, not 50000 / 0.8 = 62500)
    assert kpi(store, "quarter", "2024-04-01", "partner", "P-HS", "won_amount") == (D(54000), 1)
    assert kpi(store, "quarter", "2024-04-01", "overall", "all", "won_amount") == (D(234000), 3)


def test_won_amount_undated_rate_given_as_open_dates(store):
    # The contract: an undated rate has start_date 0001-01-01 and end_date NULL.
    rates = [
        {
            "source": "csv",
            "currency": "EUR",
            "per_currency": "USD",
            "rate": D("0.8"),
            "start_date": date(1, 1, 1),
            "end_date": None,
        }
    ]
    seed(
        store,
        [
            deal(
                "won", amount=100, currency="EUR", created_at="2024-10-01", close_date="2024-10-06"
            ),
        ],
        currency_rates=rates,
    )
    compute_kpis(store, grains=["month"])
    # 100 / 0.8 = 125
    assert kpi(store, "month", "2024-10-01", "overall", "all", "won_amount") == (D(125), 1)


def test_won_amount_dated_rate_in_force_on_close_date(store):
    rates = [
        {
            "source": "csv",
            "currency": "CAD",
            "per_currency": "USD",
            "rate": D("1.25"),
            "start_date": date(2024, 1, 1),
            "end_date": date(2024, 6, 1),
        },
        {
            "source": "csv",
            "currency": "CAD",
            "per_currency": "USD",
            "rate": D("1.6"),
            "start_date": date(2024, 6, 1),
            "end_date": date(2025, 1, 1),
        },
    ]
    seed(
        store,
        [
            # 2024-05-31 < 2024-06-01: rate 1.25 -> 100 / 1.25 = 80
            deal(
                "won", amount=100, currency="CAD", created_at="2024-05-01", close_date="2024-05-31"
            ),
            # 2024-06-01: start of the second row (start_date <= close < end_date): 160 / 1.6 = 100
            deal(
                "won", amount=160, currency="CAD", created_at="2024-05-01", close_date="2024-06-01"
            ),
        ],
        currency_rates=rates,
    )
    compute_kpis(store, grains=["month", "quarter"])
    assert kpi(store, "month", "2024-05-01", "overall", "all", "won_amount") == (D(80), 1)
    assert kpi(store, "month", "2024-06-01", "overall", "all", "won_amount") == (D(100), 1)
    assert kpi(store, "quarter", "2024-04-01", "overall", "all", "won_amount") == (D(180), 2)


# --------------------------------------------------------------------------- fiscal year


def test_deals_won_fiscal_year_starting_february(store):
    seed(
        store,
        [
            deal("won", amount=10, created_at="2016-12-01", close_date="2017-01-15"),
            deal("won", amount=20, created_at="2016-12-01", close_date="2017-02-01"),
        ],
    )
    compute_kpis(store, fiscal_year_start_month=2)
    # quarters run Feb-Apr, May-Jul, Aug-Oct, Nov-Jan; years Feb-Jan
    # 2017-01-15 -> quarter 2016-11-01 (Nov-Jan), year 2016-02-01
    assert kpi(store, "quarter", "2016-11-01", "overall", "all", "deals_won") == (1, 1)
    assert kpi(store, "quarter", "2016-11-01", "overall", "all", "won_amount") == (D(10), 1)
    assert kpi(store, "year", "2016-02-01", "overall", "all", "won_amount") == (D(10), 1)
    # 2017-02-01 -> quarter 2017-02-01, year 2017-02-01
    assert kpi(store, "quarter", "2017-02-01", "overall", "all", "won_amount") == (D(20), 1)
    assert kpi(store, "year", "2017-02-01", "overall", "all", "won_amount") == (D(20), 1)
    # both created 2016-12-01: in quarter 2016-11-01
    assert kpi(store, "quarter", "2016-11-01", "overall", "all", "deals_created") == (2, 2)
    assert period_starts(store, "quarter") == [date(2016, 11, 1), date(2017, 2, 1)]
    assert period_starts(store, "year") == [date(2016, 2, 1), date(2017, 2, 1)]
    # months are calendar months whatever the fiscal year
    assert kpi(store, "month", "2017-01-01", "overall", "all", "won_amount") == (D(10), 1)
    ends = store.con.execute(
        "SELECT DISTINCT period_end FROM kpi_values WHERE grain = 'quarter' "
        "AND period_start = DATE '2016-11-01'"
    ).fetchall()
    assert [e[0] for e in ends] == [date(2017, 2, 1)]


# --------------------------------------------------------------------------- dimensions


def test_won_amount_team_and_unit_from_owner(store):
    owners = [
        {
            "source": "csv",
            "owner_id": "O1",
            "name": "Ann",
            "team": "Alpha",
            "unit": "East",
            "is_active": True,
        },
        {
            "source": "csv",
            "owner_id": "O2",
            "name": "Bob",
            "team": "Beta",
            "unit": "East",
            "is_active": True,
        },
        {
            "source": "csv",
            "owner_id": "O3",
            "name": "Cy",
            "team": None,
            "unit": None,
            "is_active": True,
        },
    ]
    seed(
        store,
        [
            deal(
                "won", owner_id="O1", amount=100, created_at="2024-03-01", close_date="2024-03-10"
            ),
            deal(
                "won", owner_id="O2", amount=200, created_at="2024-03-01", close_date="2024-03-10"
            ),
            deal("won", owner_id="O3", amount=25, created_at="2024-03-01", close_date="2024-03-10"),
            deal("won", owner_id=None, amount=50, created_at="2024-03-01", close_date="2024-03-10"),
        ],
        owners=owners,
    )
    compute_kpis(store, grains=["month"])
    m = ("month", "2024-03-01")
    assert members(store, *m, "owner") == {"O1", "O2", "O3", "none"}
    assert kpi(store, *m, "owner", "none", "won_amount") == (D(50), 1)
    # team: Alpha 100, Beta 200, none = O3 (no team) 25 + owner-less 50 = 75
    assert members(store, *m, "team") == {"Alpha", "Beta", "none"}
    assert kpi(store, *m, "team", "Alpha", "won_amount") == (D(100), 1)
    assert kpi(store, *m, "team", "Beta", "won_amount") == (D(200), 1)
    assert kpi(store, *m, "team", "none", "won_amount") == (D(75), 2)
    # unit: East 100 + 200 = 300, none 75
    assert members(store, *m, "unit") == {"East", "none"}
    assert kpi(store, *m, "unit", "East", "won_amount") == (D(300), 2)
    assert kpi(store, *m, "unit", "none", "deals_won") == (2, 2)
    names = dict(
        store.con.execute(
            "SELECT dimension || ':' || member, member_name FROM kpi_values "
            "WHERE grain = 'month' AND kpi = 'won_amount'"
        ).fetchall()
    )
    assert names["owner:O1"] == "Ann"
    assert names["owner:none"] == "No owner"
    assert names["team:Alpha"] == "Alpha"
    assert names["team:none"] == "No team"
    assert names["unit:none"] == "No unit"
    assert names["overall:all"] == "All"


def test_every_kpi_row_exists_for_each_member(store):
    seed(
        store,
        [deal("won", partner_id="P1", amount=10, created_at="2024-03-01", close_date="2024-03-02")],
    )
    compute_kpis(store, grains=["month"])

    def kpis_of(dim, member):
        return {
            r[0]
            for r in store.con.execute(
                "SELECT kpi FROM kpi_values WHERE grain = 'month' AND dimension = ? AND member = ?",
                [dim, member],
            ).fetchall()
        }

    assert kpis_of("partner", "P1") == ALL_KPIS
    assert kpis_of("overall", "all") == ALL_KPIS - {"quality_score", "quality_score_change"}


# --------------------------------------------------------------------------- as_of


def test_pipeline_open_amount_as_of_cut(store):
    seed(
        store,
        [
            deal("open", amount=50, created_at="2024-02-10"),  # U: open since Feb
            deal(
                "won", amount=100, created_at="2024-03-01", close_date="2024-03-10"
            ),  # X: before as_of
            deal(
                "won", amount=200, created_at="2024-03-02", close_date="2024-03-15"
            ),  # Y: on as_of
            deal("won", amount=300, created_at="2024-03-05", close_date="2024-03-25"),  # W: after
            deal("won", amount=500, created_at="2024-03-03", close_date="2024-04-10"),  # V: April
            deal("open", amount=400, created_at="2024-03-20"),  # Z: created after
        ],
    )
    compute_kpis(store, grains=["month", "quarter"], as_of="2024-03-15")
    # t_cut = 2024-03-15 00:00 UTC; April (and Q2) start after it -> dropped
    assert period_starts(store, "month") == [date(2024, 2, 1), date(2024, 3, 1)]
    assert period_starts(store, "quarter") == [date(2024, 1, 1)]
    mar = ("month", "2024-03-01", "overall", "all")
    # outcomes: close_date < 2024-03-15 -> only X
    assert kpi(store, *mar, "deals_won") == (1, 1)
    assert kpi(store, *mar, "won_amount") == (D(100), 1)
    # creations before t_cut: X, Y, W, V (Z is created 03-20)
    assert kpi(store, *mar, "deals_created") == (4, 4)
    # open at t = 03-15 00:00: U, Y (close 03-15 >= date(t)), W, V -> 50 + 200 + 300 + 500 = 1050
    assert kpi(store, *mar, "pipeline_open_count") == (4, 4)
    assert kpi(store, *mar, "pipeline_open_amount") == (D(1050), 4)
    # March cohort won by now (close_date < 03-15): X -> 1 / 4
    v, n = kpi(store, *mar, "deal_success_rate")
    assert n == 4
    assert_ratio(v, F(1, 4))
    # the quarter gets the same cut
    assert kpi(store, "quarter", "2024-01-01", "overall", "all", "pipeline_open_amount") == (
        D(1050),
        4,
    )
    # kpi_values.as_of = the t used; February keeps its own end
    as_of = dict(
        store.con.execute(
            "SELECT DISTINCT period_start, as_of FROM kpi_values WHERE grain = 'month'"
        ).fetchall()
    )
    assert as_of == {date(2024, 2, 1): date(2024, 3, 1), date(2024, 3, 1): date(2024, 3, 15)}
    # February is untouched by the cut: U open at 03-01
    assert kpi(store, "month", "2024-02-01", "overall", "all", "pipeline_open_amount") == (D(50), 1)


# --------------------------------------------------------------------------- empty period


def test_deals_won_empty_period_has_no_rows(store):
    seed(
        store,
        [
            deal(
                "won", partner_id="P1", amount=10, created_at="2024-01-10", close_date="2024-01-20"
            ),
            deal(
                "won", partner_id="P2", amount=20, created_at="2024-03-05", close_date="2024-03-06"
            ),
        ],
    )
    compute_kpis(store, grains=["month", "quarter"])
    # February: nothing created, closed or open -> no rows at all
    assert row_count(store, grain="month", period_start="2024-02-01") == 0
    assert kpi(store, "month", "2024-01-01", "partner", "P1", "deals_won") == (1, 1)
    assert kpi(store, "month", "2024-03-01", "partner", "P2", "deals_won") == (1, 1)
    assert kpi(store, "quarter", "2024-01-01", "overall", "all", "deals_won") == (2, 2)
    # March change: open at end of March 0 - open at end of February 0 = 0
    assert kpi(store, "month", "2024-03-01", "overall", "all", "pipeline_change") == (D(0), 0)


def test_deals_won_empty_period_member_open_across_gets_rows(store):
    seed(
        store,
        [
            deal(
                "won", partner_id="P1", amount=10, created_at="2024-01-10", close_date="2024-01-20"
            ),
            deal(
                "won", partner_id="P2", amount=20, created_at="2024-03-05", close_date="2024-03-06"
            ),
            # P3: created in January, won in March -> open at the end of February
            deal(
                "won", partner_id="P3", amount=30, created_at="2024-01-05", close_date="2024-03-10"
            ),
        ],
    )
    compute_kpis(store, grains=["month"])
    feb = ("month", "2024-02-01")
    assert members(store, *feb, "partner") == {"P3"}
    assert members(store, *feb, "overall") == {"all"}
    assert kpi(store, *feb, "partner", "P3", "pipeline_open_count") == (1, 1)
    assert kpi(store, *feb, "partner", "P3", "pipeline_open_amount") == (D(30), 1)
    assert kpi(store, *feb, "partner", "P3", "deals_won") == (0, 0)
    assert kpi(store, *feb, "partner", "P3", "won_amount") == (D(0), 0)
    assert kpi(store, *feb, "partner", "P3", "deals_created") == (0, 0)
    assert kpi(store, *feb, "partner", "P3", "win_rate") == (None, 0)
    # P3 February change: 30 open at end of Feb - 30 at end of Jan = 0, n 1
    assert kpi(store, *feb, "partner", "P3", "pipeline_change") == (D(0), 1)


# --------------------------------------------------------------------------- more edge cases


def test_deals_created_buckets_by_utc_instant(store):
    from datetime import datetime, timedelta, timezone

    est = timezone(timedelta(hours=-5))
    seed(
        store,
        [
            # 2024-03-31 23:30 at -05:00 = 2024-04-01 04:30 UTC -> April (C-03)
            deal("open", amount=10, created_at=datetime(2024, 3, 31, 23, 30, tzinfo=est)),
            # 2024-03-31 23:59:59 UTC -> March
            deal("open", amount=20, created_at="2024-03-31T23:59:59"),
        ],
    )
    compute_kpis(store, grains=["month"])
    assert kpi(store, "month", "2024-03-01", "overall", "all", "deals_created") == (1, 1)
    assert kpi(store, "month", "2024-04-01", "overall", "all", "deals_created") == (1, 1)
    assert kpi(store, "month", "2024-04-01", "overall", "all", "pipeline_created_amount") == (
        D(10),
        1,
    )


def test_lead_conversion_rate_member_with_only_leads_gets_rows(store):
    leads = [
        lead(partner_id="P5", created_at="2024-02-03", converted_at="2024-02-04"),
        lead(partner_id="P5", created_at="2024-02-04", converted_at=None),
    ]
    seed(store, [deal("open", partner_id="P1", amount=10, created_at="2024-02-01")], leads=leads)
    compute_kpis(store, grains=["month"])
    v, n = kpi(store, "month", "2024-02-01", "partner", "P5", "lead_conversion_rate")  # 1 / 2
    assert n == 2
    assert_ratio(v, F(1, 2))
    assert kpi(store, "month", "2024-02-01", "partner", "P5", "deals_created") == (0, 0)
    # P1 has a deal but no leads: rate over nothing
    assert kpi(store, "month", "2024-02-01", "partner", "P1", "lead_conversion_rate") == (None, 0)


def test_lead_conversion_rate_as_of_counts_conversions_before_cut(store):
    leads = [
        lead(created_at="2024-03-01", converted_at="2024-03-10"),  # before the cut: converted
        lead(created_at="2024-03-02", converted_at="2024-03-20"),  # after the cut: not yet
        lead(created_at="2024-03-03", converted_at=None),
        lead(created_at="2024-03-16", converted_at=None),  # created after the cut: not counted
    ]
    seed(store, [deal("open", amount=10, created_at="2024-03-01")], leads=leads)
    compute_kpis(store, grains=["month"], as_of="2024-03-15")
    # 1 converted by 2024-03-15 00:00 of 3 leads created before it
    v, n = kpi(store, "month", "2024-03-01", "overall", "all", "lead_conversion_rate")
    assert n == 3
    assert_ratio(v, F(1, 3))


def test_pipeline_change_as_of_uses_cut_instant(store):
    seed(
        store,
        [
            deal("open", amount=50, created_at="2024-02-10"),
            deal("won", amount=200, created_at="2024-03-02", close_date="2024-03-15"),
            deal("won", amount=100, created_at="2024-03-01", close_date="2024-03-10"),
        ],
    )
    compute_kpis(store, grains=["month"], as_of="2024-03-15")
    # open at 03-15 00:00: 50 + 200 (closes 03-15) = 250; open at 03-01: 50 -> change 200, n 2
    assert kpi(store, "month", "2024-03-01", "overall", "all", "pipeline_change") == (D(200), 2)


def test_won_amount_share_member_without_wins_is_zero(store):
    seed(
        store,
        [
            deal(
                "won",
                amount=100,
                lead_source="PAID_SEARCH",
                created_at="2024-06-01",
                close_date="2024-06-10",
            ),
            deal("open", amount=999, lead_source="EMAIL_MARKETING", created_at="2024-06-02"),
        ],
    )
    compute_kpis(store, grains=["month"])
    m = ("month", "2024-06-01", "channel")
    assert kpi(store, *m, "owned", "won_amount") == (D(0), 0)
    assert kpi(store, *m, "owned", "won_amount_share")[0] == 0  # 0 / 100
    v, n = kpi(store, *m, "paid", "won_amount_share")  # 100 / 100
    assert n == 1
    assert_ratio(v, 1)


def test_quality_score_channel_unknown_not_ranked(store):
    def won(src, amount, day):
        return deal(
            "won",
            lead_source=src,
            amount=amount,
            created_at="2024-08-01",
            close_date=f"2024-08-{day:02d}",
        )

    seed(
        store,
        [
            won("PAID_SEARCH", 100, 1),
            won("PAID_SEARCH", 100, 2),  # paid: 200, 2 won
            won("REFERRALS", 500, 3),
            won("REFERRALS", 10, 4),  # earned: 510, 2 won
            won(None, 1000, 5),
            won("TRADE_SHOW", 1000, 6),  # unknown: 2000, 2 won
        ],
    )
    compute_kpis(store, grains=["month"], min_closed_deals=2)
    m = ("month", "2024-08-01", "channel")
    # ranked: paid, earned. won_amount: paid 200 -> 1/2, earned 510 -> 1; deals_won both 2 -> 1
    # paid = 100 x (0.5 x 1/2 + 0.5 x 1) = 75; earned = 100 x (0.5 + 0.5) = 100
    assert kpi(store, *m, "paid", "quality_score") == (D(75), 2)
    assert kpi(store, *m, "earned", "quality_score") == (D(100), 2)
    assert kpi(store, *m, "unknown", "quality_score") == (None, 2)


def test_team_of_unknown_owner_is_none(store):
    # owner O9 is not in the owners table: member 'O9' for owner, 'none' for team and unit
    seed(
        store,
        [deal("won", owner_id="O9", amount=10, created_at="2024-03-01", close_date="2024-03-02")],
    )
    compute_kpis(store, grains=["month"])
    assert members(store, "month", "2024-03-01", "owner") == {"O9"}
    assert members(store, "month", "2024-03-01", "team") == {"none"}
    assert members(store, "month", "2024-03-01", "unit") == {"none"}


def test_deals_won_recompute_replaces_rows(store):
    seed(store, [deal("won", amount=10, created_at="2024-03-01", close_date="2024-03-02")])
    compute_kpis(store)
    before = row_count(store)
    quarter_rows = row_count(store, grain="quarter")
    # a second deal, then only the month grain again: month replaced, quarter untouched
    store.upsert("deals", [deal("won", amount=5, created_at="2024-03-01", close_date="2024-03-03")])
    compute_kpis(store, grains=["month"])
    assert row_count(store) == before
    assert row_count(store, grain="quarter") == quarter_rows
    assert kpi(store, "month", "2024-03-01", "overall", "all", "won_amount") == (D(15), 2)
    assert kpi(store, "quarter", "2024-01-01", "overall", "all", "won_amount") == (D(10), 1)


def test_deals_won_date_from_to_keeps_containing_periods(store):
    seed(
        store,
        [
            deal("won", amount=1, created_at="2024-01-05", close_date="2024-01-06"),
            deal("won", amount=2, created_at="2024-02-05", close_date="2024-02-06"),
            deal("won", amount=3, created_at="2024-03-05", close_date="2024-03-06"),
            deal("won", amount=4, created_at="2024-04-05", close_date="2024-04-06"),
        ],
    )
    compute_kpis(store, grains=["month"], date_from="2024-02-15", date_to="2024-03-01")
    # the months containing 02-15 and 03-01
    assert period_starts(store, "month") == [date(2024, 2, 1), date(2024, 3, 1)]
    assert kpi(store, "month", "2024-03-01", "overall", "all", "won_amount") == (D(3), 1)


def test_won_amount_only_null_amounts_is_zero_not_null(store):
    # one won deal without an amount: a sum over nothing is 0, the average over nothing NULL
    seed(store, [deal("won", amount=None, created_at="2024-03-01", close_date="2024-03-02")])
    compute_kpis(store, grains=["month"])
    m = ("month", "2024-03-01", "overall", "all")
    assert kpi(store, *m, "deals_won") == (1, 1)
    assert kpi(store, *m, "won_amount") == (D(0), 0)
    assert kpi(store, *m, "average_deal_size") == (None, 0)
    assert kpi(store, *m, "median_deal_size") == (None, 0)
    assert kpi(store, *m, "won_amount_share") == (None, 0)  # overall won_amount 0
    assert kpi(store, *m, "sales_velocity")[0] is None  # average_deal_size NULL


def test_sales_velocity_zero_when_nothing_created(store):
    # created in January, won in February: February has deals_created 0 (a count, not NULL),
    # win_rate 1/1, average 100, cycle 2024-02-01 - 2024-01-01 = 31 days
    # velocity = 0 x 1 x 100 / 31 = 0, n = deals_created = 0
    seed(store, [deal("won", amount=100, created_at="2024-01-01", close_date="2024-02-01")])
    compute_kpis(store, grains=["month"])
    feb = ("month", "2024-02-01", "overall", "all")
    v, n = kpi(store, *feb, "sales_cycle_days")
    assert n == 1
    assert_ratio(v, 31)
    assert kpi(store, *feb, "sales_velocity") == (D(0), 0)


def test_sales_velocity_from_unrounded_factors(store):
    # 9 created, 4 won / 6 closed, won amounts 900 on average, cycle 39 days:
    # 9 x (4/6) x 900 / 39 = 5400 / 39 = 138.461538461538... -> 138.4615384615 (10 places).
    # Multiplying the win rate already rounded to 0.6666666667 would give ...4685.
    deals = []
    for i, (created, closed, amount) in enumerate(
        [("2024-01-01", "2024-02-09", 600), ("2024-01-02", "2024-02-10", 900),
         ("2024-01-03", "2024-02-11", 1200), ("2024-01-04", "2024-02-12", 900)]
    ):
        deals.append(deal("won", deal_id=f"w{i}", amount=amount, created_at=created,
                          close_date=closed))
    deals += [deal("lost", deal_id=f"l{i}", created_at="2024-01-05", close_date="2024-02-01")
              for i in range(2)]
    deals += [deal("open", deal_id=f"o{i}", created_at="2024-01-06") for i in range(3)]
    seed(store, deals)
    compute_kpis(store, grains=["quarter"])
    # cycles: 39, 39, 39, 39 days -> 39
    assert kpi(store, "quarter", "2024-01-01", "overall", "all", "sales_cycle_days") == (D(39), 4)
    assert kpi(store, "quarter", "2024-01-01", "overall", "all", "sales_velocity") == (
        D("138.4615384615"), 9)


def test_deals_won_from_to_recomputes_only_that_range(store):
    seed(store, [deal("won", deal_id=f"m{m}", amount=100, created_at=f"2024-0{m}-01",
                      close_date=f"2024-0{m}-10") for m in (1, 2, 3)])
    compute_kpis(store, grains=["month"])
    first = dict(store.con.execute(
        "SELECT period_start, max(computed_at) FROM kpi_values GROUP BY 1").fetchall())
    # a new won deal in March only; recompute February..March
    store.upsert("deals", [deal("won", deal_id="m3b", amount=50, created_at="2024-03-02",
                                close_date="2024-03-11")])
    compute_kpis(store, grains=["month"], date_from="2024-02-15", date_to="2024-03-01")
    second = dict(store.con.execute(
        "SELECT period_start, max(computed_at) FROM kpi_values GROUP BY 1").fetchall())
    assert sorted(second) == [d("2024-01-01"), d("2024-02-01"), d("2024-03-01")]
    assert second[d("2024-01-01")] == first[d("2024-01-01")]  # January kept as it was
    assert second[d("2024-02-01")] > first[d("2024-02-01")]
    assert kpi(store, "month", "2024-03-01", "overall", "all", "deals_won") == (D(2), 2)
    assert kpi(store, "month", "2024-01-01", "overall", "all", "deals_won") == (D(1), 1)
