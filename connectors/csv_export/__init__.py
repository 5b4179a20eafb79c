"""The CRM-export (CSV) source: deal, owner, partner and lead files read through a column mapping.

Every row is validated before anything is written: a bad value stops the import with a one-line
error naming file, line, column and value, and the store is left as it was (the connector is
``atomic``). A file is a full snapshot: deals (and partners, leads) of the ``csv`` source missing
from it are flagged deleted. Re-importing an unchanged file writes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.base import Adapter, Page, Stream
from connectors.csv_export.settings import CsvSettings
from connectors.errors import RecordError
from connectors.values import parse_amount, parse_bool, parse_date, parse_instant

SOURCE = "csv"
UNDATED = date(1, 1, 1)  # currency_rates.start_date of an undated rate
PIPELINE = "default"

_PARSERS: dict[str, Callable[[str], Any]] = {
    "amount": parse_amount,
    "created_at": parse_instant,
    "converted_at": parse_instant,
    "close_date": parse_date,
    "is_active": parse_bool,
}


_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _check_currency(text: str) -> str:
    if not _CURRENCY.match(text):
        msg = "not an ISO 4217 code such as USD"
        raise ValueError(msg)
    return text


_PARSERS["currency"] = _check_currency


def _read(
    path: Path,
    mapping: Mapping[str, str],
    settings: CsvSettings,
    key: str,
    required: tuple[str, ...] = (),
) -> list[tuple[int, dict[str, Any]]]:
    """Read and validate every data row of a CSV file: (line number, canonical row) pairs.

    Args:
        path: the file.
        mapping: canonical column -> file column.
        settings: ``sources.csv`` (encoding, delimiter).
        key: the canonical id column: never empty, never repeated.
        required: other canonical columns that must not be empty.

    Raises:
        RecordError: the file is not text in the configured encoding, a mapped column is missing
            from the header, a row has more or fewer fields than the header, a value does not
            parse, an id is empty or repeated, or the file has no data rows. The message names
            file, line, column and value.
    """
    rows: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    try:
        with path.open(newline="", encoding=settings.encoding) as handle:
            reader = csv.DictReader(handle, delimiter=settings.delimiter)
            header = reader.fieldnames or []
            missing = [col for col in mapping.values() if col not in header]
            if missing:
                msg = (
                    f"{path.name}: column {missing[0]!r} is not in the header "
                    f"({', '.join(header)}); fix the column mapping or sources.csv.delimiter"
                )
                raise RecordError(msg, field=missing[0])
            for row in reader:
                line = reader.line_num
                rows.append(
                    (line, _row(path.name, line, row, len(header), mapping, key, required, seen))
                )
    except UnicodeDecodeError as exc:
        msg = (
            f"{path.name}: not {settings.encoding} text (byte 0x{exc.object[exc.start]:02x}); "
            "set sources.csv.encoding (e.g. latin-1, utf-16)"
        )
        raise RecordError(msg) from None
    if not rows:
        msg = (
            f"{path.name}: no data rows; an export is a full snapshot, so an empty one would "
            "mark every record deleted: check the export"
        )
        raise RecordError(msg)
    return rows


def _row(
    name: str,
    line: int,
    row: dict[str | None, Any],
    width: int,
    mapping: Mapping[str, str],
    key: str,
    required: tuple[str, ...],
    seen: dict[str, int],
) -> dict[str, Any]:
    if None in row or any(v is None for v in row.values()):
        fields = width + len(row.get(None) or []) - sum(v is None for v in row.values())
        msg = f"{name}:{line}: {fields} fields, the header has {width}; fix the row's quoting"
        raise RecordError(msg)
    out: dict[str, Any] = {}
    for canonical, column in mapping.items():
        raw = row[column]
        text = raw.strip()
        parser = _PARSERS.get(canonical)
        try:
            out[canonical] = parser(text) if parser and text else (text or None)
        except ValueError as exc:
            msg = (
                f"{name}:{line}: column {column!r} value {raw!r} is not valid for "
                f"{canonical} ({exc}); fix the cell or the column mapping"
            )
            raise RecordError(msg, record=row.get(mapping[key]), field=column, value=raw) from None
    for canonical in (key, *required):
        if out.get(canonical) is None:
            msg = f"{name}:{line}: column {mapping[canonical]!r} is empty; {canonical} is required"
            raise RecordError(msg, field=mapping[canonical])
    record = out[key]
    if record in seen:
        msg = (
            f"{name}:{line}: {key} {record!r} appears again (first on line {seen[record]}); "
            "remove the duplicate row"
        )
        raise RecordError(msg, record=record, field=mapping[key], value=record)
    seen[record] = line
    return out


def _fingerprint(path: Path) -> str:
    """The file's content fingerprint, kept as the stream's watermark (what was last imported)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"sha256:{digest[:16]}"


