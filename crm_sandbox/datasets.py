"""Build sandbox :class:`~crm_sandbox.world.World` objects from data sets.

Two sources:

* :func:`load_maven` -- the real (simulated-by-Maven-Analytics) "CRM Sales Opportunities" data
  set in ``fixtures/maven/`` (see ``fixtures/maven/PROVENANCE.md``).
* :func:`synthetic` -- a deterministic, fast generator of realistic channel-sales data
  (implemented in :mod:`crm_sandbox.synthetic`, re-exported here).

Maven mapping (the contract other tests rely on)
------------------------------------------------
The data set has no partner / channel column, so the partner attribution below is a **synthetic
overlay**, not something the source data says.

* **Partner** = a manager's team: one partner per distinct ``manager`` in ``sales_teams.csv``
  (6 partners). Keys ``P01``, ``P02``, ... in sorted manager-name order; name
  ``"<manager> Partners"`` (e.g. ``"Dustin Brinkmann Partners"``); type ``Reseller``; tier
  ``None``; not deleted.
* **Owner** = sales agent; all 35 agents of ``sales_teams.csv`` are listed, including the 5
  without deals. Keys ``U001``, ``U002``, ... in sorted agent-name order; name = agent name;
  email = ``first.last@maventech.example`` (lower-case, non-alphanumerics dropped per name
  part); team = the agent's manager's name; unit = ``regional_office``; all active.
* **Stages** (key = label = the ``deal_stage`` text):
  ``Prospecting`` (0.1, open, order 1), ``Engaging`` (0.4, open, 2),
  ``Won`` (1.0, closed won, 3), ``Lost`` (0.0, closed lost, 4).
* **Deal** = one ``sales_pipeline.csv`` row: key = ``opportunity_id``;
  name = ``f"{product} - {account or 'No account'}"`` (product text as in the file, so
  ``GTXPro`` stays ``GTXPro``); partner = the agent's manager's partner; owner = the agent;
  account_name = ``account`` (blank -> ``None``); stage = ``deal_stage``;
  amount = ``close_value`` as ``Decimal`` (blank -> ``None``, never 0 for blanks; Lost rows
  carry their literal ``0``); currency ``USD``; lead_source ``None``;
  created_at = ``engage_date`` at 00:00:00 UTC, blank -> ``None`` (all 500 Prospecting rows).
  A real CRM always has a CreatedDate; this ``None`` is the data set's gap, not a CRM feature;
  close_date = ``close_date`` (blank -> ``None``).
* **Stage history**: only what the data supports. ``Engaging`` entered at ``engage_date``
  00:00 UTC when known, then ``Won`` / ``Lost`` entered at ``close_date`` 00:00 UTC when known.
  There is no ``Prospecting`` entry (the data has no date for it), so Prospecting deals have an
  empty history.
* **modified_at** = the latest of created_at and close_date (at 00:00 UTC), or
  2016-10-20 00:00 UTC (the data set's first date) when both are missing.
* No leads; corporate currency ``USD`` with rates ``{"USD": 1}``.

Self-check figures (asserted in ``tests/sandbox/test_datasets.py``): 8,800 deals, 4,238 won,
2,473 lost, won amount sum 10,005,534, 6 partners, 35 owners; closed in Q2 2017: 1,254 won and
778 lost.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

from crm_sandbox.synthetic import synthetic
from crm_sandbox.world import Deal, Owner, Partner, Stage, World

__all__ = ["MAVEN_DIR", "load_maven", "synthetic"]

MAVEN_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "maven"
"""Default location of the Maven CSVs: ``<repo>/fixtures/maven``."""

_MAVEN_FIRST_DAY = datetime(2016, 10, 20, tzinfo=UTC)

_MAVEN_STAGES = (
    ("Prospecting", "0.1", False, False),
    ("Engaging", "0.4", False, False),
    ("Won", "1.0", True, True),
    ("Lost", "0.0", True, False),
)


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0, 0), tzinfo=UTC)


def _email(name: str) -> str:
    parts = [re.sub(r"[^a-z0-9]", "", p) for p in name.lower().split()]
    return ".".join(p for p in parts if p) + "@maventech.example"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_maven(path: Path | None = None) -> World:
    """Load the Maven "CRM Sales Opportunities" data set as a World.

    See the module docstring for the exact mapping (partners = manager teams, owners = sales
    agents, one deal per ``sales_pipeline.csv`` row).

    Args:
        path: Directory holding ``sales_pipeline.csv`` and ``sales_teams.csv``. Defaults to
            :data:`MAVEN_DIR` (the repository's ``fixtures/maven``).

    Returns:
        A new World with 6 partners, 35 owners, 4 stages, 8,800 deals and no leads (for the
        shipped files).

    Raises:
        FileNotFoundError: If one of the two CSV files is missing.
        ValueError: If a pipeline row names an agent absent from ``sales_teams.csv`` or a
            stage other than Prospecting / Engaging / Won / Lost.
    """
    base = Path(path) if path is not None else MAVEN_DIR
    teams = _read_csv(base / "sales_teams.csv")
    pipeline = _read_csv(base / "sales_pipeline.csv")

    managers = sorted({row["manager"].strip() for row in teams})
    partner_key_by_manager = {m: f"P{i:02d}" for i, m in enumerate(managers, start=1)}
    partners = [
        Partner(key=partner_key_by_manager[m], name=f"{m} Partners", partner_type="Reseller")
        for m in managers
    ]

    agent_rows = sorted(teams, key=lambda r: r["sales_agent"].strip())
    owners: list[Owner] = []
    agent_info: dict[str, tuple[str, str]] = {}  # agent -> (owner key, partner key)
    for i, row in enumerate(agent_rows, start=1):
        agent = row["sales_agent"].strip()
        manager = row["manager"].strip()
        key = f"U{i:03d}"
        owners.append(
            Owner(
                key=key,
                name=agent,
                email=_email(agent),
                team=manager,
                unit=row["regional_office"].strip() or None,
            )
        )
        agent_info[agent] = (key, partner_key_by_manager[manager])

    stages = [
        Stage(
            key=k,
            label=k,
            probability=Decimal(p),
            is_closed=closed,
            is_won=won,
            order=order,
        )
        for order, (k, p, closed, won) in enumerate(_MAVEN_STAGES, start=1)
    ]
    stage_keys = {s.key: s for s in stages}

    deals: list[Deal] = []
    for row in pipeline:
        agent = row["sales_agent"].strip()
        if agent not in agent_info:
            msg = f"opportunity {row['opportunity_id']}: unknown sales agent {agent!r}"
            raise ValueError(msg)
        owner_key, partner_key = agent_info[agent]
        stage_key = row["deal_stage"].strip()
        stage = stage_keys.get(stage_key)
        if stage is None:
            msg = f"opportunity {row['opportunity_id']}: unknown deal_stage {stage_key!r}"
            raise ValueError(msg)
        account = row["account"].strip() or None
        engage = row["engage_date"].strip()
        close = row["close_date"].strip()
        value = row["close_value"].strip()
        created_at = _midnight(date.fromisoformat(engage)) if engage else None
        close_date = date.fromisoformat(close) if close else None
        closed_at = _midnight(close_date) if close_date is not None else None

        history: list[tuple[str, datetime]] = []
        if created_at is not None:
            history.append(("Engaging", created_at))
        if closed_at is not None and stage.is_closed:
            history.append((stage_key, closed_at))

        known = [t for t in (created_at, closed_at) if t is not None]
        deals.append(
            Deal(
                key=row["opportunity_id"].strip(),
                name=f"{row['product'].strip()} - {account or 'No account'}",
                partner_key=partner_key,
                owner_key=owner_key,
                account_name=account,
                stage_key=stage_key,
                amount=Decimal(value) if value else None,
                currency="USD",
                created_at=created_at,
                close_date=close_date,
                lead_source=None,
                modified_at=max(known) if known else _MAVEN_FIRST_DAY,
                stage_history=history,
            )
        )

    return World(
        partners=partners,
        owners=owners,
        stages=stages,
        deals=deals,
        leads=[],
        corporate_currency="USD",
        currency_rates={"USD": Decimal(1)},
    )
