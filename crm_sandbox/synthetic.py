"""Deterministic synthetic channel-sales Worlds (see :func:`synthetic`).

The generator draws every value from one ``random.Random(seed)`` and uses no wall clock, so
the same ``(n_deals, seed, now)`` always yields an identical World. It is built for volume:
plain dataclasses built positionally, integer-second timestamps until the last moment, shared
objects wherever realism allows (stage / partner / owner keys, deal names per account x
product, close dates, and amounts: one of 65,536 equiprobable quantiles of the amount
distribution, each a single shared ``Decimal``), one packed ``int`` per deal and lead for the
creation-order sort, and the cyclic GC paused while generating.
"""

from __future__ import annotations

import gc
import random
from bisect import bisect
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from math import exp, log
from statistics import NormalDist

from crm_sandbox.world import Deal, Lead, Owner, Partner, Stage, World

__all__ = [
    "CURRENCY_RATES",
    "DEFAULT_NOW",
    "LEAD_SOURCES",
    "LINK_LABELS",
    "SYNTHETIC_STAGES",
    "add_partner_links",
    "synthetic",
]

DEFAULT_NOW = datetime(2025, 1, 1, tzinfo=UTC)
"""The fixed "now" of :func:`synthetic` when none is given (never the wall clock)."""

SYNTHETIC_STAGES: tuple[tuple[str, str, bool, bool], ...] = (
    # key (Salesforce standard StageName), probability, is_closed, is_won
    ("Prospecting", "0.1", False, False),
    ("Qualification", "0.2", False, False),
    ("Needs Analysis", "0.4", False, False),
    ("Proposal/Price Quote", "0.6", False, False),
    ("Negotiation/Review", "0.8", False, False),
    ("Closed Won", "1.0", True, True),
    ("Closed Lost", "0.0", True, False),
)

LEAD_SOURCES: tuple[str, ...] = (
    "PAID_SEARCH",
    "PAID_SOCIAL",
    "EMAIL_MARKETING",
    "DIRECT_TRAFFIC",
    "ORGANIC_SOCIAL",
    "ORGANIC_SEARCH",
    "REFERRALS",
    "Partner",
    "Partner Referral",
)
"""Every non-null ``lead_source`` the generator emits (about 5% of records have ``None``)."""

CURRENCY_RATES: dict[str, Decimal] = {
    "USD": Decimal(1),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
}

# (value, weight) tables; weights sum to 100 so each reads as a percentage.
_PARTNER_SOURCES = (
    ("Partner", 50), ("Partner Referral", 30), ("REFERRALS", 5), ("PAID_SEARCH", 3),
    ("ORGANIC_SEARCH", 3), ("EMAIL_MARKETING", 2), ("DIRECT_TRAFFIC", 2), (None, 5),
)  # fmt: skip
_DIRECT_SOURCES = (
    ("PAID_SEARCH", 22), ("ORGANIC_SEARCH", 18), ("EMAIL_MARKETING", 14), ("DIRECT_TRAFFIC", 12),
    ("REFERRALS", 11), ("PAID_SOCIAL", 10), ("ORGANIC_SOCIAL", 8), (None, 5),
)  # fmt: skip
_CURRENCIES = (("USD", 85), ("EUR", 10), ("GBP", 5))
_PARTNER_TYPES = (("Reseller", 50), ("Referral", 30), ("Agency", 20))
_UNITS = (("NA", 40), ("EMEA", 30), ("APAC", 20), ("LATAM", 10))
_TIER_BOUNDS, _TIERS = (0.10, 0.35, 0.70), ("Gold", "Silver", "Bronze", None)  # by size rank
_LOST_AT = (25, 25, 20, 15, 15)  # weight of "lost after reaching open stage i"
_OPEN_AT = (30, 25, 20, 15, 10)  # weight of "currently in open stage i"

