"""Fields whose value changes without the record's ``SystemModstamp`` (case C-14).

Two kinds in a stream's field list:

- a formula field (``describe`` says ``calculated: true``, e.g. ``Account_Partner__c =
  CASESAFEID(Account.Partner_Account__c)``): Salesforce computes it when it is read, so a change
  of the parent it reads changes the value on every child without the child's stamp moving;
- a relationship path (``Account.Name``, ``UserRole.Name``): the parent's field, read through the
  child; renaming the parent does not touch the child.

An incremental ``SystemModstamp >= watermark`` query never sees such a change. The connector
names each such field once (a source note, :mod:`kpi_engine.completeness`) and re-reads the
streams holding one whole on a schedule: every ``calculated_refresh_hours`` (default 24; 0:
never), the stream ``field_refresh`` runs the stream's query without the watermark
condition. Cost per refresh: the stream's full read, ``ceil(records / 2,000)`` REST calls (50,000
deals: 25 calls; 1,000,000: through Bulk API 2.0, a job plus one call per result page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class CalculatedField:
    """One field of a stream that changes without the record's stamp.

    Attributes:
        sobject: the sObject the stream reads (``Opportunity``).
        path: the field or relationship path as selected (``Account_Partner__c``).
        formula: the formula (``calculatedFormula``), or None for a relationship path.
    """

    sobject: str
    path: str
    formula: str | None

    def describe(self) -> str:
        """``Opportunity.Account_Partner__c (formula CASESAFEID(...))``."""
        kind = f"formula {self.formula}" if self.formula else "read through a relationship"
        return f"{self.sobject}.{self.path} ({kind})"


def calculated_fields(
    sobject: str,
    paths: tuple[str, ...],
    fields_of: Callable[[str], Mapping[str, Mapping[str, Any]]],
) -> list[CalculatedField]:
    """The fields of ``paths`` (from ``sobject``) whose values can change without the record's
    ``SystemModstamp``: formula fields (describe ``calculated: true``) and relationship paths.

    Args:
        sobject: the stream's sObject.
        paths: the selected fields (``Field`` or ``Rel.Field``), checked against describe already.
        fields_of: sObject -> describe's fields keyed by lower-cased name.
    """
    found = []
    for path in paths:
        if "." in path:
            found.append(CalculatedField(sobject, path, None))
            continue
        described = fields_of(sobject).get(path.lower()) or {}
        if described.get("calculated"):
            formula = str(described.get("calculatedFormula") or "?")
            found.append(CalculatedField(sobject, path, formula))
    return found


def refresh_due(last: datetime | None, now: datetime, every: timedelta) -> bool:
    """Whether the calculated-field refresh is due: ``every`` has passed since ``last`` (a
    ``last`` later than ``now``, a clock moved back, counts as due)."""
    return last is None or now - last >= every or last > now
