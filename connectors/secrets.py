"""Secrets: read from the environment (or a secrets file the user points to), never from the
config itself, and masked wherever they could be shown.

A setting such as ``password_env: SF_PASSWORD`` names the environment variable holding the
secret. ``secrets_file`` (``KEY=value`` or ``export KEY=value`` lines, in a file outside the
repo) may supply variables that are not set in the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from connectors.errors import ConfigError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # what a variable name can be
#: What a variable name usually looks like; only such a name is shown in messages: a security
#: token (letters and digits) pasted into a ``*_env`` setting would pass ``_ENV_NAME``.
_SHOWN_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_EXPORT = re.compile(r"^export\s+")


def read_secrets_file(path: str | Path) -> tuple[dict[str, str], list[str]]:
    """Read a secrets file: ``KEY=value`` or ``export KEY=value`` lines (shell style), ``#``
    comments and blank lines; a value may be wrapped in quotes.

    Returns:
        The values by key, and every problem (one line each, never a line's text: it may hold
        a secret): the file cannot be read, or each line that is not ``KEY=value``.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        return {}, [f"secrets file {file}: cannot be read ({exc.strerror})"]
    except UnicodeDecodeError as exc:
        return {}, [f"secrets file {file}: byte at offset {exc.start} is not UTF-8; "
                    "save it as UTF-8"]
    values, problems = {}, []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = _EXPORT.sub("", line).partition("=")
        if not sep or not _ENV_NAME.match(key.strip()):
            problems.append(f"secrets file {file}:{number}: expected KEY=value or export "
                            "KEY=value (the line is not shown)")
            continue
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values, problems


def load_secrets_file(
    path: str | Path | None, setting: str = "secrets_file"
) -> dict[str, str]:
    """The values of a secrets file (see :func:`read_secrets_file`); ``{}`` without one.

    Args:
        path: the file, or None.
        setting: the config path naming it (``sources.hubspot.secrets_file``), for errors.

    Raises:
        ConfigError: the file cannot be read, or lines are not ``KEY=value`` (each named).
    """
    if path is None:
        return {}
    values, problems = read_secrets_file(path)
    if problems:
        raise ConfigError([f"{setting}: {line}" for line in problems])
    return values


def env_name_problem(value: str) -> str | None:
    """Why a ``*_env`` setting's value cannot be a variable name (shown masked), or None."""
    if _ENV_NAME.match(value):
        return None
    return (f"{mask(value)!r} is not an environment variable name; this setting names the "
            "variable holding the secret: put the secret in an environment variable and name "
            "that variable here")


def resolve_secret(env_name: str, setting: str, extra: Mapping[str, str] | None = None) -> str:
    """The value of secret ``env_name`` from the environment, else from ``extra`` (a secrets file).

    Args:
        env_name: the environment variable the config names.
        setting: the config path naming it (for the error), e.g.
            ``sources.salesforce.password_env``.
        extra: values read from the secrets file.

    Raises:
        ConfigError: the name cannot be a variable's, or the variable is not set or empty. The
            message shows the name only when it looks like one (``UPPER_CASE``), never a value.
    """
    problem = env_name_problem(env_name)
    if problem:  # a secret pasted where its variable's name belongs
        msg = f"{setting}: {problem}"
        raise ConfigError(msg)
    value = os.environ.get(env_name) or (extra or {}).get(env_name)
    if value:
        return value
    empty = env_name in os.environ or env_name in (extra or {})
    if _SHOWN_NAME.match(env_name):
        named = f"environment variable {env_name}"
        fix = ("give it the secret's value" if empty
               else "export it or add it to the secrets file")
        msg = f"{setting}: {named} is {'empty' if empty else 'not set'} ({fix})"
    else:
        msg = (f"{setting}: the environment variable it names is "
               f"{'empty' if empty else 'not set'}; the name is not shown because it does not "
               "look like a variable name (UPPER_CASE letters, digits, _): if it is a pasted "
               "secret, put the secret in the environment and name the variable here")
    raise ConfigError(msg)


def mask(value: str | None) -> str:
    """A secret for display: ``'****'`` plus at most its last 4 characters when it is long."""
    if not value:
        return ""
    return "****" + (value[-4:] if len(value) >= 16 else "")
