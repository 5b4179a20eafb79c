"""goal_targets objects -> targets rows: time slices in a portal's time zone, team goals,
unmapped names and slices that are no month, quarter or year."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from connectors.hubspot.goals import goal_rows


def _goal(gid: str, **props: str | None) -> dict:
    base = {"hs_goal_name": "Revenue", "hs_target_amount": "50000",
            "hs_start_datetime": "2024-04-01T04:00:00Z",  # US/Eastern midnight
            "hs_end_datetime": "2024-07-01T03:59:59.999Z", "hubspot_owner_id": "101",
            "hs_lastmodifieddate": "2024-03-20T10:00:00.000Z"}
    return {"id": gid, "properties": {**base, **props}}


def test_goal_rows_read_slices_teams_and_names() -> None:
    rows, notes = goal_rows([
        _goal("1"),
        _goal("2", hs_start_datetime="2024-01-01T00:00:00.000Z",
              hs_end_datetime="2025-01-01T00:00:00.000Z", hs_target_amount="120000.5"),
        _goal("3", hubspot_owner_id=None, hs_assignee_team_id="7"),
        _goal("4", hs_goal_name="Calls made"),
        _goal("5", hs_end_datetime="2024-05-15T00:00:00.000Z"),
        _goal("6", hs_target_amount=""),
    ], {"Revenue": "won_amount"})
    assert [(r["target_id"], r["member"], r["grain"], r["period_start"], r["period_end"],
             r["target"]) for r in rows] == [
        ("1", "101", "quarter", date(2024, 4, 1), date(2024, 7, 1), Decimal(50000)),
        ("2", "101", "year", date(2024, 1, 1), date(2025, 1, 1), Decimal("120000.5")),
    ]
    assert rows[0]["updated_at"] == datetime(2024, 3, 20, 10, tzinfo=UTC)
    assert notes == [
        "hubspot targets: goals 'Calls made' are not in sources.hubspot.goal_kpis: left out",
        "hubspot targets: 1 goal(s) without hubspot_owner_id (team goals) left out",
        "hubspot targets: 1 goal(s) without a number in hs_target_amount left out",
        "hubspot targets: 1 goal(s) whose time slice is not a month, quarter or year left out",
    ]