_P_PARTNER = 0.70
_P_WON = 0.24  # 60% closed x 40% won
_P_CLOSED = 0.60
_P_AMOUNT_NONE = 0.02
_P_DELETED = 0.01
_P_LEAD_CONVERTED = 0.30
# Amounts: log-normal (median 12,000) truncated to 500..200,000, drawn as one of _AMOUNT_STEPS
# equiprobable quantiles; each quantile's Decimal is built once and shared (fast, memory-lean).
_AMOUNT_DIST = NormalDist(log(12_000), 1.1)
_AMOUNT_P_LO, _AMOUNT_P_HI = _AMOUNT_DIST.cdf(log(500)), _AMOUNT_DIST.cdf(log(200_000))
_AMOUNT_STEPS = 1 << 16

_DEAL_FIELDS = (
    "key", "name", "partner_key", "owner_key", "account_name", "stage_key", "amount", "currency",
    "created_at", "close_date", "lead_source", "modified_at", "stage_history", "is_deleted",
)  # fmt: skip
_LEAD_FIELDS = (
    "key", "name", "partner_key", "owner_key", "created_at", "lead_source", "converted_at",
    "converted_deal_key", "is_deleted",
)  # fmt: skip


def _check_field_order() -> None:
    """Deal() / Lead() are built positionally for speed: fail loudly if world.py reorders."""
    for cls, names in ((Deal, _DEAL_FIELDS), (Lead, _LEAD_FIELDS)):
        if tuple(f.name for f in fields(cls))[: len(names)] != names:  # pragma: no cover
            msg = f"crm_sandbox.world.{cls.__name__} field order changed; update synthetic.py"
            raise ImportError(msg)


_check_field_order()

_DAY = 86_400
_WINDOW = 3 * 365 * _DAY
_EPOCH_DATE = date(1970, 1, 1)

_PARTNER_WORDS = (
    "Apex", "Bluewave", "Brightpath", "Cedar", "Cobalt", "Crescent", "Summit", "Evergreen",
    "Falcon", "Granite", "Harbor", "Horizon", "Ironclad", "Juniper", "Keystone", "Lighthouse",
    "Maple", "Meridian", "Northstar", "Oakridge", "Pinnacle", "Quantum", "Redwood", "Sapphire",
    "Silverline", "Skyline", "Stratus", "Tidewater", "Trident", "Unity", "Vanguard", "Vertex",
    "Westbridge", "Zenith", "Atlas", "Beacon", "Catalyst", "Delta", "Ember", "Frontier",
)  # fmt: skip
_PARTNER_KINDS = (
    "Solutions", "Systems", "Consulting", "Technologies", "Networks", "IT Services", "Digital",
    "Integrators", "Cloud", "Data", "Advisors", "Partners", "Computing", "Software", "Security",
    "Infotech", "Labs", "Managed Services", "Tech Group", "Works",
)  # fmt: skip
_PARTNER_FORMS = ("", " Ltd", " Inc", " GmbH")
_ACCOUNT_A = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Tyrell", "Cyberdyne", "Wonka", "Gringotts", "Oscorp", "Aperture", "Massive", "Dunder",
    "Pied", "Nakatomi", "Monarch", "Prestige", "Sterling", "Bluth", "Kramerica", "Gekko",
    "Virtucon", "Ollivander", "Spacely", "Cogswell", "Krusty", "Duff", "Pawnee", "Zorg",
    "Blue Sun", "Weyland", "Genco", "Rekall", "Omni", "Tessier", "Yoyodyne",
)  # fmt: skip
_ACCOUNT_B = (
    "Foods", "Logistics", "Health", "Energy", "Bank", "Retail", "Motors", "Pharma", "Media",
    "Airlines", "Insurance", "Telecom", "Steel", "Chemicals", "Textiles", "Hotels", "Foundry",
    "Robotics", "Biotech", "Shipping", "Mining", "Farms", "Studios", "Capital", "Realty",
    "Outfitters", "Labs", "Dynamics", "Industries", "Holdings",
)  # fmt: skip
_ACCOUNT_FORMS = (
    "Inc", "Corp", "LLC", "Ltd", "GmbH", "AG", "SA", "PLC", "BV", "Co", "Group", "KK",
    "Pty", "Oy", "AB", "SpA",
)  # fmt: skip
_PRODUCTS = (
    "Platform License", "Enterprise Subscription", "Support Renewal", "Professional Services",
    "Hardware Bundle", "Training Package", "Add-on Module", "Managed Services",
)  # fmt: skip
_FIRST = (
    "Alex", "Maria", "James", "Priya", "Chen", "Fatima", "Lukas", "Sofia", "Diego", "Aisha",
    "Noah", "Emma", "Hiroshi", "Olga", "Kwame", "Ines", "Mateo", "Chloe", "Ravi", "Hannah",
    "Omar", "Lena", "Carlos", "Yuki", "Daniel", "Amara", "Pierre", "Zara", "Ivan", "Grace",
    "Mohammed", "Elena", "Tom", "Ana", "Sven", "Leila", "Jonas", "Mei", "Samuel", "Nadia",
    "Kofi", "Julia", "Arjun", "Camille", "Felix", "Rosa", "Ethan", "Sara", "Marco", "Ingrid",
    "Luis", "Anya", "Tariq", "Beatriz", "Oliver", "Keiko", "Henrik", "Lucia", "Victor", "Tara",
)  # fmt: skip
_LAST = (
    "Smith", "Garcia", "Müller", "Patel", "Wang", "Khan", "Schmidt", "Rossi", "Lopez", "Okafor",
    "Johnson", "Dubois", "Tanaka", "Ivanova", "Mensah", "Silva", "Fernandez", "Martin", "Sharma",
    "Weber", "Haddad", "Novak", "Santos", "Sato", "Brown", "Nwosu", "Laurent", "Ali", "Petrov",
    "Kim", "Hassan", "Popescu", "Walsh", "Costa", "Lindqvist", "Rahimi", "Berg", "Li", "Cohen",
    "Farouk", "Owusu", "Jansen", "Reddy", "Moreau", "Fischer", "Romero", "Taylor", "Nielsen",
    "Bianchi", "Eriksen", "Torres", "Volkova", "Aziz", "Almeida", "Wilson", "Yamamoto",
    "Andersen", "Navarro", "Dumont", "Murphy",
)  # fmt: skip


