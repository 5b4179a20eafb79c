"""Deal -> partner links of a CSV import (``deal_partners`` rows): the deals file's
``influencers`` column and the optional deal-partners file.

The deals file's ``partner_id`` is the deal's primary partner (its ``partner_field`` link is kept
by the store). Each id of the ``influencers`` cell (``P2;P3``) is a link with role
``deals.influencer_role``; each row of the deal-partners file is a link with its own role, share,
primary mark and category. ``link_id`` is ``<deal_id>/<partner_id>/<role>``: a link repeated
(same deal, partner and role) stops the import, naming both lines.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.bad_records import BadRecords
from connectors.csv_export.settings import CsvDealPartnersSettings, CsvSettings
from connectors.errors import RecordError
from connectors.values import parse_bool

SOURCE = "csv"
ORIGIN = "csv"
_HUNDRED = Decimal(100)


def link_row(deal_id: str, partner_id: str, role: str | None, *, category: str | None = None,
             share: Decimal | None = None, is_primary: bool = False) -> dict[str, Any]:
    """One ``deal_partners`` row of origin ``csv``."""
    return {"source": SOURCE, "link_id": f"{deal_id}/{partner_id}/{role or ''}",
            "deal_id": deal_id, "partner_id": partner_id, "role": role, "category": category,
            "is_primary": is_primary, "share": share, "origin": ORIGIN, "is_deleted": False}


def influencer_rows(deal_id: str, cell: str | None, separator: str, role: str,
                    primary: str | None) -> list[dict[str, Any]]:
    """The links of a deals row's ``influencers`` cell (the primary partner left out: it is
    the deal's partner field already)."""
    ids = dict.fromkeys(p.strip() for p in (cell or "").split(separator) if p.strip())
    return [link_row(deal_id, p, role) for p in ids if p != primary]


def read_links(
    settings: CsvSettings, links: CsvDealPartnersSettings, bad: BadRecords,
    amount: Callable[[str], Decimal | None],
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every row of the deal-partners file as a ``deal_partners`` row.

    Args:
        settings: ``sources.csv`` (encoding, delimiter).
        links: ``sources.csv.deal_partners``.
        bad: the import's bad-record policy (a share or primary mark that does not read).
        amount: the import's number parser (decimal separator), for shares.

    Returns:
        The rows, and link_id -> ``file:line`` (for the rejects of the reference checks).

    Raises:
        RecordError: a mapped column missing from the header, an empty deal or partner id, a
            link repeated, or a bad value under ``on_bad_record: stop``.
    """
    path: Path = links.path
    cols = links.columns
    rows: list[dict[str, Any]] = []
    where: dict[str, str] = {}
    with path.open(newline="", encoding=settings.encoding) as handle:
        reader = csv.DictReader(handle, delimiter=settings.delimiter)
        header = reader.fieldnames or []
        missing = [c for c in cols.values() if c not in header]
        if missing:
            msg = (f"{path.name}: column {missing[0]!r} is not in the header "
                   f"({', '.join(header)}); fix sources.csv.deal_partners.columns")
            raise RecordError(msg, field=missing[0])
        for record in reader:
            line = reader.line_num
            here = f"{path.name}:{line}"

            def cell(name: str, record: dict[str | None, Any] = record) -> str | None:
                return (record.get(cols[name]) or "").strip() or None if name in cols else None

            deal, partner = cell("deal_id"), cell("partner_id")
            if not deal or not partner:
                empty = "deal_id" if not deal else "partner_id"
                msg = f"{here}: column {cols[empty]!r} is empty; {empty} is required"
                raise RecordError(msg, field=cols[empty])
            share_text, primary_text = cell("share"), cell("is_primary")
            share = primary = None
            before = len(bad.rejects)
            try:
                share = amount(share_text) if share_text else None
                if share is not None and links.share_scale == "percent":
                    share = share / _HUNDRED
                if share is not None and not Decimal(0) <= share <= Decimal(1):
                    msg = (f"{share_text!r} is not a share 0..1 (set "
                           "sources.csv.deal_partners.share_scale: percent for 0..100)")
                    raise ValueError(msg)
            except ValueError as exc:
                bad.add("deal partner", f"{deal}/{partner}", cols["share"], share_text,
                        f"{here}: {exc}", nullable=False)
            try:
                primary = parse_bool(primary_text) if primary_text else None
            except ValueError as exc:
                bad.add("deal partner", f"{deal}/{partner}", cols["is_primary"], primary_text,
                        f"{here}: {exc}", nullable=False)
            if bad.skips(before):
                continue
            row = link_row(deal, partner, cell("role"), category=cell("category"), share=share,
                           is_primary=bool(primary))
            if row["link_id"] in where:
                msg = (f"{here}: deal {deal!r} partner {partner!r} role {cell('role')!r} appears "
                       f"again (first on {where[row['link_id']]}); remove the duplicate row")
                raise RecordError(msg, record=deal)
            where[row["link_id"]] = here
            rows.append(row)
    return rows, where
