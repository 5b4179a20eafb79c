"""Parsing CRM values into canonical Python values, shared by every connector.

- Amounts become exact ``Decimal`` (never through float): Salesforce sends JSON numbers
  (parse JSON with ``parse_float=Decimal``), HubSpot sends strings, exports send text such as
  ``"1,800.00"``. Empty means unknown (``None``), never 0 (case C-04).
- Instants become aware UTC datetimes whatever the ISO-8601 variant (``Z``, ``+0000``,
  ``+00:00``, local offsets, with or without fractions) or epoch milliseconds (case C-03).
- Dates become ``datetime.date``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_ZERO = timedelta(0)
# amounts are stored as DECIMAL(38, 6)
AMOUNT_DIGITS, AMOUNT_SCALE = 38, 6
AMOUNT_INTEGER_DIGITS = AMOUNT_DIGITS - AMOUNT_SCALE


def parse_amount(value: object) -> Decimal | None:
    """Read an amount exactly.

    Args:
        value: a ``Decimal``, ``int``, ``str`` (``"1,800.00"``, ``" 250 "``, ``"1.5E4"``, ``""``),
            or ``None``. A ``float`` is accepted only through its shortest repr.

    Returns:
        The amount as ``Decimal`` (in whatever currency it was given), or ``None`` when empty.

    Raises:
        ValueError: the value is not a number (e.g. ``"n/a"``), not finite, or does not fit the
            store's DECIMAL(38, 6) (more than 6 decimal places, more than 32 integer digits).
    """
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
