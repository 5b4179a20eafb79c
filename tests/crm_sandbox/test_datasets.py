"""Tests of crm_sandbox.datasets: the Maven loader and the synthetic generator."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from crm_sandbox.datasets import MAVEN_DIR, load_maven, synthetic
from crm_sandbox.synthetic import CURRENCY_RATES, DEFAULT_NOW, LEAD_SOURCES, SYNTHETIC_STAGES
from crm_sandbox.world import Deal, World

MAVEN_PIPELINE = MAVEN_DIR / "sales_pipeline.csv"
MAVEN_TEAMS = MAVEN_DIR / "sales_teams.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def maven() -> World:
    return load_maven()


@pytest.fixture(scope="module")
def world() -> World:
    """A mid-sized synthetic world for invariants and proportions."""
    return synthetic(20_000, seed=3)


# --------------------------------------------------------------------------------------------
# Maven


def test_maven_counts_match_the_csv_and_provenance(maven: World) -> None:
    rows = _rows(MAVEN_PIPELINE)
    teams = _rows(MAVEN_TEAMS)
    won_rows = [r for r in rows if r["deal_stage"] == "Won"]
    lost_rows = [r for r in rows if r["deal_stage"] == "Lost"]
    q2 = [r for r in rows if "2017-04-01" <= r["close_date"] <= "2017-06-30"]
    csv_q2_won = sum(r["deal_stage"] == "Won" for r in q2)
    csv_q2_lost = sum(r["deal_stage"] == "Lost" for r in q2)
    csv_won_sum = sum(int(r["close_value"]) for r in won_rows)

    stage_of = {s.key: s for s in maven.stages}
    won = [d for d in maven.deals if stage_of[d.stage_key].is_won]
    lost = [d for d in maven.deals if stage_of[d.stage_key].is_closed]
    lost = [d for d in lost if not stage_of[d.stage_key].is_won]
    q2_start, q2_end = date(2017, 4, 1), date(2017, 6, 30)
    in_q2 = [d for d in maven.deals if d.close_date and q2_start <= d.close_date <= q2_end]

    assert len(maven.deals) == len(rows) == 8800
    assert len(won) == len(won_rows) == 4238
    assert len(lost) == len(lost_rows) == 2473
    assert sum(d.amount for d in won) == csv_won_sum == 10_005_534
    assert len(maven.partners) == len({t["manager"] for t in teams}) == 6
    assert len(maven.owners) == len(teams) == 35
    assert sum(stage_of[d.stage_key].is_won for d in in_q2) == csv_q2_won == 1254
    assert sum(not stage_of[d.stage_key].is_won for d in in_q2) == csv_q2_lost == 778
    assert maven.leads == []
    assert maven.corporate_currency == "USD"
    assert maven.currency_rates == {"USD": Decimal(1)}


def test_maven_partners_and_owners(maven: World) -> None:
    teams = _rows(MAVEN_TEAMS)
    managers = sorted({t["manager"] for t in teams})
    assert [p.key for p in maven.partners] == ["P01", "P02", "P03", "P04", "P05", "P06"]
    assert [p.name for p in maven.partners] == [f"{m} Partners" for m in managers]
    assert "Dustin Brinkmann Partners" in {p.name for p in maven.partners}
    assert {(p.partner_type, p.tier, p.is_deleted) for p in maven.partners} == {
        ("Reseller", None, False)
    }

    agents = sorted(t["sales_agent"] for t in teams)
    assert [o.name for o in maven.owners] == agents
    assert [o.key for o in maven.owners][:2] == ["U001", "U002"]
    assert maven.owners[-1].key == "U035"
    by_agent = {t["sales_agent"]: t for t in teams}
    for owner in maven.owners:
        assert owner.team == by_agent[owner.name]["manager"]
        assert owner.unit == by_agent[owner.name]["regional_office"]
        assert owner.email.endswith("@maventech.example")
        assert owner.is_active
    assert len({o.email for o in maven.owners}) == 35
    # agents without deals are still listed
    with_deals = {d.owner_key for d in maven.deals}
    idle = sorted(o.name for o in maven.owners if o.key not in with_deals)
    assert idle == [
        "Carl Lin",
        "Carol Thompson",
        "Elizabeth Anderson",
        "Mei-Mei Johns",
        "Natalya Ivanova",
    ]
    # a deal's partner is its owner's manager's team
    partner_by_manager = {p.name.removesuffix(" Partners"): p.key for p in maven.partners}
    owner_by_key = {o.key: o for o in maven.owners}
    for deal in maven.deals:
        assert deal.partner_key == partner_by_manager[owner_by_key[deal.owner_key].team]


def test_maven_stages(maven: World) -> None:
    got = [(s.key, s.label, s.probability, s.is_closed, s.is_won, s.order) for s in maven.stages]
    assert got == [
        ("Prospecting", "Prospecting", Decimal("0.1"), False, False, 1),
        ("Engaging", "Engaging", Decimal("0.4"), False, False, 2),
        ("Won", "Won", Decimal("1.0"), True, True, 3),
        ("Lost", "Lost", Decimal("0.0"), True, False, 4),
    ]


def test_maven_deal_mapping(maven: World) -> None:
    deals = {d.key: d for d in maven.deals}
    first = deals["1C1I7A6R"]  # Moses Frase,GTX Plus Basic,Cancity,Won,2016-10-20,2017-03-01,1054
    assert first.name == "GTX Plus Basic - Cancity"
    assert first.account_name == "Cancity"
    assert first.stage_key == "Won"
    assert first.amount == Decimal(1054)
    assert first.currency == "USD"
    assert first.lead_source is None
    assert first.created_at == datetime(2016, 10, 20, tzinfo=UTC)
    assert first.close_date == date(2017, 3, 1)
    assert first.stage_history == [
        ("Engaging", datetime(2016, 10, 20, tzinfo=UTC)),
        ("Won", datetime(2017, 3, 1, tzinfo=UTC)),
    ]
    assert first.modified_at == datetime(2017, 3, 1, tzinfo=UTC)
    assert next(o for o in maven.owners if o.key == first.owner_key).name == "Moses Frase"

    by_stage = Counter(d.stage_key for d in maven.deals)
    assert by_stage == {"Won": 4238, "Lost": 2473, "Engaging": 1589, "Prospecting": 500}
    for deal in maven.deals:
        assert not deal.is_deleted
        if deal.stage_key == "Prospecting":
            assert deal.created_at is None
            assert deal.stage_history == []
            assert deal.amount is None
            assert deal.close_date is None
            assert deal.modified_at == datetime(2016, 10, 20, tzinfo=UTC)
        elif deal.stage_key == "Engaging":
            assert deal.amount is None
            assert deal.close_date is None
            assert deal.stage_history == [("Engaging", deal.created_at)]
            assert deal.modified_at == deal.created_at
        else:
            assert deal.amount is not None
            assert deal.created_at is not None
            assert deal.close_date is not None
            assert [s for s, _ in deal.stage_history] == ["Engaging", deal.stage_key]
            assert deal.modified_at == deal.stage_history[-1][1]
        if deal.stage_key == "Lost":
            assert deal.amount == 0
        if deal.account_name is None:
            assert deal.name.endswith(" - No account")
    assert sum(d.account_name is None for d in maven.deals) == 1425
    assert all(d.created_at is None or d.created_at.tzinfo is UTC for d in maven.deals)


def test_maven_custom_path_and_unknown_agent(tmp_path: Path) -> None:
    (tmp_path / "sales_teams.csv").write_text(
        "sales_agent,manager,regional_office\r\nZed Zee,Mia Manager,West\r\nAl Aa,Mia Manager,\r\n"
    )
    (tmp_path / "sales_pipeline.csv").write_text(
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\r\n"
        "X1,Zed Zee,MG Special,,Engaging,2017-01-02,,\r\n"
    )
    w = load_maven(tmp_path)
    assert [(o.key, o.name, o.unit) for o in w.owners] == [
        ("U001", "Al Aa", None),
        ("U002", "Zed Zee", "West"),
    ]
    (deal,) = w.deals
    assert deal.name == "MG Special - No account"
    assert (deal.owner_key, deal.partner_key) == ("U002", "P01")

    (tmp_path / "sales_pipeline.csv").write_text(
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\r\n"
        "X1,Nobody,MG Special,,Engaging,2017-01-02,,\r\n"
    )
    with pytest.raises(ValueError, match="unknown sales agent"):
        load_maven(tmp_path)


# --------------------------------------------------------------------------------------------
# synthetic: determinism and pinned values


def test_synthetic_is_deterministic() -> None:
    assert synthetic(1500, seed=7) == synthetic(1500, seed=7)
    assert synthetic(1500, seed=7) != synthetic(1500, seed=8)
    assert synthetic(1500) == synthetic(1500, 0, now=DEFAULT_NOW)


def test_synthetic_pinned_values_seed_1() -> None:
    w = synthetic(1000, seed=1)
    stage_of = {s.key: s for s in w.stages}
    won = [d for d in w.deals if stage_of[d.stage_key].is_won]
    lost = [d for d in w.deals if stage_of[d.stage_key].is_closed]
    lost = [d for d in lost if not stage_of[d.stage_key].is_won]
    assert (len(w.partners), len(w.owners), len(w.deals), len(w.leads)) == (3, 6, 1000, 500)
    # Pinned once from the generator's output: a change here means the generator changed.
    assert len(won) == 253
    assert len(lost) == 350
    assert sum(d.partner_key is not None for d in w.deals) == 692
    assert sum(d.amount for d in won if d.amount is not None) == Decimal("5100467.62")
    assert sum(d.is_deleted for d in w.deals) == 8
    assert sum(lead.converted_deal_key is not None for lead in w.leads) == 150
    first = w.deals[0]
    assert (first.key, first.stage_key, first.amount, first.created_at) == (
        "D000001",
        "Closed Lost",
        Decimal("112775.01"),
        datetime(2022, 1, 2, 21, 25, 41, tzinfo=UTC),
    )


# --------------------------------------------------------------------------------------------
# synthetic: invariants


def test_synthetic_reference_integrity(world: World) -> None:
    partner_keys = {p.key for p in world.partners}
    owner_keys = {o.key for o in world.owners}
    stage_keys = {s.key for s in world.stages}
    deal_keys = [d.key for d in world.deals]
    assert len(set(deal_keys)) == len(deal_keys)
    assert len(partner_keys) == len(world.partners)
    assert len(owner_keys) == len(world.owners)
    assert len({o.email for o in world.owners}) == len(world.owners)
    assert len({p.name for p in world.partners}) == len(world.partners)
    for deal in world.deals:
        assert deal.partner_key is None or deal.partner_key in partner_keys
        assert deal.owner_key in owner_keys
        assert deal.stage_key in stage_keys
    lead_keys = [lead.key for lead in world.leads]
    assert len(set(lead_keys)) == len(lead_keys)
    for lead in world.leads:
        assert lead.partner_key is None or lead.partner_key in partner_keys
        assert lead.owner_key in owner_keys


def test_synthetic_stages_are_salesforce_standard(world: World) -> None:
    got = [(s.key, s.probability, s.is_closed, s.is_won, s.order) for s in world.stages]
    assert got == [
        ("Prospecting", Decimal("0.1"), False, False, 1),
        ("Qualification", Decimal("0.2"), False, False, 2),
        ("Needs Analysis", Decimal("0.4"), False, False, 3),
        ("Proposal/Price Quote", Decimal("0.6"), False, False, 4),
        ("Negotiation/Review", Decimal("0.8"), False, False, 5),
        ("Closed Won", Decimal("1.0"), True, True, 6),
        ("Closed Lost", Decimal("0.0"), True, False, 7),
    ]
    assert [s[0] for s in SYNTHETIC_STAGES] == [s.key for s in world.stages]


def test_synthetic_deal_invariants(world: World) -> None:
    now = DEFAULT_NOW
    stage_of = {s.key: s for s in world.stages}
    window_start = now - timedelta(days=3 * 365)
    created = [d.created_at for d in world.deals]
    assert created == sorted(created)  # keys follow creation order
    for deal in world.deals:
        stage = stage_of[deal.stage_key]
        assert deal.created_at is not None
        assert deal.created_at.tzinfo is not None
        assert window_start <= deal.created_at < now
        assert deal.modified_at <= now
        history = deal.stage_history
        assert history, deal.key
        assert history[0] == ("Prospecting", deal.created_at)
        assert history[-1][0] == deal.stage_key  # ends at the current stage
        assert deal.modified_at == history[-1][1]  # modified = last event
        times = [t for _, t in history]
        assert times == sorted(times)
        assert len(set(times)) == len(times)  # strictly increasing
        orders = [stage_of[k].order for k, _ in history]
        assert orders == sorted(set(orders))
        # open stages walked in order without gaps, then at most one closed stage
        closed_flags = [stage_of[k].is_closed for k, _ in history]
        n_open = closed_flags.count(False)
        assert orders[:n_open] == list(range(1, n_open + 1))
        assert closed_flags == [False] * n_open + [stage.is_closed] * (len(history) - n_open)
        assert len(history) - n_open == (1 if stage.is_closed else 0)
        if stage.is_won:
            assert stage.is_closed
            assert n_open == 5  # won deals walked the whole pipeline
        if stage.is_closed:
            assert deal.close_date is not None
            assert deal.close_date >= deal.created_at.date()
            assert deal.close_date == deal.modified_at.date()
            cycle = deal.modified_at - deal.created_at
            assert timedelta(days=5) <= cycle <= timedelta(days=180)
            assert deal.close_date <= now.date()
        else:
            assert deal.close_date is None or deal.close_date > now.date()
        if deal.amount is not None:
            assert deal.amount.as_tuple().exponent >= -2
            assert deal.amount == deal.amount.quantize(Decimal("0.01"))
            assert Decimal(500) <= deal.amount <= Decimal(200_000)
        assert deal.currency in world.currency_rates
        assert deal.lead_source is None or deal.lead_source in LEAD_SOURCES
        assert deal.account_name is not None
        assert deal.name.startswith(deal.account_name + " - ")


def test_synthetic_lead_invariants(world: World) -> None:
    deals = {d.key: d for d in world.deals}
    converted = [lead for lead in world.leads if lead.converted_deal_key is not None]
    assert len({lead.converted_deal_key for lead in converted}) == len(converted)
    created = [lead.created_at for lead in world.leads]
    assert created == sorted(created)
    for lead in world.leads:
        assert lead.created_at <= DEFAULT_NOW
        assert lead.lead_source is None or lead.lead_source in LEAD_SOURCES
        if lead.converted_deal_key is None:
            assert lead.converted_at is None
            continue
        deal = deals[lead.converted_deal_key]
        assert deal.created_at is not None
        assert deal.created_at > lead.created_at
        assert lead.converted_at == deal.created_at
        assert (lead.partner_key, lead.owner_key, lead.lead_source) == (
            deal.partner_key,
            deal.owner_key,
            deal.lead_source,
        )


def test_synthetic_people_and_partners(world: World) -> None:
    assert len(world.partners) == 20_000 // 400
    assert len(world.owners) == 20_000 // 150
    assert {p.partner_type for p in world.partners} == {"Reseller", "Referral", "Agency"}
    assert {p.tier for p in world.partners} == {"Gold", "Silver", "Bronze", None}
    deleted = {p.key for p in world.partners if p.is_deleted}
    assert 1 <= len(deleted) <= 3
    on_deleted = sum(d.partner_key in deleted for d in world.deals)
    assert 0 < on_deleted < 0.02 * len(world.deals)  # "a few" deals of churned partners

    teams = Counter(o.team for o in world.owners)
    assert max(teams.values()) == 8
    assert all(t is not None and t.startswith("Team ") for t in teams)
    assert {o.unit for o in world.owners} <= {"EMEA", "NA", "APAC", "LATAM"}
    units_per_team = {t: {o.unit for o in world.owners if o.team == t} for t in teams}
    assert all(len(u) == 1 for u in units_per_team.values())
    inactive = {o.key for o in world.owners if not o.is_active}
    assert 0.02 * len(world.owners) <= len(inactive) <= 0.08 * len(world.owners)
    stage_of = {s.key: s for s in world.stages}
    kept = [d for d in world.deals if d.owner_key in inactive]
    assert kept  # departed reps keep their (closed) deals
    assert all(stage_of[d.stage_key].is_closed for d in kept)


def test_synthetic_proportions_within_loose_bands(world: World) -> None:
    n = len(world.deals)
    stage_of = {s.key: s for s in world.stages}

    def share(pred: Callable[[Deal], bool]) -> float:
        return sum(1 for d in world.deals if pred(d)) / n

    closed = share(lambda d: stage_of[d.stage_key].is_closed)
    won = share(lambda d: stage_of[d.stage_key].is_won)
    assert 0.55 <= closed <= 0.65
    assert 0.35 <= won / closed <= 0.45
    assert 0.65 <= share(lambda d: d.partner_key is not None) <= 0.75
    assert 0.03 <= share(lambda d: d.lead_source is None) <= 0.07
    assert 0.01 <= share(lambda d: d.amount is None) <= 0.03
    assert 0.005 <= share(lambda d: d.is_deleted) <= 0.015
    assert 0.82 <= share(lambda d: d.currency == "USD") <= 0.88
    assert 0.08 <= share(lambda d: d.currency == "EUR") <= 0.12
    assert 0.03 <= share(lambda d: d.currency == "GBP") <= 0.07
    assert {d.lead_source for d in world.deals} == {*LEAD_SOURCES, None}
    rates = {"USD": Decimal(1), "EUR": Decimal("0.92"), "GBP": Decimal("0.79")}
    assert world.currency_rates == CURRENCY_RATES == rates
    open_deals = [d for d in world.deals if not stage_of[d.stage_key].is_closed]
    assert 0.75 <= sum(d.close_date is not None for d in open_deals) / len(open_deals) <= 0.95
    assert len(world.leads) == n // 2
    converted = sum(lead.converted_deal_key is not None for lead in world.leads)
    assert 0.28 <= converted / len(world.leads) <= 0.32
    amounts = sorted(d.amount for d in world.deals if d.amount is not None)
    assert Decimal(6_000) <= amounts[len(amounts) // 2] <= Decimal(20_000)  # median ~12k


def test_synthetic_now_and_edge_cases() -> None:
    now = datetime(2020, 6, 15, 12, 0, tzinfo=UTC)
    w = synthetic(300, seed=2, now=now)
    assert all(d.modified_at <= now and d.created_at >= now - timedelta(days=1095) for d in w.deals)
    assert max(d.modified_at for d in w.deals) > now - timedelta(days=30)

    empty = synthetic(0)
    assert (len(empty.partners), len(empty.owners), empty.deals, empty.leads) == (3, 5, [], [])
    with pytest.raises(ValueError, match="timezone-aware"):
        synthetic(10, now=datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="n_deals"):
        synthetic(-1)
