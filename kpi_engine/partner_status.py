"""The partner's target attainment and tier status per period, as the leaderboard shows them
and the write-back fields ``partner_target_attainment`` / ``partner_tier_eligible`` hold
(``partner_status``, rebuilt by every compute from ``target_results`` and ``partner_tiers``).

- ``partner_target_attainment``: the attainment (ratio 0..1+, written x100 into percent fields)
  of the partner's target for ``targets.writeback_kpi`` (default ``won_amount``) in the period.
- ``partner_tier_eligible``: 1 when the partner's numbers over the tier window qualify for a
  tier above its current one, 0 when not (NULL without a current tier, and for periods of
  another grain than ``tiers.window.grain``).
"""

from __future__ import annotations

from datetime import datetime

from kpi_engine.store import Store

#: The write-back "KPIs" besides the registry's: name -> unit.
STATUS_FIELDS = {"partner_target_attainment": "ratio 0..1", "partner_tier_eligible": "flag 0/1"}


def write_partner_status(store: Store, attainment_kpi: str, computed_at: datetime) -> int:
    """Rebuild ``partner_status``; returns its rows.

    Args:
        store: the writable store (inside the compute's transaction).
        attainment_kpi: the KPI whose target attainment is written back.
        computed_at: the compute's instant (UTC).
    """
    con = store.con
    con.execute("DELETE FROM partner_status")
    con.execute(
        """
        INSERT INTO partner_status
        SELECT coalesce(t.grain, r.grain), coalesce(t.period_start, r.period_start),
               coalesce(t.partner_id, r.member), r.attainment,
               CASE WHEN t.eligible_next THEN 1 WHEN NOT t.eligible_next THEN 0 END,
               t.status, t.current_tier, t.qualified_tier, ?
        FROM (SELECT * FROM target_results WHERE dimension = 'partner' AND kpi = ?) r
        FULL OUTER JOIN partner_tiers t
          ON t.grain = r.grain AND t.period_start = r.period_start AND t.partner_id = r.member
        """, [computed_at, attainment_kpi])
    return int(con.execute("SELECT count(*) FROM partner_status").fetchall()[0][0])


def tier_text(status: str | None, current: str | None, qualified: str | None) -> str | None:
    """The tier status in words, as the leaderboards show it: ``Silver: meets``, ``Silver:
    eligible (Gold)``, ``Gold: at risk (Registered)``, ``no tier (Silver)``, ``unknown tier``;
    None without a tier status."""
    if status is None:
        return None
    if status == "no_tier":
        return f"no tier ({qualified})"
    if status == "unknown_tier":
        return "unknown tier"
    if status == "meets":
        return f"{current}: meets"
    return f"{current}: {status.replace('_', ' ')} ({qualified})"


def partner_status(store: Store, grain: str, period_start: object) -> dict[str, dict[str, object]]:
    """Partner id -> ``{"partner_target_attainment": Decimal | None, "partner_tier": text}``
    of one period (empty when neither targets nor tiers gave the period a row)."""
    return {
        partner: {"partner_target_attainment": attainment,
                  "partner_tier": tier_text(status, current, qualified)}
        for partner, attainment, status, current, qualified in store.con.execute(
            "SELECT partner_id, target_attainment, tier_status, current_tier, qualified_tier "
            "FROM partner_status WHERE grain = ? AND period_start = ?", [grain, period_start]
        ).fetchall()
    }
