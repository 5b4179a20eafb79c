"""Checks of setting values shared by the sources' settings (pydantic field validators).

Each raises ``ValueError`` with a one-line message; the config loader reports it with the
setting's path (``sources.hubspot.ca_bundle: file ... does not exist or is not a file``) among
the config's other problems.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import ValidationInfo

# the engine's time zone check, shared with the sources' settings (``sources.csv.timezone``)
from kpi_engine.settings import check_timezone

__all__ = ["check_timezone", "existing_file", "positive_rates"]


def existing_file(value: Path | None, info: ValidationInfo) -> Path | None:
    """A file setting resolved against the config file's folder; it must be an existing file,
    unless the config is read for a command that reads only the store (context ``offline``:
    ``compute``, ``export``, ``report``, ``status``, ``health``), where a CA bundle or CSV file
    gone since the last sync does not matter.

    Raises:
        ValueError: the resolved path does not exist or is not a regular file.
    """
    if value is None:
        return None
    context = info.context or {}
    base = context.get("base_dir")
    full = value if value.is_absolute() or base is None else Path(base) / value
    if not full.is_file() and not context.get("offline"):
        msg = f"file {full} does not exist or is not a file"
        raise ValueError(msg)
    return full


def positive_rates(value: dict[str, Decimal]) -> dict[str, Decimal]:
    """``currency_rates`` (ISO code -> units of that currency per one reporting-currency unit):
    every rate must be a finite number > 0 (a rate of 0 or below would turn amounts into
    nonsense or a division by zero).

    Raises:
        ValueError: names each bad rate with its value.
    """
    bad = [f"{code} {rate}" for code, rate in value.items()
           if not rate.is_finite() or rate <= 0]
    if bad:
        msg = f"every rate must be a number > 0: {', '.join(bad)}"
        raise ValueError(msg)
    return value
