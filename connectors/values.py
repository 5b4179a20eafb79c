"""Parsing CRM values into canonical Python values, shared by every connector.

- Amounts become exact ``Decimal`` (never through float): Salesforce sends JSON numbers
  (parse JSON with ``parse_float=Decimal``), HubSpot sends strings, exports send text such as
  ``"1,800.00"`` -- or, with a :class:`NumberFormat`, ``"1.800,00"``. Empty means unknown
  (``None``), never 0 (case C-04). :func:`ambiguous_readings` finds text whose value depends on
  the locale (``20.000``: 20 or 20000).
- Instants become aware UTC datetimes whatever the ISO-8601 variant (``Z``, ``+0000``,
  ``+00:00``, local offsets, with or without fractions) or epoch milliseconds (case C-03).
- Dates become ``datetime.date``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_ZERO = timedelta(0)
# amounts are stored as DECIMAL(38, 6)
AMOUNT_DIGITS, AMOUNT_SCALE = 38, 6
AMOUNT_INTEGER_DIGITS = AMOUNT_DIGITS - AMOUNT_SCALE


@dataclass(frozen=True)
class NumberFormat:
    """How a file writes numbers: its decimal separator and thousands separator.

    Attributes:
        decimal: ``.`` or ``,``.
        thousands: ``,``, ``.``, ``' '``, ``'`` or ``""`` (none); groups are exactly 3 digits.
    """

    decimal: str
    thousands: str

    def read(self, text: str) -> Decimal:
        """Read ``text`` (``1.800,50`` with ``decimal=","``, ``thousands="."``) exactly.

        Raises:
            ValueError: not a number written this way.
        """
        t, d = re.escape(self.thousands), re.escape(self.decimal)
        grouped = rf"|[1-9]\d{{0,2}}(?:{t}\d{{3}})+" if self.thousands else ""
        match = re.fullmatch(rf"([+-]?)(\d+{grouped})(?:{d}(\d+))?", text.strip())
        if match is None:
            thousands = (f"thousands separator {self.thousands!r}" if self.thousands
                         else "no thousands separator")
            msg = (f"{text!r} is not a number with decimal separator {self.decimal!r} and "
                   f"{thousands}")
            raise ValueError(msg)
        sign, whole, fraction = match.groups()
        if self.thousands:
            whole = whole.replace(self.thousands, "")
        return Decimal(f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}")


#: A number whose one separator is followed by exactly 3 digits (``20.000``, ``1,500``): a
#: decimal point in one locale, a thousands separator in another.
_AMBIGUOUS = re.compile(r"^[+-]?[1-9]\d{0,2}[.,]\d{3}$")


def ambiguous_readings(text: str) -> tuple[Decimal, Decimal] | None:
    """The two values of a number whose meaning depends on the locale, or None.

    ``20.000`` is 20 with a decimal point and 20000 with a decimal comma; ``1,500`` is 1500 or
    1.5. Text with a leading 0, more than 3 digits before the separator, two separators or not
    exactly 3 digits after it has one reading (or none).

    Returns:
        (the value with ``.`` as decimal point, the value with ``,`` as decimal point).
    """
    text = text.strip()
    if not _AMBIGUOUS.match(text):
        return None
    return NumberFormat(".", ",").read(text), NumberFormat(",", ".").read(text)


def parse_amount(value: object, number_format: NumberFormat | None = None) -> Decimal | None:
    """Read an amount exactly.

    Args:
        value: a ``Decimal``, ``int``, ``str`` (``"1,800.00"``, ``" 250 "``, ``"1.5E4"``, ``""``),
            or ``None``. A ``float`` is accepted only through its shortest repr.
        number_format: how text is written (:class:`NumberFormat`); default: a point as the
            decimal separator, commas allowed between groups of 3 digits, exponents allowed.

    Returns:
        The amount as ``Decimal`` (in whatever currency it was given), or ``None`` when empty.

    Raises:
        ValueError: the value is not a number (e.g. ``"n/a"``; or not written in
            ``number_format``), not finite, or does not fit the store's DECIMAL(38, 6) (more
            than 6 decimal places, more than 32 integer digits).
    """
    if number_format is not None and isinstance(value, str):
        if not value.strip():
            return None
        value = number_format.read(value)
    if type(value) is str and value.isascii() and "_" not in value:  # common case, fast
        try:
            number = Decimal(value)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                _, digits, exponent = number.as_tuple()
                # finite: the exponent is an int (only NaN / Infinity carry a letter)
                assert isinstance(exponent, int)
                if exponent >= -AMOUNT_SCALE and len(digits) + exponent <= AMOUNT_INTEGER_DIGITS:
                    return number
    if value is None:
        return None
    if isinstance(value, bool):
        msg = f"{value!r} is not a number"
        raise ValueError(msg)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        text = str(value).strip()
        if not text:
            return None
        if not text.isascii() or "_" in text:  # Decimal() reads full-width digits and '1_000'
            msg = f"{value!r} is not a plain number (ASCII digits, sign, point, exponent)"
            raise ValueError(msg)
        if _THOUSANDS.match(text):
            text = text.replace(",", "")
        try:
            number = Decimal(text)
        except InvalidOperation:
            msg = f"{value!r} is not a number"
            raise ValueError(msg) from None
    if not number.is_finite():
        msg = f"{value!r} is not a finite number"
        raise ValueError(msg)
    _, digits, exponent = number.normalize().as_tuple()
    if isinstance(exponent, int) and exponent < -AMOUNT_SCALE:
        msg = f"{value!r} has more than {AMOUNT_SCALE} decimal places"
        raise ValueError(msg)
    if isinstance(exponent, int) and len(digits) + exponent > AMOUNT_DIGITS - AMOUNT_SCALE:
        msg = f"{value!r} has more than {AMOUNT_DIGITS - AMOUNT_SCALE} digits before the point"
        raise ValueError(msg)
    return number


def parse_instant(value: object) -> datetime | None:
    """Read an instant as an aware UTC datetime.

    Args:
        value: ISO-8601 text in any variant the CRMs send (``2024-03-31T23:30:00Z``,
            ``...00.123Z``, ``...00.000+0000``, ``...00+00:00``, ``...00-05:00``), a date-only
            ``2024-03-31`` (midnight UTC), epoch milliseconds as int or digit string, an aware
            ``datetime``, or ``None`` / ``""``.

    Returns:
        The UTC instant, or ``None`` when empty.

    Raises:
        ValueError: unreadable text, or a datetime without time zone (ambiguous).
    """
    if type(value) is str and len(value) > 10:  # the common case, fast: ISO text with an offset
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:
                return parsed
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = f"{value.isoformat()} has no time zone"
            raise ValueError(msg)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    text = value.strip() if isinstance(value, str) else str(value).strip()
    if not text:
        return None
    if text[0] != "-" and text.isdigit() and 11 <= len(text) <= 14:  # epoch milliseconds
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        # Python 3.11 reads every variant the CRMs send: Z, +0000, +00:00, fractions
        parsed = datetime.fromisoformat(text)
    except ValueError:
        msg = f"{value!r} is not an ISO-8601 date-time"
        raise ValueError(msg) from None
    if parsed.tzinfo is None:
        if len(text) == 10:  # a bare date
            return parsed.replace(tzinfo=UTC)
        msg = f"{value!r} has no time zone offset"
        raise ValueError(msg)
    return (
        parsed if parsed.utcoffset() == _ZERO and parsed.tzinfo is UTC else parsed.astimezone(UTC)
    )


def parse_date(value: object) -> date | None:
    """Read a calendar date (``YYYY-MM-DD``; a ``date``; ``None``/``""`` -> ``None``).

    Raises:
        ValueError: not a real date (e.g. ``2024-13-45``).
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        msg = f"{value!r} is a date-time, not a date"
        raise ValueError(msg)
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"{value!r} is not a date (YYYY-MM-DD)"
        raise ValueError(msg) from None


def parse_bool(value: object) -> bool | None:
    """Read a boolean from ``true/false``, ``1/0``, ``yes/no`` (any case), a bool, or empty -> None.

    Raises:
        ValueError: any other text.
    """
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in ("true", "1", "yes", "y", "t"):
        return True
    if text in ("false", "0", "no", "n", "f"):
        return False
    msg = f"{value!r} is not true or false"
    raise ValueError(msg)


def format_instant(value: datetime) -> str:
    """An aware datetime as ISO-8601 UTC text with microseconds, for watermarks: ``...+00:00``."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")
