"""Value parsing shared by the connectors: cases C-03 (datetimes) and C-04 (amounts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.values import parse_amount, parse_bool, parse_date, parse_instant


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,800.00", Decimal("1800.00")),
        ("67340.0", Decimal("67340.0")),
        ("  250  ", Decimal("250")),
        ("1.5E4", Decimal("15000")),
        (None, None),
        ("", None),
        ("10000", Decimal("10000")),
        ("20000.50", Decimal("20000.50")),
        (Decimal("1E+3"), Decimal("1000")),
        (12, Decimal("12")),
        (1000.1, Decimal("1000.1")),
    ],
    ids=["thousands", "point-zero", "spaces", "exponent", "none", "empty", "int-text",
         "cents", "decimal-exponent", "int", "float-repr"],
)
def test_parse_amount_formats(raw: object, expected: Decimal | None) -> None:
    assert parse_amount(raw) == expected


@pytest.mark.parametrize("raw", ["n/a", "12abc", "NaN", "Infinity", True,
                                 "\uff11\uff12\uff13", "1_000", "\u0661\u0662"])
def test_parse_amount_rejects_text(raw: object) -> None:
    with pytest.raises(ValueError, match="number"):
        parse_amount(raw)


C03_INSTANT = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-31T23:30:00Z", C03_INSTANT),
        ("2024-03-31T23:30:00.123Z", C03_INSTANT + timedelta(milliseconds=123)),
        ("2024-03-31T23:30:00.000+0000", C03_INSTANT),
        ("2024-03-31T23:30:00+00:00", C03_INSTANT),
        ("2024-03-31T23:30:00.000-05:00", datetime(2024, 4, 1, 4, 30, tzinfo=UTC)),
        ("1711927800000", C03_INSTANT),
        (1711927800000, C03_INSTANT),
        ("2024-03-31", datetime(2024, 3, 31, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
    ids=["z", "z-millis", "sf-plus0000", "colon-offset", "minus-five", "epoch-text",
         "epoch-int", "bare-date", "empty", "none"],
)
def test_parse_instant_variants_are_one_utc_instant(raw: object, expected: datetime | None) -> None:
    parsed = parse_instant(raw)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


def test_parse_instant_offset_lands_in_april() -> None:
    # C-03: as TIMESTAMP the offset would be dropped (March); the instant is in April (UTC)
    assert parse_instant("2024-03-31T23:30:00.000-05:00").month == 4


@pytest.mark.parametrize("raw", ["2024-13-45T00:00:00Z", "yesterday", "2024-03-31T23:30:00"])
def test_parse_instant_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match=r"ISO-8601|time zone"):
        parse_instant(raw)


def test_parse_date_reads_iso_and_rejects_impossible_dates() -> None:
    assert parse_date("2017-03-01") == date(2017, 3, 1)
    assert parse_date("") is None
    with pytest.raises(ValueError, match="2024-13-45"):
        parse_date("2024-13-45")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("FALSE", False), ("1", True), ("no", False), ("", None), (True, True)],
)
def test_parse_bool(raw: object, expected: bool | None) -> None:
    assert parse_bool(raw) is expected


def test_parse_amount_fast_and_slow_paths_agree_on_scale_limits() -> None:
    # 6 decimal places fit DECIMAL(38, 6); 7 do not, unless they are trailing zeros
    assert parse_amount("0.123456") == Decimal("0.123456")
    assert parse_amount("1.10000000") == Decimal("1.1")
    with pytest.raises(ValueError, match="decimal places"):
        parse_amount("0.1234567")
    assert parse_amount("9" * 32) == Decimal("9" * 32)
    with pytest.raises(ValueError, match="digits before the point"):
        parse_amount("9" * 33)
