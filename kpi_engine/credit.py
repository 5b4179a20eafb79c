"""Partner credit: which partner gets which share of a deal (sourced vs influenced, several
partners per deal), and the direct baseline.

The links of a deal are its partner field (``deals.partner_id``) and its ``deal_partners`` rows
(Salesforce ``OpportunityPartner`` / a junction object, HubSpot labelled associations, CSV
influencers). The ``attribution:`` settings map each link's role to a category and choose the
credit rule; the SQL steps ``sql/steps/credit_links.sql`` (once) and ``credit_kpis.sql`` (per
grain) compute the KPIs per category, stored whole by each compute in ``credit_kpis``.
Definitions and a worked example: ``docs/kpis.md``, "Partner credit".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kpi_engine.parameters import ParameterTable, write_duckdb
from kpi_engine.settings import DIRECT, PARTNER, AttributionSettings

__all__ = [
    "DIRECT",
    "FLAG_WARNINGS",
    "OUTPUT",
    "PARAMETERS",
    "PARTNER",
    "WARNINGS_SQL",
    "AttributionSettings",
    "clear",
    "flag_warnings",
    "parameter_tables",
    "parameters",
    "store_grain",
    "warnings",
]

if TYPE_CHECKING:  # the settings are read without DuckDB (connectors/setting_checks.py)
    from kpi_engine.store import Store

#: What a compute's credit leaves out or guesses, by f_credit.flag.
FLAG_WARNINGS = {
    "bad_share": "deals_with_partner_shares_not_adding_up",
    "no_primary": "partner_deals_without_one_primary_partner",
    "unmapped": "partner_deals_with_a_role_not_in_attribution_roles",
}
#: The parameter tables the credit steps read (made by :func:`parameters`).
PARAMETERS = ("credit_params", "credit_roles", "credit_categories")
#: What the grain step leaves for :func:`store_grain`.
OUTPUT = "credit_grain_result"


def parameter_tables(settings: AttributionSettings) -> list[ParameterTable]:
    """The credit steps' parameter tables (:data:`PARAMETERS`) for one compute, any engine."""
    return [
        ParameterTable("credit_params", (
            ("rule", "VARCHAR"), ("primary_category", "VARCHAR"),
            ("partner_field_category", "VARCHAR"), ("unmapped_category", "VARCHAR"),
            ("share_tolerance", "DECIMAL(18, 10)")),
            [[settings.credit, settings.primary_category, settings.partner_field_category,
              settings.unmapped_category, settings.share_tolerance]]),
        ParameterTable("credit_roles", (("role", "VARCHAR"), ("category", "VARCHAR")),
                       [[r.lower(), c] for r, c in settings.roles.items()]),
        ParameterTable("credit_categories", (("category", "VARCHAR"), ("rnk", "INTEGER")),
                       [[c, i] for i, c in enumerate(settings.categories, 1)]),
    ]


def parameters(store: Store, settings: AttributionSettings) -> None:
    """Write the credit steps' parameter tables (temporary) for one compute."""
    write_duckdb(store, parameter_tables(settings))


#: Deals the credit left out, by flag (``warnings``; any engine runs it).
WARNINGS_SQL = "SELECT flag, count(*) FROM f_credit WHERE flag IS NOT NULL GROUP BY flag"


def flag_warnings(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """Warning name -> count of deals, from the rows of :data:`WARNINGS_SQL`, in the order of
    :data:`FLAG_WARNINGS` (whatever order an engine groups the rows in)."""
    counts = {flag: int(n) for flag, n in rows}
    return {name: counts[flag] for flag, name in FLAG_WARNINGS.items() if flag in counts}


def warnings(store: Store) -> dict[str, int]:
    """Deals the credit left out or could not settle (read after the ``credit_links`` step):
    warning name -> count of deals (see :data:`FLAG_WARNINGS`)."""
    return flag_warnings(store.con.execute(WARNINGS_SQL).fetchall())


def clear(store: Store, grain: str) -> None:
    """Drop the stored credit rows of ``grain`` (a compute replaces a grain's rows whole)."""
    store.con.execute("DELETE FROM credit_kpis WHERE grain = ?", [grain])


def store_grain(store: Store, grain: str, rule: str, computed_at: datetime) -> None:
    """Replace the ``credit_kpis`` rows of ``grain`` with :data:`OUTPUT`."""
    clear(store, grain)
    store.con.execute(
        f"INSERT INTO credit_kpis BY NAME SELECT ? AS grain, ? AS rule, ? AS computed_at, * "
        f"FROM {OUTPUT}", [grain, rule, computed_at],
    )
