"""Checks of setting values shared by the sources' settings (pydantic field validators).

Each raises ``ValueError`` with a one-line message; the config loader reports it with the
setting's path (``sources.hubspot.ca_bundle: file ... does not exist or is not a file``) among
the config's other problems.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationInfo


def existing_file(value: Path | None, info: ValidationInfo) -> Path | None:
    """A file setting resolved against the config file's folder; it must be an existing file.

    Raises:
        ValueError: the resolved path does not exist or is not a regular file.
    """
    if value is None:
        return None
    base = (info.context or {}).get("base_dir")
    full = value if value.is_absolute() or base is None else Path(base) / value
    if not full.is_file():
        msg = f"file {full} does not exist or is not a file"
        raise ValueError(msg)
    return full
