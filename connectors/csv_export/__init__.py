"""The CRM-export (CSV) source: deal, owner, partner and lead files read through a column mapping.

Every row is read before anything is written, and the import commits whole or not at all (the
connector is ``atomic``). What cannot be read:

- a broken file (not the configured encoding, a mapped column missing from the header, a row
  with more or fewer fields than the header, an empty or repeated id, no data rows) stops the
  import with one line naming file, line and column;
- a value whose meaning depends on a setting the config lacks (``20.000`` in a ``;`` file with no
  ``decimal_separator``), or that the settings cannot read but another format setting can
  (``999,99``: ``decimal_separator: ','``; ``31.12.2025``: ``date_format: '%d.%m.%Y'``), stops
  it with the setting to add, whatever ``on_bad_record`` says -- never a silent guess;
- a bad value (text in an amount, ``2024-13-45``), an unknown stage, or a partner or owner id
  that neither the partners / owners file nor an earlier import holds follow
  ``on_bad_record``, as for the CRM sources
  (:mod:`connectors.bad_records`): every one is listed in ``rejects`` with file and line.

A file is a full snapshot: deals, partners and leads of the ``csv`` source missing from it are
flagged deleted -- unless that would be more than ``max_delete_share`` of the stored live rows
(a truncated export): then nothing is written (``sync --allow-mass-delete`` lets it through).
Re-importing an unchanged file writes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connectors.bad_records import BadRecords
from connectors.base import Adapter, Page, Reference, SnapshotGuard, Stream
from connectors.csv_export.links import influencer_rows, read_links
from connectors.csv_export.settings import TIME_DIRECTIVES, CsvSettings
from connectors.errors import RecordError
from connectors.values import (
    NumberFormat,
    ambiguous_readings,
    parse_amount,
    parse_bool,
    parse_date,
    parse_instant,
)

SOURCE = "csv"
UNDATED = date(1, 1, 1)  # currency_rates.start_date of an undated rate
PIPELINE = "default"

_CURRENCY = re.compile(r"^[A-Z]{3}$")
#: A date written day or month first (``05/12/2024``, ``05.12.2024 14:05``).
_DMY = re.compile(r"^\d{1,2}([./-])\d{1,2}\1(\d{2,4})")
#: A date written year first with another separator (``2025/12/31``, ``2025.12.31``).
_YMD = re.compile(r"^\d{4}([./])\d{1,2}\1\d{1,2}")
#: The times of day a date-time may carry after its date, for :meth:`_Values._other_format`.
_TIMES = ("", " %H:%M", " %H:%M:%S", "T%H:%M:%S")
#: The delimiters of exports written in locales with a decimal comma.
_COMMA_LOCALE_DELIMITERS = (";", "\t")
_STOP_HINT = "fix the cell or the column mapping"


class _SettingMissing(Exception):
    """A value that only a setting can make unambiguous (it stops the import whatever
    ``on_bad_record`` says)."""


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


class _Values:
    """The value parsers of one import, from the settings' formats.

    Each parser takes the cell's text (not empty) and returns the canonical value; it raises
    ``ValueError`` for a bad value, :class:`_SettingMissing` for a value a setting must resolve.
    """

    def __init__(self, settings: CsvSettings) -> None:
        self.s = settings
        self.number_format = settings.number_format()
        self.zone = ZoneInfo(settings.timezone) if settings.timezone else None
        self.parsers: dict[str, Callable[[str], Any]] = {
            "amount": self.amount,
            "created_at": self.instant,
            "converted_at": self.instant,
            "close_date": self.day,
            "is_active": parse_bool,
            "currency": self.currency,
        }

    def amount(self, text: str) -> Decimal | None:
        if self.number_format is None and self.s.delimiter in _COMMA_LOCALE_DELIMITERS:
            readings = ambiguous_readings(text)
            if readings:
                point, comma = readings
                msg = (f"could be {_plain(point)} (decimal point) or {_plain(comma)} (decimal "
                       "comma) depending on the locale; set sources.csv.decimal_separator to "
                       "'.' or ','")
                raise _SettingMissing(msg)
        try:
            return parse_amount(text, self.number_format)
        except ValueError as exc:
            # a value the other decimal separator reads is a setting to fix, not a bad record
            decimal = "." if self.number_format is None else self.number_format.decimal
            other = NumberFormat(",", ".") if decimal == "." else NumberFormat(".", ",")
            try:
                value = other.read(text)
            except ValueError:
                raise exc from None
            setting = f"sources.csv.decimal_separator: {other.decimal!r}"
            if decimal == "." and "." in text:
                setting += " (and thousands_separator: '.')"
            msg = (f"is not a number with decimal separator {decimal!r} but reads as "
                   f"{_plain(value)} with {other.decimal!r}; set {setting}")
            raise _SettingMissing(msg) from None

    def day(self, text: str) -> date | None:
        fmt = self.s.date_format
        try:
            if fmt:
                return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date
            return parse_date(text)
        except ValueError as exc:
            self._other_format(text, fmt, "date_format", ("",))
            if fmt:
                msg = f"{text!r} does not match sources.csv.date_format {fmt!r}"
                raise ValueError(msg) from None
            raise ValueError(self._hint(str(exc), text, "date_format", "")) from None

    def instant(self, text: str) -> datetime | None:
        fmt = self.s.datetime_format
        if fmt:
            try:
                parsed = datetime.strptime(text, fmt)  # noqa: DTZ007 - zone applied below
            except ValueError:
                self._other_format(text, fmt, "datetime_format", _TIMES)
                msg = f"{text!r} does not match sources.csv.datetime_format {fmt!r}"
                raise ValueError(msg) from None
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
            if TIME_DIRECTIVES.search(fmt) and self.zone is not None:
                return parsed.replace(tzinfo=self.zone).astimezone(UTC)
            return parsed.replace(tzinfo=UTC)  # a date: midnight UTC
        if self.zone is not None and len(text) > 10:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                pass
            else:
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=self.zone).astimezone(UTC)
        try:
            return parse_instant(text)
        except ValueError as exc:
            reason = str(exc)
            if reason.endswith("has no time zone offset"):
                msg = (f"{reason}; set sources.csv.timezone (IANA, e.g. Europe/Berlin) to the "
                       "export's time zone")
                raise ValueError(msg) from None
            self._other_format(text, None, "datetime_format", _TIMES)
            raise ValueError(self._hint(reason, text, "datetime_format", " %H:%M")) from None

    def _other_format(self, text: str, fmt: str | None, setting: str,
                      times: tuple[str, ...]) -> None:
        """Stop on a date the configured format cannot read but another order or separator
        (``31.12.2025``: ``%d.%m.%Y``) or ISO reads: a setting to fix, not a bad record.

        Raises:
            _SettingMissing: naming every format that reads ``text`` (two when day and month
                could be either way round: the export's to say, never a guess).
        """
        dates = ["%Y-%m-%d"]
        match = _DMY.match(text)
        if match:
            sep, year = match.group(1), "%Y" if len(match.group(2)) == 4 else "%y"
            dates = [f"%d{sep}%m{sep}{year}", f"%m{sep}%d{sep}{year}"]
        elif _YMD.match(text):
            sep = text[4]
            dates = [f"%Y{sep}%m{sep}%d"]
        readings = []
        for candidate in (d + t for d in dates for t in times):
            if candidate == fmt:
                continue
            try:
                value = datetime.strptime(text, candidate)  # noqa: DTZ007 - only a check
            except ValueError:
                continue
            readings.append((candidate, value))
        if not readings:
            return
        if fmt:
            now = f"does not match sources.csv.{setting} {fmt!r}"
        else:
            now = "is not YYYY-MM-DD" if setting == "date_format" else "is not ISO-8601"
        shown = " or ".join(
            f"{(v.date() if setting == 'date_format' else v).isoformat()} with {c!r}"
            for c, v in readings)
        zone = (" (and sources.csv.timezone, e.g. Europe/Berlin)" if self.zone is None
                and any(TIME_DIRECTIVES.search(c) for c, _ in readings) else "")
        which = (f"{readings[0][0]!r}" if len(readings) == 1
                 else "the export's order: " + " or ".join(repr(c) for c, _ in readings))
        msg = (f"{now} but reads as {shown}; set sources.csv.{setting}: {which}"
               f"{zone}")
        raise _SettingMissing(msg)

    @staticmethod
    def _hint(reason: str, text: str, setting: str, time: str) -> str:
        match = _DMY.match(text)
        if not match:
            return reason
        sep = match.group(1)
        return (f"{reason}; set sources.csv.{setting}, e.g. '%d{sep}%m{sep}%Y{time}' or "
                f"'%m{sep}%d{sep}%Y{time}'")

    @staticmethod
    def currency(text: str) -> str:
        if not _CURRENCY.match(text):
            msg = "not an ISO 4217 code such as USD"
            raise ValueError(msg)
        return text


@dataclass
class _File:
    """One file read: the rows kept (line, canonical row), every id in it (rows left out by
    ``on_bad_record`` included: they are not gone from the export) and, per id, the canonical
    columns whose value was bad (kept as NULL)."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    bad: dict[str, set[str]] = field(default_factory=dict)


def _read(
    path: Path,
    mapping: Mapping[str, str],
    settings: CsvSettings,
    key: str,
    what: str,
    bad: BadRecords,
    values: _Values,
    required: tuple[str, ...] = (),
    check: Callable[[str, int, dict[str, Any]], None] | None = None,
) -> _File:
    """Read every data row of a CSV file.

    Args:
        path: the file.
        mapping: canonical column -> file column.
        settings: ``sources.csv`` (encoding, delimiter).
        key: the canonical id column: never empty, never repeated.
        what: the kind of record, for rejects (``deal``).
        bad: the bad-record policy collecting this file's rejects.
        values: the value parsers.
        required: other canonical columns that must not be empty.
        check: more checks of a row (``where`` = ``file:line``, line, row), run before the row
            is judged; they report through ``bad``.

    Raises:
        RecordError: a broken file (see the module docstring), a value a setting must resolve,
            or a bad value under ``on_bad_record: stop``. The message names file, line, column
            and value.
    """
    result = _File()
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
                before = len(bad.rejects)
                out = _row(path.name, line, row, len(header), mapping, key, required, seen,
                           what, bad, values, result.bad)
                if check is not None:
                    check(f"{path.name}:{line}", line, out)
                result.ids.append(out[key])
                if not bad.skips(before):
                    result.rows.append((line, out))
    except UnicodeDecodeError as exc:
        msg = (
            f"{path.name}: not {settings.encoding} text (byte 0x{exc.object[exc.start]:02x}); "
            "set sources.csv.encoding (e.g. latin-1, utf-16)"
        )
        raise RecordError(msg) from None
    if not result.ids:
        msg = (
            f"{path.name}: no data rows; an export is a full snapshot, so an empty one would "
            "mark every record deleted: check the export"
        )
        raise RecordError(msg)
    return result


def _row(
    name: str,
    line: int,
    row: dict[str | None, Any],
    width: int,
    mapping: Mapping[str, str],
    key: str,
    required: tuple[str, ...],
    seen: dict[str, int],
    what: str,
    bad: BadRecords,
    values: _Values,
    bad_columns: dict[str, set[str]],
) -> dict[str, Any]:
    if None in row or any(v is None for v in row.values()):
        fields = width + len(row.get(None) or []) - sum(v is None for v in row.values())
        msg = f"{name}:{line}: {fields} fields, the header has {width}; fix the row's quoting"
        raise RecordError(msg)
    record = row[mapping[key]].strip()
    if not record:
        msg = f"{name}:{line}: column {mapping[key]!r} is empty; {key} is required"
        raise RecordError(msg, field=mapping[key])
    if record in seen:
        msg = (
            f"{name}:{line}: {key} {record!r} appears again (first on line {seen[record]}); "
            "remove the duplicate row"
        )
        raise RecordError(msg, record=record, field=mapping[key], value=record)
    seen[record] = line
    out: dict[str, Any] = {}
    for canonical, column in mapping.items():
        raw = row[column]
        text = raw.strip()
        parser = values.parsers.get(canonical)
        if not (parser and text):
            out[canonical] = text or None
            continue
        try:
            out[canonical] = parser(text)
        except _SettingMissing as exc:
            msg = f"{name}:{line}: column {column!r} value {raw!r} {exc}"
            raise RecordError(msg, record=record, field=column, value=raw) from None
        except ValueError as exc:
            out[canonical] = None
            bad_columns.setdefault(record, set()).add(canonical)
            bad.add(what, record, column, raw, f"{name}:{line}: {exc}",
                    nullable=canonical not in required,
                    message=(f"{name}:{line}: column {column!r} value {raw!r} is not valid for "
                             f"{canonical} ({exc}); {_STOP_HINT}"))
    for canonical in required:
        if out.get(canonical) is None and not row[mapping[canonical]].strip():
            msg = f"{name}:{line}: column {mapping[canonical]!r} is empty; {canonical} is required"
            raise RecordError(msg, field=mapping[canonical])
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
        now: the sync's start, UTC (default: now): the time of its pipeline snapshot.
    """

    source = SOURCE
    atomic = True

    def __init__(self, settings: CsvSettings, reporting_currency: str,
                 now: datetime | None = None) -> None:
        self.settings = settings
        self.currency = settings.currency or reporting_currency
        self.reporting_currency = reporting_currency
        self.values = _Values(settings)
        self.started = now or datetime.now(UTC)

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
            RecordError: a broken file, a value a setting must resolve, or a bad value under
                ``on_bad_record: stop`` (file, line, column and value named).
        """
        page = getattr(self, f"_{stream.name}")()
        if stream.crm_object != "config":
            page.watermark = _fingerprint(Path(stream.crm_object))
        if stream.name == "deals" and page.watermark != watermark:
            page.tables["pipeline_snapshots"] = self._snapshot_rows(page.tables["deals"])
        yield page

    def _snapshot_rows(self, deals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The open deals as they stand in a changed deals file, at the sync's start (UTC): the
        versions the pipeline waterfall compares (an export has no field history). An
        unchanged file (the fingerprint of the last import) adds no snapshot."""
        return [
            {"source": SOURCE, "snapshot_at": self.started, "deal_id": d["deal_id"],
             "stage": d.get("stage"), "amount": d.get("amount"), "currency": d.get("currency"),
             "close_date": d.get("close_date")}
            for d in deals if not d["is_closed"]
        ]

    def _bad(self) -> BadRecords:
        return BadRecords(self.settings.on_bad_record)

    def _snapshot(self, table: str, path: Path, file: _File, rows: list[dict[str, Any]],
                  bad: BadRecords, warnings: list[str] | None = None,
                  references: tuple[Reference, ...] = ()) -> Page:
        guard = SnapshotGuard(
            max_share=self.settings.max_delete_share,
            name=path.name,
            setting="sources.csv.max_delete_share",
            override="run partnerkpi sync --allow-mass-delete (or raise "
            "sources.csv.max_delete_share)",
        )
        return Page({table: rows}, keep_ids={table: file.ids}, snapshot_guard=guard,
                    rejects=bad.take(), warnings=warnings or [], references=references)

    def _references(self, what: str, table: str, path: Path, mapping: Mapping[str, str],
                    file: _File) -> tuple[Reference, ...]:
        """The checks of the rows' partner and owner ids (when a partners / owners file is
        configured), run by the sync loop against what the store holds for the source, as for
        the CRM sources: a partner dropped from its file is flagged deleted and an owner kept,
        so either still counts; an unknown id follows ``on_bad_record`` (``keep``: NULL, the
        record counts unattributed / under owner ``none``)."""
        where = {row[f"{what}_id"]: f"{path.name}:{line}" for line, row in file.rows}
        refs = []
        for column, stream, noun in (("partner_id", "partners", "a partner_id"),
                                     ("owner_id", "owners", "an owner_id")):
            source = getattr(self.settings, stream)
            if column in mapping and source is not None:
                refs.append(Reference(
                    table, f"{what}_id", (column,), stream, what, mapping[column],
                    f"is not {noun} in {source.path.name} (nor in an earlier import)",
                    self.settings.on_bad_record, where=where))
        return tuple(refs)

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
        bad = self._bad()
        file = _read(o.path, o.columns, self.settings, "owner_id", "owner", bad, self.values)
        rows = [{"source": SOURCE, **row} for _, row in file.rows]
        return Page({"owners": rows}, rejects=bad.take())

    def _partners(self) -> Page:
        p = self.settings.partners
        assert p is not None
        bad = self._bad()
        file = _read(p.path, p.columns, self.settings, "partner_id", "partner", bad, self.values)
        rows = [{"source": SOURCE, "is_deleted": False, **row} for _, row in file.rows]
        return self._snapshot("partners", p.path, file, rows, bad)

    def _leads(self) -> Page:
        le = self.settings.leads
        assert le is not None
        bad = self._bad()
        file = _read(le.path, le.columns, self.settings, "lead_id", "lead", bad, self.values,
                     ("created_at",))
        rows = [{"source": SOURCE, "is_deleted": False, **row} for _, row in file.rows]
        return self._snapshot("leads", le.path, file, rows, bad,
                              references=self._references("lead", "leads", le.path, le.columns,
                                                          file))

    def _deals(self) -> Page:
        d = self.settings.deals
        won, lost = set(d.won_stages), set(d.lost_stages)
        known = won | lost | set(self.settings.stage_probability)
        bad = self._bad()
        stage_column = d.columns["stage"]

        def check(where: str, line: int, row: dict[str, Any]) -> None:
            stage = row["stage"]
            if stage not in known:
                reason = ("is not a known stage; add it to won_stages, lost_stages or "
                          "stage_probability")
                bad.add("deal", row["deal_id"], stage_column, stage, f"{where}: {reason}",
                        nullable=False,
                        message=f"{where}: deal {row['deal_id']!r} column {stage_column!r} "
                                f"value {stage!r} {reason}")

        file = _read(d.path, d.columns, self.settings, "deal_id", "deal", bad, self.values,
                     ("stage",), check)
        rows = []
        links: list[dict[str, Any]] = []
        no_created = 0
        for _, row in file.rows:
            links += influencer_rows(row["deal_id"], row.pop("influencers", None),
                                     d.list_separator, d.influencer_role, row.get("partner_id"))
            stage = row["stage"]
            if row.get("created_at") is None:
                no_created += 1
            currency = row.pop("currency", None) or self.currency
            if "currency" in file.bad.get(row["deal_id"], ()):
                # kept under on_bad_record: keep: an amount in an unknown currency is unknown
                currency = row["amount"] = None
            rows.append(
                {
                    "source": SOURCE,
                    "pipeline": row.pop("pipeline", None) or PIPELINE,
                    "is_closed": stage in won or stage in lost,
                    "is_won": stage in won,
                    "currency": currency,
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
        page = self._snapshot("deals", d.path, file, rows, bad, warnings,
                              self._references("deal", "deals", d.path, d.columns, file))
        return self._with_links(page, links, file)

    def _with_links(self, page: Page, links: list[dict[str, Any]], file: _File) -> Page:
        """The deals page with the deals' other partner links (``influencers``, the
        deal-partners file): the whole set of the ``csv`` links of the file's deals, checked
        against the deals and (with a partners file) the partners."""
        where: dict[str, str] = {}
        p = self.settings.deal_partners
        bad = self._bad()
        if p is not None:
            more, where = read_links(self.settings, p, bad, self.values.amount)
            links += more
            page.rejects += bad.take()
        if not links and p is None and "influencers" not in self.settings.deals.columns:
            return page
        page.tables["deal_partners"] = links
        page.replace["deal_partners"] = ("deal_id", "csv", list(file.ids))
        name = p.path.name if p else self.settings.deals.path.name
        refs = [Reference("deal_partners", "link_id", ("deal_id",), "deals", "deal partner",
                          p.columns["deal_id"] if p else "deal_id",
                          f"is not a deal in {self.settings.deals.path.name}",
                          self.settings.on_bad_record, nullable=False, where=where)]
        if self.settings.partners is not None:
            column = p.columns["partner_id"] if p else self.settings.deals.columns["influencers"]
            refs.append(Reference(
                "deal_partners", "link_id", ("partner_id",), "partners", "deal partner", column,
                f"is not a partner_id in {self.settings.partners.path.name} (nor in an earlier "
                f"import; {name})", self.settings.on_bad_record, nullable=False, where=where))
        page.references = (*page.references, *refs)
        return page


#: The CRM-export (CSV) source as the registry (:mod:`connectors.registry`) reads it: no push,
#: no secrets.
ADAPTER = Adapter(name=SOURCE, settings=CsvSettings, connect=CsvConnector)