def _table(pairs: tuple[tuple[object, int], ...]) -> tuple[list, list[int], int]:
    """Population, cumulative weights and total for inline ``pop[bisect(cw, r * total)]``."""
    pop, cum, acc = [], [], 0
    for value, weight in pairs:
        acc += weight
        pop.append(value)
        cum.append(acc)
    return pop, cum, acc


def _amount(j: int) -> Decimal:
    """The ``j``-th of ``_AMOUNT_STEPS`` equiprobable amounts, rounded to cents."""
    p = _AMOUNT_P_LO + (_AMOUNT_P_HI - _AMOUNT_P_LO) * (j + 0.5) / _AMOUNT_STEPS
    return Decimal(round(exp(_AMOUNT_DIST.inv_cdf(p)) * 100)).scaleb(-2)


def _partners(rng: random.Random, n: int) -> tuple[list[Partner], list[float]]:
    """Partners with Zipf-like deal-share weights; churned (deleted) ones get few deals."""
    combos = rng.sample(range(len(_PARTNER_WORDS) * len(_PARTNER_KINDS) * len(_PARTNER_FORMS)), n)
    ranks = list(range(n))  # rank 0 = biggest partner
    rng.shuffle(ranks)
    n_deleted = max(1, round(n * 0.01))
    deleted = set(rng.sample(range(n // 2, n), n_deleted))  # churned: from the long tail
    types, type_cw, type_total = _table(_PARTNER_TYPES)
    partners, weights = [], []
    nw, nk = len(_PARTNER_WORDS), len(_PARTNER_KINDS)
    for i, combo in enumerate(combos):
        word, rest = _PARTNER_WORDS[combo % nw], combo // nw
        name = f"{word} {_PARTNER_KINDS[rest % nk]}{_PARTNER_FORMS[rest // nk]}"
        rank = ranks[i]
        tier = _TIERS[bisect(_TIER_BOUNDS, rank / n)]
        is_deleted = rank in deleted
        partners.append(
            Partner(
                key=f"P{i + 1:04d}",
                name=name,
                partner_type=types[bisect(type_cw, rng.random() * type_total)],
                tier=tier,
                is_deleted=is_deleted,
            )
        )
        weights.append((0.1 if is_deleted else 1.0) / (rank + 1) ** 0.9)
    return partners, weights


def _owners(rng: random.Random, n: int) -> list[Owner]:
    """Sales reps in teams of ~8, each team in one unit; ~5% departed (inactive)."""
    combos = rng.sample(range(len(_FIRST) * len(_LAST)), n)
    inactive = set(rng.sample(range(n), max(1, round(n * 0.05))))
    units, unit_cw, unit_total = _table(_UNITS)
    team_units = [units[bisect(unit_cw, rng.random() * unit_total)] for _ in range(n // 8 + 1)]
    owners = []
    for i, combo in enumerate(combos):
        first, last = _FIRST[combo % len(_FIRST)], _LAST[combo // len(_FIRST)]
        email_local = f"{first}.{last}".lower().replace("ü", "u")
        owners.append(
            Owner(
                key=f"U{i + 1:04d}",
                name=f"{first} {last}",
                email=f"{email_local}@channelco.example",
                team=f"Team {i // 8 + 1:02d}",
                unit=team_units[i // 8],
                is_active=i not in inactive,
            )
        )
    return owners


def synthetic(n_deals: int, seed: int = 0, *, now: datetime | None = None) -> World:
    """Generate a deterministic, realistic channel-sales World.

    Shape (all proportions approximate): ``max(3, n_deals // 400)`` partners (at most 2,000;
    Zipf-like deal shares, tiers by size, ~1% and at least one deleted, churned partner with
    few deals); ``n_deals // 150`` owners (5..3,000) in teams of 8 ("Team 07") across units
    NA / EMEA / APAC / LATAM, ~5% inactive (they keep their closed deals; their open deals are
    reassigned); the 7 :data:`SYNTHETIC_STAGES`; ``n_deals`` deals created over the 3 years
    before ``now`` (70% partner-sourced, 60% closed of which 40% won, sales cycles 5..180 days,
    amounts 500..200,000 with 2 decimals and 2% ``None``, 85% USD / 10% EUR / 5% GBP, 1%
    deleted; keys ``D...`` in creation order); ``n_deals // 2`` leads, 30% converted into a
    distinct deal created after the lead; labelled partner links on partnered deals
    (:func:`add_partner_links`).

    Args:
        n_deals: Number of deals (>= 0).
        seed: Seed of the single ``random.Random`` all values come from.
        now: Timezone-aware "current time"; nothing is dated after it. Defaults to
            :data:`DEFAULT_NOW` (2025-01-01T00:00:00Z), never the wall clock.

    Returns:
        A new World; equal arguments give equal Worlds.

    Raises:
        ValueError: If ``n_deals`` is negative or ``now`` is naive.
    """
    if n_deals < 0:
        msg = f"n_deals must be >= 0, got {n_deals}"
        raise ValueError(msg)
    if now is None:
        now = DEFAULT_NOW
    elif now.tzinfo is None or now.utcoffset() is None:
        msg = "now must be timezone-aware"
        raise ValueError(msg)
    # Millions of small container objects would trigger ever-longer cyclic-GC passes (none of
    # them can form a cycle), so collection is paused while generating.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return add_partner_links(_generate(n_deals, random.Random(seed), int(now.timestamp())),
                                 seed)
    finally:
        if gc_was_enabled:
            gc.enable()


def _generate(n_deals: int, rng: random.Random, now_ts: int) -> World:
    """The body of :func:`synthetic` (arguments already validated)."""
    rnd = rng.random
    fts, utc = datetime.fromtimestamp, UTC
    start = now_ts - _WINDOW

    partners, partner_weights = _partners(rng, min(2_000, max(3, n_deals // 400)))
    owners = _owners(rng, min(3_000, max(5, n_deals // 150)))
    stages = [
        Stage(key=k, label=k, probability=Decimal(p), is_closed=c, is_won=w, order=o)
        for o, (k, p, c, w) in enumerate(SYNTHETIC_STAGES, start=1)
    ]

    pkeys = [p.key for p in partners]
    pcw, acc = [], 0.0
    for w in partner_weights:
        acc += w
        pcw.append(acc)
    ptotal, n_partners = acc, len(pkeys)
    okeys = [o.key for o in owners]
    n_owners = len(okeys)
    inactive = {o.key for o in owners if not o.is_active}
    active = [o.key for o in owners if o.is_active]
    n_active = len(active)
    partner_owner = [okeys[int(rnd() * n_owners)] for _ in range(n_partners)]
    psrc, psrc_cw, psrc_total = _table(_PARTNER_SOURCES)
    dsrc, dsrc_cw, dsrc_total = _table(_DIRECT_SOURCES)
    curs, cur_cw, cur_total = _table(_CURRENCIES)
    _, lost_cw, lost_total = _table(tuple(enumerate(_LOST_AT)))
    _, open_cw, open_total = _table(tuple(enumerate(_OPEN_AT)))

    # Phase 1: one packed int per deal: (created - start) << 28 | cycle_seconds << 4 | code,
    # code 0..4 = open at stage code, 5 = won, 6..10 = lost after open stage code - 6.
    # Sales cycles: won 14..180 days (mean ~76), lost 5..180 days (mean ~49).
    plans = []
    append_plan = plans.append
    for _ in range(n_deals):
        u = rnd()
        if u < _P_CLOSED:
            if u < _P_WON:
                code, cycle = 5, int((14 + 166 * rnd() * (0.5 + 0.5 * rnd())) * _DAY)
            else:
                code = 6 + bisect(lost_cw, rnd() * lost_total)
                cycle = int((5 + 175 * rnd() * rnd()) * _DAY)
            rel = int(rnd() * (_WINDOW - 3_600 - cycle))
        else:
            code, cycle = bisect(open_cw, rnd() * open_total), 0
            if rnd() < 0.8:  # most open pipeline is recent; the rest is stale
                rel = _WINDOW - _DAY - int(rnd() * 179 * _DAY)
            else:
                rel = int(rnd() * (_WINDOW - _DAY))
        append_plan((rel << 28) | (cycle << 4) | code)
    plans.sort()  # deal keys follow creation order, like CRM auto-numbers

    keys = [s[0] for s in SYNTHETIC_STAGES]
    won_path = (*keys[:5], keys[5])
    lost_paths = [(*keys[: s + 1], keys[6]) for s in range(5)]
    open_paths = [tuple(keys[: s + 1]) for s in range(5)]
    day_cache: dict[int, date] = {}
    now_day = now_ts // _DAY
    future = [_EPOCH_DATE + timedelta(now_day + d) for d in range(181)]
    n_acc_space = len(_ACCOUNT_A) * len(_ACCOUNT_B) * len(_ACCOUNT_FORMS)
    n_accounts = min(n_acc_space, max(20, n_deals // 10))
    accounts = []
    for c in rng.sample(range(n_acc_space), n_accounts):
        a, rest = c % len(_ACCOUNT_A), c // len(_ACCOUNT_A)
        b, f = rest % len(_ACCOUNT_B), rest // len(_ACCOUNT_B)
        accounts.append(f"{_ACCOUNT_A[a]} {_ACCOUNT_B[b]} {_ACCOUNT_FORMS[f]}")
    n_products = len(_PRODUCTS)
    names: dict[int, str] = {}
    key_format = f"D%0{max(6, len(str(n_deals)))}d"
    amounts: list[Decimal | None] = [None] * _AMOUNT_STEPS  # shared Decimal objects

    # Phase 2, in creation order. Deal() is called positionally (about twice as fast as with
    # keywords; _DEAL_FIELDS guards the field order).
    deals = []
    append_deal = deals.append
    for i, packed in enumerate(plans, start=1):
        code = packed & 15
        c_ts = (packed >> 28) + start
        created = fts(c_ts, utc)
        closed = code >= 5
        if closed:
            path = won_path if code == 5 else lost_paths[code - 6]
            end_ts = c_ts + ((packed >> 4) & 0xFFFFFF)
        else:
            path = open_paths[code]
            end_ts = c_ts + int((now_ts - c_ts) * (0.3 + 0.7 * rnd())) if code else c_ts
        k = len(path)
        history = [None] * k  # exact size: no over-allocation
        history[0] = (path[0], created)
        if k > 1:
            span, denom = end_ts - c_ts, k - 1
            for j in range(1, denom):  # stage j entered in the j-th slice of the cycle
                history[j] = (path[j], fts(c_ts + int(span * (j + 0.1 + 0.8 * rnd()) / denom), utc))
            last = fts(end_ts, utc)
            history[denom] = (path[denom], last)
        else:
            last = created
        if closed:
            day = end_ts // _DAY
            close_date = day_cache.get(day)
            if close_date is None:
                close_date = day_cache[day] = _EPOCH_DATE + timedelta(day)
        elif rnd() < 0.85:  # expected close 1..180 days ahead, sooner in later stages
            close_date = future[1 + int(rnd() * (180 - 30 * code))]
        else:
            close_date = None

        if rnd() < _P_PARTNER:
            p = bisect(pcw, rnd() * ptotal)
            partner_key = pkeys[p]
            owner = partner_owner[p] if rnd() < 0.75 else okeys[int(rnd() * n_owners)]
            source = psrc[bisect(psrc_cw, rnd() * psrc_total)]
        else:
            partner_key = None
            owner = okeys[int(rnd() * n_owners)]
            source = dsrc[bisect(dsrc_cw, rnd() * dsrc_total)]
        if not closed and owner in inactive:  # a departed rep's open deals get reassigned
            owner = active[int(rnd() * n_active)]
        currency = curs[bisect(cur_cw, rnd() * cur_total)]
        if rnd() < _P_AMOUNT_NONE:
            amount = None
        else:
            j = int(rnd() * _AMOUNT_STEPS)
            amount = amounts[j]
            if amount is None:
                amount = amounts[j] = _amount(j)
        account_id = int(rnd() * n_accounts)
        name_id = account_id * n_products + int(rnd() * n_products)
        name = names.get(name_id)
        if name is None:
            name = names[name_id] = f"{accounts[account_id]} - {_PRODUCTS[name_id % n_products]}"
        append_deal(
            Deal(
                key_format % i,
                name,
                partner_key,
                owner,
                accounts[account_id],
                path[-1],
                amount,
                currency,
                created,
                close_date,
                source,
                last,
                history,
                rnd() < _P_DELETED,
            )
        )

    leads = _leads(rng, deals, plans, start, partner_owner, pkeys, pcw, ptotal, okeys)
    return World(
        partners=partners,
        owners=owners,
        stages=stages,
        deals=deals,
        leads=leads,
        corporate_currency="USD",
        currency_rates=dict(CURRENCY_RATES),
    )


def _leads(
    rng: random.Random,
    deals: list[Deal],
    plans: list[int],
    start: int,
    partner_owner: list[str],
    pkeys: list[str],
    pcw: list[float],
    ptotal: float,
    okeys: list[str],
) -> list[Lead]:
    """``len(deals) // 2`` leads, 30% converted (each into a distinct, later-created deal)."""
    rnd = rng.random
    fts, utc = datetime.fromtimestamp, UTC
    n_leads = len(deals) // 2
    n_conv = round(n_leads * _P_LEAD_CONVERTED)
    n_owners = len(okeys)
    psrc, psrc_cw, psrc_total = _table(_PARTNER_SOURCES)
    dsrc, dsrc_cw, dsrc_total = _table(_DIRECT_SOURCES)
    n_first = len(_FIRST)
    person: dict[int, str] = {}

    def person_name() -> str:
        c = int(rnd() * n_first * len(_LAST))
        name = person.get(c)
        if name is None:
            name = person[c] = f"{_FIRST[c % n_first]} {_LAST[c // n_first]}"
        return name

    # One packed int per lead: (created - start + 200 days) << shift | (converted deal index + 1
    # or 0); sorted so lead keys follow creation order.
    shift = len(deals).bit_length() + 1
    offset = 200 * _DAY  # converted leads may predate the 3-year window by up to ~135 days
    plans_l = []
    for idx in rng.sample(range(len(deals)), n_conv):
        lag = int((3_600 + 90 * _DAY * rnd() * rnd()) * (0.5 + rnd()))  # ~1 h .. 135 days
        plans_l.append((((plans[idx] >> 28) + offset - lag) << shift) | (idx + 1))
    plans_l.extend((int(rnd() * _WINDOW) + offset) << shift for _ in range(n_leads - n_conv))
    plans_l.sort()

    key_format = f"L%0{max(6, len(str(n_leads)))}d"
    mask = (1 << shift) - 1
    leads = []
    append_lead = leads.append
    for i, packed in enumerate(plans_l, start=1):
        created = fts((packed >> shift) + start - offset, utc)
        idx = (packed & mask) - 1
        if idx >= 0:
            deal = deals[idx]
            append_lead(
                Lead(
                    key_format % i,
                    person_name(),
                    deal.partner_key,
                    deal.owner_key,
                    created,
                    deal.lead_source,
                    deal.created_at,
                    deal.key,
                    rnd() < _P_DELETED,
                )
            )
            continue
        if rnd() < _P_PARTNER:
            p = bisect(pcw, rnd() * ptotal)
            partner_key = pkeys[p]
            owner = partner_owner[p] if rnd() < 0.75 else okeys[int(rnd() * n_owners)]
            source = psrc[bisect(psrc_cw, rnd() * psrc_total)]
        else:
            partner_key = None
            owner = okeys[int(rnd() * n_owners)]
            source = dsrc[bisect(dsrc_cw, rnd() * dsrc_total)]
        append_lead(
            Lead(
                key_format % i,
                person_name(),
                partner_key,
                owner,
                created,
                source,
                None,
                None,
                rnd() < _P_DELETED,
            )
        )
    return leads


#: The labels of the partner links :func:`add_partner_links` draws, with their weights: the
#: deal's partner field is its sourcing partner; these are the others (HubSpot association
#: labels, Salesforce OpportunityPartner roles).
LINK_LABELS: tuple[tuple[str, float], ...] = (
    ("Influenced by", 0.6), ("Reseller", 0.25), ("Co-sell", 0.15))


def add_partner_links(world: World, seed: int = 0) -> World:
    """Give partnered deals of ``world`` more partners, in place (and return it): about 25%
    of the live deals with a partner get one more (a live partner other than theirs), 8% a
    second, each under a label of :data:`LINK_LABELS`. Drawn from a generator of its own
    (seeded from ``seed``), so the rest of the World is what it was without links.
    """
    rng = random.Random(f"partner-links-{seed}")
    live = [p.key for p in world.partners if not p.is_deleted]
    labels = [label for label, _ in LINK_LABELS]
    weights = [w for _, w in LINK_LABELS]
    if len(live) < 2:
        return world
    for deal in world.deals:
        if deal.partner_key is None:
            continue
        roll = rng.random()
        extra = 2 if roll < 0.08 else 1 if roll < 0.25 else 0
        taken = {deal.partner_key}
        links = []
        for _ in range(extra):
            others = [k for k in live if k not in taken]
            if not others:
                break
            key = others[int(rng.random() * len(others))]
            taken.add(key)
            links.append((key, rng.choices(labels, weights)[0], False))
        deal.partner_links = links
    return world
