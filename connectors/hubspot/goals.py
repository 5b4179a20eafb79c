"""HubSpot goals as targets: ``goal_targets`` objects (one per user and time slice) into rows of
the canonical ``targets`` table.

A goal target holds ``hs_goal_name`` (the goal, mapped to a KPI by ``goal_kpis``),
``hs_target_amount``, ``hs_start_datetime`` / ``hs_end_datetime`` (the time slice) and the
assignee: ``hubspot_owner_id`` (the owner id deals carry: dimension ``owner``; team goals have
``hs_assignee_team_id`` instead and are left out with a note). A slice's bounds are read as the
nearest UTC midnights (a portal's time zone is within 12 hours of UTC; the end may be the last
millisecond of the slice or the next slice's start), and must span a month, a quarter or a year.

Guide: https://developers.hubspot.com/docs/api-reference/latest/crm/objects/goals/guide
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.values import parse_instant

PROPERTIES = ["hs_goal_name", "hs_target_amount", "hs_start_datetime", "hs_end_datetime",
              "hubspot_owner_id", "hs_assignee_user_id", "hs_assignee_team_id",
              "hs_lastmodifieddate"]
_GRAINS = {1: "month", 3: "quarter", 12: "year"}


def _day(value: object) -> date | None:
    instant = parse_instant(value)
    return None if instant is None else (instant + timedelta(hours=12)).date()


def goal_rows(goals: Iterable[Mapping[str, Any]], goal_kpis: Mapping[str, str],
              ) -> tuple[list[dict[str, Any]], list[str]]:
    """``targets`` rows from ``goal_targets`` objects.

    Returns:
        (rows, notes): goals of an unmapped name, of a team, without an amount or whose slice
        is not a month, quarter or year are left out and counted in a note.
    """
    rows: list[dict[str, Any]] = []
    skipped = {"team": 0, "amount": 0, "period": 0}
    unmapped: set[str] = set()
    for goal in goals:
        props = goal.get("properties") or {}
        name = str(props.get("hs_goal_name") or "")
        kpi = goal_kpis.get(name)
        if kpi is None:
            unmapped.add(name)
            continue
        owner = props.get("hubspot_owner_id")
        if not owner:
            skipped["team"] += 1
            continue
        try:
            amount = Decimal(str(props.get("hs_target_amount")))
        except InvalidOperation:
            skipped["amount"] += 1
            continue
        start, end = _day(props.get("hs_start_datetime")), _day(props.get("hs_end_datetime"))
        grain = None
        if start and end and start.day == 1 and end.day == 1:
            grain = _GRAINS.get((end.year - start.year) * 12 + end.month - start.month)
        if grain is None or start is None or end is None or not amount.is_finite():
            skipped["period" if amount.is_finite() else "amount"] += 1
            continue
        rows.append({
            "source": "hubspot", "target_id": str(goal["id"]), "dimension": "owner",
            "member": str(owner), "kpi": kpi, "grain": grain, "period_start": start,
            "period_end": end, "target": amount, "currency": None, "name": name,
            "updated_at": parse_instant(props.get("hs_lastmodifieddate") or goal.get("updatedAt")),
            "is_deleted": False,
        })
    notes = []
    if unmapped:
        notes.append("hubspot targets: goals " + ", ".join(repr(n) for n in sorted(unmapped))
                     + " are not in sources.hubspot.goal_kpis: left out")
    if skipped["team"]:
        notes.append(f"hubspot targets: {skipped['team']} goal(s) without hubspot_owner_id "
                     "(team goals) left out")
    if skipped["amount"]:
        notes.append(f"hubspot targets: {skipped['amount']} goal(s) without a number in "
                     "hs_target_amount left out")
    if skipped["period"]:
        notes.append(f"hubspot targets: {skipped['period']} goal(s) whose time slice is not a "
                     "month, quarter or year left out")
    return rows, notes
