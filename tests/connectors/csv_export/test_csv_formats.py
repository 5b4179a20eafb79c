"""Number and date formats of CSV exports are explicit: a European export is never read 1000x
too small, and a value whose meaning depends on the locale stops the import with the setting
that resolves it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from connectors.values import NumberFormat, parse_amount
from kpi_engine.store import Store
from tests.helpers.maven import write_config


def _errors(result) -> str:
    """The error lines of standard error (the progress bars are there too)."""
    return "".join(line + "\n" for line in result.stderr.splitlines() if line.startswith("error"))

def _config(tmp_path: Path, deals: str, **csv_settings: object) -> Path:
    (tmp_path / "deals.csv").write_text(deals, encoding="utf-8")
    return write_config(tmp_path / "c.yaml", {
        "database": str(tmp_path / "s.duckdb"),
        "sources": {"csv": {
            "deals": {"path": "deals.csv", "won_stages": ["Won"],
                      "columns": {"deal_id": "id", "stage": "stage", "created_at": "created",
                                  "close_date": "closed", "amount": "amount"}},
            **csv_settings,
        }},
    })


def _sync(config: Path):
    return CliRunner().invoke(cli, ["--config", str(config), "sync"])


def _deals(tmp_path: Path) -> list[tuple]:
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        return store.con.execute(
            "SELECT deal_id, amount, created_at, close_date FROM deals ORDER BY deal_id"
        ).fetchall()


@pytest.mark.parametrize(("value", "point", "comma"), [
    ("20.000", "20", "20000"), ("1.500", "1.5", "1500"), ("1,500", "1500", "1.5"),
    ("-120.250", "-120.25", "-120250")])
@pytest.mark.parametrize("delimiter", [";", "\t"], ids=["semicolon", "tab"])
def test_csv_locale_ambiguous_amount_stops_the_import(tmp_path: Path, delimiter: str,
                                                      value: str, point: str,
                                                      comma: str) -> None:
    deals = (delimiter.join(["id", "stage", "created", "closed", "amount"]) + "\n"
             + delimiter.join(["D1", "Won", "2024-01-02", "2024-02-01", "100"]) + "\n"
             + delimiter.join(["D2", "Won", "2024-01-03", "2024-02-02", value]) + "\n")
    # whatever on_bad_record says: this is a setting to add, not a bad record
    result = _sync(_config(tmp_path, deals, delimiter=delimiter, on_bad_record="keep"))
    assert result.exit_code == 1
    assert _errors(result) == (
        f"error: deals.csv:3: column 'amount' value {value!r} could be {point} (decimal point) "
        f"or {comma} (decimal comma) depending on the locale; set "
        "sources.csv.decimal_separator to '.' or ','\n")
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        assert store.con.execute("SELECT count(*) FROM deals").fetchone() == (0,)


@pytest.mark.parametrize("value", ["0.500", "1234.567", "1.234.567", "1,234.50", "12.5"])
def test_csv_unambiguous_values_with_semicolon_are_not_stopped(tmp_path: Path,
                                                               value: str) -> None:
    # a leading 0, more than 3 digits before the point, two groups, both separators, or not
    # 3 digits after the separator: one reading only (or none, then it is a bad value)
    deals = f"id;stage;created;closed;amount\nD1;Won;2024-01-02;2024-02-01;{value}\n"
    result = _sync(_config(tmp_path, deals, delimiter=";"))
    assert "could be" not in _errors(result)


def test_csv_european_export_with_decimal_comma(tmp_path: Path) -> None:
    deals = ("id;stage;created;closed;amount\n"
             "D1;Won;2024-01-02;2024-02-01;20.000\n"
             "D2;Won;2024-01-03;2024-02-02;1.250,50\n"
             "D3;Won;2024-01-04;2024-02-03;1500\n"
             "D4;Won;2024-01-05;2024-02-04;0,75\n")
    result = _sync(_config(tmp_path, deals, delimiter=";", decimal_separator=",",
                           thousands_separator="."))
    assert result.exit_code == 0, result.output
    assert [(r[0], r[1]) for r in _deals(tmp_path)] == [
        ("D1", Decimal(20000)), ("D2", Decimal("1250.50")), ("D3", Decimal(1500)),
        ("D4", Decimal("0.75"))]


def test_csv_decimal_point_setting_reads_dots_as_decimals(tmp_path: Path) -> None:
    deals = "id;stage;created;closed;amount\nD1;Won;2024-01-02;2024-02-01;20.000\n"
    result = _sync(_config(tmp_path, deals, delimiter=";", decimal_separator="."))
    assert result.exit_code == 0, result.output
    assert _deals(tmp_path)[0][1] == Decimal(20)


def test_csv_comma_delimiter_keeps_reading_plain_numbers(tmp_path: Path) -> None:
    # with the default delimiter a point is the decimal point (as before)
    deals = 'id,stage,created,closed,amount\nD1,Won,2024-01-02,2024-02-01,20.000\n' \
            'D2,Won,2024-01-02,2024-02-01,"1,800.00"\n'
    assert _sync(_config(tmp_path, deals)).exit_code == 0
    assert [r[1] for r in _deals(tmp_path)] == [Decimal(20), Decimal(1800)]


@pytest.mark.parametrize(("value", "message"), [
    ("1.250,50", "is not a number with decimal separator '.' but reads as 1250.5 with ','; "
                 "set sources.csv.decimal_separator: ',' (and thousands_separator: '.')"),
    ("999,99", "is not a number with decimal separator '.' but reads as 999.99 with ','; "
               "set sources.csv.decimal_separator: ','"),
], ids=["european-thousands", "european-decimal"])
@pytest.mark.parametrize("policy", ["keep", "reject", "stop"])
def test_csv_european_amount_without_setting_stops_the_import(tmp_path: Path, value: str,
                                                              message: str,
                                                              policy: str) -> None:
    # a decimal comma read with the default settings is a setting to add, not a bad record:
    # the import stops whatever on_bad_record says (before, every amount was NULL, exit 0)
    deals = ("id;stage;created;closed;amount\nD1;Won;2024-01-02;2024-02-01;100\n"
             f"D2;Won;2024-01-03;2024-02-02;{value}\n")
    result = _sync(_config(tmp_path, deals, delimiter=";", on_bad_record=policy))
    assert result.exit_code == 1
    assert _errors(result) == f"error: deals.csv:3: column 'amount' value {value!r} {message}\n"
    assert _deals(tmp_path) == []


def test_csv_point_amount_with_decimal_comma_setting_stops_the_import(tmp_path: Path) -> None:
    deals = "id;stage;created;closed;amount\nD1;Won;2024-01-02;2024-02-01;1250.50\n"
    result = _sync(_config(tmp_path, deals, delimiter=";", decimal_separator=","))
    assert result.exit_code == 1
    assert _errors(result) == (
        "error: deals.csv:2: column 'amount' value '1250.50' is not a number with decimal "
        "separator ',' but reads as 1250.5 with '.'; set sources.csv.decimal_separator: '.'\n")
    assert _deals(tmp_path) == []


@pytest.mark.parametrize(("closed", "created", "message"), [
    ("31.12.2025", "2025-12-01",
     "column 'closed' value '31.12.2025' is not YYYY-MM-DD but reads as 2025-12-31 with "
     "'%d.%m.%Y'; set sources.csv.date_format: '%d.%m.%Y'"),
    ("12/31/25", "2025-12-01",
     "column 'closed' value '12/31/25' is not YYYY-MM-DD but reads as 2025-12-31 with "
     "'%m/%d/%y'; set sources.csv.date_format: '%m/%d/%y'"),
    ("2025/12/31", "2025-12-01",
     "column 'closed' value '2025/12/31' is not YYYY-MM-DD but reads as 2025-12-31 with "
     "'%Y/%m/%d'; set sources.csv.date_format: '%Y/%m/%d'"),
    ("2025-12-31", "01.12.2025 14:05",
     "column 'created' value '01.12.2025 14:05' is not ISO-8601 but reads as "
     "2025-12-01T14:05:00 with '%d.%m.%Y %H:%M' or 2025-01-12T14:05:00 with '%m.%d.%Y %H:%M'; "
     "set sources.csv.datetime_format: the export's order: '%d.%m.%Y %H:%M' or "
     "'%m.%d.%Y %H:%M' (and sources.csv.timezone, e.g. Europe/Berlin)"),
], ids=["dotted-day-first", "us-two-digit-year", "slashed-year-first", "dotted-datetime"])
def test_csv_date_in_another_format_stops_the_import(tmp_path: Path, closed: str, created: str,
                                                     message: str) -> None:
    deals = (f"id;stage;created;closed;amount\nD1;Won;2025-11-01;2025-11-02;100\n"
             f"D2;Won;{created};{closed};100\n")
    result = _sync(_config(tmp_path, deals, delimiter=";", on_bad_record="keep"))
    assert result.exit_code == 1
    assert _errors(result) == f"error: deals.csv:3: {message}\n"
    assert _deals(tmp_path) == []


def test_csv_unreadable_values_stay_bad_records(tmp_path: Path) -> None:
    # no setting reads n/a, 2025-13-45 or 31.13.2025: they follow on_bad_record (keep: NULL)
    deals = ("id;stage;created;closed;amount\nD1;Won;2025-11-01;2025-13-45;n/a\n"
             "D2;Won;2025-11-01;31.13.2025;100\n")
    result = _sync(_config(tmp_path, deals, delimiter=";"))
    assert result.exit_code == 0, result.output
    assert _deals(tmp_path) == [
        ("D1", None, datetime(2025, 11, 1, tzinfo=UTC), None),
        ("D2", Decimal(100), datetime(2025, 11, 1, tzinfo=UTC), None)]
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        assert store.con.execute(
            "SELECT record_id, field, reason FROM rejects ORDER BY 1, 2").fetchall() == [
            ("D1", "amount", "deals.csv:2: 'n/a' is not a number"),
            ("D1", "closed", "deals.csv:2: '2025-13-45' is not a date (YYYY-MM-DD)"),
            ("D2", "closed", "deals.csv:3: '31.13.2025' is not a date (YYYY-MM-DD); set "
                             "sources.csv.date_format, e.g. '%d.%m.%Y' or '%m.%d.%Y'")]


def test_csv_datetime_without_offset_names_the_timezone_setting(tmp_path: Path) -> None:
    deals = "id;stage;created;closed;amount\nD1;Won;2025-11-01 14:05;2025-11-02;100\n"
    assert _sync(_config(tmp_path, deals, delimiter=";")).exit_code == 0
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        assert store.con.execute("SELECT reason FROM rejects").fetchall() == [
            ("deals.csv:2: '2025-11-01 14:05' has no time zone offset; set sources.csv.timezone "
             "(IANA, e.g. Europe/Berlin) to the export's time zone",)]


@pytest.mark.parametrize(("fmt", "text", "value"), [
    (NumberFormat(".", ","), "1,800.00", Decimal(1800)),
    (NumberFormat(".", ""), "1800.5", Decimal("1800.5")),
    (NumberFormat(",", "."), "1.800,5", Decimal("1800.5")),
    (NumberFormat(",", " "), "1 800,5", Decimal("1800.5")),
    (NumberFormat(",", "'"), "-1'800,5", Decimal("-1800.5")),
    (NumberFormat(".", "'"), "1'234'567.25", Decimal("1234567.25")),
    (NumberFormat(",", "."), "20.000", Decimal(20000)),
], ids=["us", "no-thousands", "de", "fr", "ch-comma", "ch-point", "de-thousands-only"])
def test_number_format_reads(fmt: NumberFormat, text: str, value: Decimal) -> None:
    assert parse_amount(text, fmt) == value


@pytest.mark.parametrize(("fmt", "text"), [
    (NumberFormat(",", "."), "1.5"),        # a point with decimal comma: not a group of 3
    (NumberFormat(".", ""), "1,800"),       # no thousands separator allowed
    (NumberFormat(",", "."), "1.80.000"),   # broken groups
], ids=["point-not-group", "no-thousands", "broken-groups"])
def test_number_format_refuses(fmt: NumberFormat, text: str) -> None:
    with pytest.raises(ValueError, match="is not a number with decimal separator"):
        parse_amount(text, fmt)


def test_csv_date_and_datetime_formats(tmp_path: Path) -> None:
    deals = ("id;stage;created;closed;amount\n"
             "D1;Won;03.12.2024 14:05;05.12.2024;100\n"
             "D2;Won;31.01.2024 23:30;01.02.2024;200\n")
    result = _sync(_config(tmp_path, deals, delimiter=";", date_format="%d.%m.%Y",
                           datetime_format="%d.%m.%Y %H:%M", timezone="Europe/Berlin"))
    assert result.exit_code == 0, result.output
    assert [(r[0], r[2], r[3]) for r in _deals(tmp_path)] == [
        # Berlin is UTC+1 in winter
        ("D1", datetime(2024, 12, 3, 13, 5, tzinfo=UTC), date(2024, 12, 5)),
        ("D2", datetime(2024, 1, 31, 22, 30, tzinfo=UTC), date(2024, 2, 1)),
    ]


def test_csv_date_not_matching_the_format_names_it(tmp_path: Path) -> None:
    deals = "id;stage;created;closed;amount\nD1;Won;2024-12-03;2024-12-05;100\n"
    result = _sync(_config(tmp_path, deals, delimiter=";", date_format="%d.%m.%Y",
                           on_bad_record="stop"))
    assert result.exit_code == 1
    # ISO reads it: the format set is wrong for this export, a setting to fix
    assert _errors(result) == (
        "error: deals.csv:2: column 'closed' value '2024-12-05' does not match "
        "sources.csv.date_format '%d.%m.%Y' but reads as 2024-12-05 with '%Y-%m-%d'; set "
        "sources.csv.date_format: '%Y-%m-%d'\n")


def test_csv_day_first_date_without_format_names_the_setting(tmp_path: Path) -> None:
    deals = "id;stage;created;closed;amount\nD1;Won;2024-12-03;05/12/2024;100\n"
    result = _sync(_config(tmp_path, deals, delimiter=";", on_bad_record="stop"))
    assert result.exit_code == 1
    # day or month first is the export's to say: both are named, neither is guessed
    assert _errors(result) == (
        "error: deals.csv:2: column 'closed' value '05/12/2024' is not YYYY-MM-DD but reads as "
        "2024-12-05 with '%d/%m/%Y' or 2024-05-12 with '%m/%d/%Y'; set sources.csv.date_format: "
        "the export's order: '%d/%m/%Y' or '%m/%d/%Y'\n")


def test_csv_datetime_format_without_zone_needs_a_timezone(tmp_path: Path) -> None:
    deals = "id;stage;created;closed;amount\nD1;Won;03.12.2024 14:05;2024-12-05;100\n"
    config = _config(tmp_path, deals, delimiter=";", datetime_format="%d.%m.%Y %H:%M")
    result = _sync(config)
    assert result.exit_code == 1
    assert _errors(result) == (
        f"error: {config}: sources.csv: datetime_format '%d.%m.%Y %H:%M' has no %z: set "
        "sources.csv.timezone (e.g. Europe/Berlin) to say which time zone its values are in\n")


@pytest.mark.parametrize(("settings", "problem"), [
    ({"decimal_separator": ";"}, "sources.csv.decimal_separator: Input should be '.' or ','"),
    ({"decimal_separator": ",", "thousands_separator": ","},
     "sources.csv: thousands_separator ',' is the decimal separator"),
    ({"date_format": "%d.%m"}, "sources.csv.date_format: '%d.%m' has no year (%Y or %y)"),
    ({"timezone": "Mars/Olympus"}, "sources.csv.timezone: unknown time zone 'Mars/Olympus'"),
], ids=["bad-decimal", "same-separators", "no-year", "bad-zone"])
def test_csv_format_settings_are_checked(tmp_path: Path, settings: dict, problem: str) -> None:
    config = _config(tmp_path, "id,stage\nD1,Won\n", **settings)
    result = _sync(config)
    assert result.exit_code == 1
    assert _errors(result).startswith(f"error: {config}: {problem}")