class CsvConnector:
    """Reads the configured export files into canonical rows (one page per stream).

    Args:
        settings: ``sources.csv``.
        reporting_currency: the currency of amounts when neither a currency column nor
            ``sources.csv.currency`` says otherwise.
    """

    source = SOURCE
    atomic = True

    def __init__(self, settings: CsvSettings, reporting_currency: str) -> None:
        self.settings = settings
        self.currency = settings.currency or reporting_currency
        self.reporting_currency = reporting_currency

    def streams(self) -> Sequence[Stream]:
        """stages, currency_rates, owners, partners, deals, leads (those configured)."""
        s = self.settings
        streams = [
            Stream("stages", "config", "stage"),
            Stream("currency_rates", "config", "currency"),
        ]
        if s.owners:
            streams.append(Stream("owners", str(s.owners.path), s.owners.columns["owner_id"]))
        if s.partners:
            streams.append(
                Stream("partners", str(s.partners.path), s.partners.columns["partner_id"])
            )
        streams.append(Stream("deals", str(s.deals.path), s.deals.columns["deal_id"]))
        if s.leads:
            streams.append(Stream("leads", str(s.leads.path), s.leads.columns["lead_id"]))
        return streams

    def pull(
        self, stream: Stream, watermark: str | None, state: Mapping[str, str | None]
    ) -> Iterator[Page]:
        """Yield the one page of ``stream``: files are re-read whole (a full snapshot); the page's
        watermark is the file's content fingerprint, shown by ``status``.

        Raises:
            RecordError: a bad value (file, line, column and value named).
        """
        page = getattr(self, f"_{stream.name}")()
        if stream.crm_object != "config":
            page.watermark = _fingerprint(Path(stream.crm_object))
        yield page

    # -- one method per stream ---------------------------------------------------------------
    def _stages(self) -> Page:
        s = self.settings
        names = list(
            dict.fromkeys([*s.stage_probability, *s.deals.won_stages, *s.deals.lost_stages])
        )
        rows = []
        for order, name in enumerate(names, start=1):
            won = name in s.deals.won_stages
            lost = name in s.deals.lost_stages
            default = Decimal(1) if won else Decimal(0) if lost else None
            rows.append(
                {
                    "source": SOURCE,
                    "pipeline": PIPELINE,
                    "stage": name,
                    "label": name,
                    "probability": s.stage_probability.get(name, default),
                    "is_closed": won or lost,
                    "is_won": won,
                    "display_order": order,
                }
            )
        return Page({"stages": rows})

    def _currency_rates(self) -> Page:
        rows = [
            {
                "source": SOURCE,
                "currency": code,
                "per_currency": self.reporting_currency,
                "rate": rate,
                "start_date": UNDATED,
            }
            for code, rate in self.settings.currency_rates.items()
        ]
        return Page({"currency_rates": rows})

    def _owners(self) -> Page:
        o = self.settings.owners
        assert o is not None
        rows = [
            {"source": SOURCE, **row}
            for _, row in _read(o.path, o.columns, self.settings, "owner_id")
        ]
        return Page({"owners": rows})

    def _partners(self) -> Page:
        p = self.settings.partners
        assert p is not None
        rows = [
            {"source": SOURCE, "is_deleted": False, **row}
            for _, row in _read(p.path, p.columns, self.settings, "partner_id")
        ]
        return Page({"partners": rows}, snapshot={"partners": True})

    def _leads(self) -> Page:
        le = self.settings.leads
        assert le is not None
        rows = [
            {"source": SOURCE, "is_deleted": False, **row}
            for _, row in _read(le.path, le.columns, self.settings, "lead_id", ("created_at",))
        ]
        return Page({"leads": rows}, snapshot={"leads": True})

    def _deals(self) -> Page:
        d = self.settings.deals
        won, lost = set(d.won_stages), set(d.lost_stages)
        known = won | lost | set(self.settings.stage_probability)
        rows = []
        no_created = 0
        for line, row in _read(d.path, d.columns, self.settings, "deal_id", ("stage",)):
            deal_id, stage = row["deal_id"], row["stage"]
            where = f"{d.path.name}:{line}"
            if stage not in known:
                msg = (
                    f"{where}: deal {deal_id!r} column {d.columns['stage']!r} value {stage!r} "
                    "is not a known stage; add it to won_stages, lost_stages or stage_probability"
                )
                raise RecordError(msg, record=deal_id, field=d.columns["stage"], value=stage)
            if row.get("created_at") is None:
                no_created += 1
            rows.append(
                {
                    "source": SOURCE,
                    "pipeline": row.pop("pipeline", None) or PIPELINE,
                    "is_closed": stage in won or stage in lost,
                    "is_won": stage in won,
                    "currency": row.pop("currency", None) or self.currency,
                    "is_deleted": False,
                    **row,
                }
            )
        warnings = []
        if no_created:
            warnings.append(
                f"{no_created} deal(s) in {d.path.name} have no created date: they are left out "
                "of deals_created, pipeline, sales cycle and deal success"
            )
        return Page({"deals": rows}, snapshot={"deals": True}, warnings=warnings)


#: The CRM-export (CSV) source as the registry (:mod:`connectors.registry`) reads it: no push,
#: no secrets.
ADAPTER = Adapter(name=SOURCE, settings=CsvSettings, connect=CsvConnector)
