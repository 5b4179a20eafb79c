"""Partner data hygiene: what makes partner credit doubtful, shown by ``status`` and the report.

- won deals with no partner at all (neither a partner field nor a live ``deal_partners`` link):
  count, won amount, and the owners with the most of them;
- the share of partner-sourced won revenue held by the top 5 partners (concentration);
- deals whose partner changed after they closed (``partner_changes``, from the CRM's field
  history where it has one: Salesforce ``OpportunityFieldHistory``, HubSpot
  ``propertiesWithHistory``): credit moved after the fact.

Amounts are in the reporting currency of the latest compute (``bi.deals``, docs/kpis.md
"Amount"); before any compute, or for a deal with no rate, a deal's amount is unknown and left
out of the sums (never counted as 0). "Sourced" revenue is that of the deal's own partner (its
partner field, ``deals.partner_id``, whose category is ``attribution.partner_field_category``):
what a partner brought, whatever else influenced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from kpi_engine.store import Store

#: How many owners / partners the lists name.
TOP = 5


@dataclass
class PartnerHygiene:
    """The hygiene figures (see the module docstring).

    Attributes:
        won_without_partner: won deals with no partner link.
        won_without_partner_amount: their won amount (reporting currency; deals of unknown
            amount left out).
        top_owners: (owner name or id, won deals without partner, their amount), most first.
        sourced_amount: partner-sourced won amount (reporting currency).
        top5_share: ratio 0..1 of ``sourced_amount`` held by the top 5 partners; None when it
            is 0.
        top_partners: (partner name or id, sourced won amount), the top 5.
        changed_after_close: (source, deal id, deal name, close date, old partner, new partner,
            changed at) of closed deals whose partner changed after their close date.
        reporting_currency: the currency of the amounts (None before any compute).
    """

    won_without_partner: int = 0
    won_without_partner_amount: Decimal = Decimal(0)
    top_owners: list[tuple[str, int, Decimal]] = field(default_factory=list)
    sourced_amount: Decimal = Decimal(0)
    top5_share: Decimal | None = None
    top_partners: list[tuple[str, Decimal]] = field(default_factory=list)
    changed_after_close: list[tuple] = field(default_factory=list)
    reporting_currency: str | None = None


_UNLINKED = """
    FROM bi.deals d
    WHERE d.is_won AND d.partner_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM main.deal_partners l WHERE l.source = d.source
                      AND l.deal_id = d.deal_id AND NOT l.is_deleted)
"""


def partner_hygiene(store: Store) -> PartnerHygiene:
    """Read the :class:`PartnerHygiene` figures (read-only queries on the canonical tables)."""
    con = store.con
    h = PartnerHygiene()
    currency = con.execute("SELECT reporting_currency FROM kpi_settings").fetchall()
    h.reporting_currency = currency[0][0] if currency else None
    count, amount = con.execute(
        f"SELECT count(*), coalesce(sum(d.amount_reporting), 0) {_UNLINKED}").fetchall()[0]
    h.won_without_partner, h.won_without_partner_amount = int(count), Decimal(amount)
    h.top_owners = [
        (name, int(n), Decimal(a)) for name, n, a in con.execute(
            f"SELECT coalesce(any_value(d.owner_name), d.owner_id, 'none'), count(*), "
            f"coalesce(sum(d.amount_reporting), 0) {_UNLINKED} "
            "GROUP BY d.owner_id ORDER BY count(*) DESC, 3 DESC, 1 LIMIT ?", [TOP]).fetchall()
    ]
    partners = con.execute(
        "SELECT coalesce(any_value(partner_name), partner_id), sum(amount_reporting) "
        "FROM bi.deals WHERE is_won AND partner_id IS NOT NULL AND amount_reporting IS NOT NULL "
        "GROUP BY partner_id ORDER BY 2 DESC, 1").fetchall()
    h.sourced_amount = sum((Decimal(a) for _, a in partners), Decimal(0))
    h.top_partners = [(name, Decimal(a)) for name, a in partners[:TOP]]
    if h.sourced_amount:
        top = sum((a for _, a in h.top_partners), Decimal(0))
        h.top5_share = (top / h.sourced_amount).quantize(Decimal("1e-10"))
    h.changed_after_close = con.execute(
        """
        SELECT c.source, c.deal_id, d.name, d.close_date, c.old_partner_id, c.new_partner_id,
               c.changed_at
        FROM partner_changes c
        JOIN deals d ON d.source = c.source AND d.deal_id = c.deal_id
        WHERE NOT d.is_deleted AND d.is_closed AND d.close_date IS NOT NULL
          AND c.changed_at >= CAST(d.close_date + INTERVAL 1 DAY AS TIMESTAMPTZ)
        ORDER BY c.changed_at DESC, c.source, c.deal_id
        """).fetchall()
    return h


def hygiene_lines(h: PartnerHygiene) -> list[str]:
    """The figures as ``status`` prints them, one line each."""
    cur = h.reporting_currency or "(no compute yet)"
    lines = [f"won deals without a partner: {h.won_without_partner} "
             f"({h.won_without_partner_amount:,.2f} {cur})"]
    if h.top_owners:
        lines.append("  most by owner: " + ", ".join(
            f"{name} {n} ({a:,.2f})" for name, n, a in h.top_owners))
    share = "n/a" if h.top5_share is None else f"{h.top5_share:.1%}"
    lines.append(f"partner-sourced won revenue held by the top {TOP} partners: {share} of "
                 f"{h.sourced_amount:,.2f} {cur}")
    lines.append(f"deals whose partner changed after close: {len(h.changed_after_close)}")
    for source, deal, name, closed, old, new, at in h.changed_after_close[:TOP]:
        lines.append(f"  {source} {deal} ({name}): closed {closed}, partner {old or 'none'} -> "
                     f"{new or 'none'} on {at:%Y-%m-%d}")
    return lines
