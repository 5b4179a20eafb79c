"""Secrets: read from the environment (or a secrets file the user points to), never from the
config itself, and masked wherever they could be shown.

A setting such as ``password_env: SF_PASSWORD`` names the environment variable holding the
secret. ``secrets_file`` (a YAML or ``KEY=value`` file outside the repo) may supply variables
that are not set in the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from connectors.errors import ConfigError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load_secrets_file(path: str | Path | None) -> dict[str, str]:
    """Read ``KEY=value`` lines (``#`` comments, blank lines allowed) from a secrets file.

    Raises:
        ConfigError: the file cannot be read, or a line is not ``KEY=value``.
    """
    if path is None:
        return {}
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"secrets file {file}: cannot be read ({exc.strerror})"
        raise ConfigError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"secrets file {file}: byte at offset {exc.start} is not UTF-8; save it as UTF-8"
        raise ConfigError(msg) from None
    values = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            msg = f"secrets file {file}:{number}: expected KEY=value"
            raise ConfigError(msg)
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def resolve_secret(env_name: str, setting: str, extra: Mapping[str, str] | None = None) -> str:
    """The value of secret ``env_name`` from the environment, else from ``extra`` (a secrets file).

    Args:
        env_name: the environment variable the config names.
        setting: the config path naming it (for the error), e.g.
            ``sources.salesforce.password_env``.
        extra: values read from the secrets file.

    Raises:
        ConfigError: the variable is not set (the message names the variable, never a value).
    """
    if not _ENV_NAME.match(env_name):  # a secret pasted where its variable's name belongs
        msg = (
            f"{setting}: {mask(env_name) or repr(env_name)} is not an environment variable "
            "name; put the secret in an environment variable and name that variable here"
        )
        raise ConfigError(msg)
    value = os.environ.get(env_name) or (extra or {}).get(env_name)
    if not value:
        msg = (
            f"{setting}: environment variable {env_name} is not set "
            "(export it or add it to the secrets file)"
        )
        raise ConfigError(msg)
    return value


def secret_problems(
    setting: str, env_settings: Mapping[str, str], secrets_file: str | Path | None
) -> list[str]:
    """Every secret of a source that cannot be read, one line each (checked before any request).

    Args:
        setting: the source's config path (``sources.hubspot``).
        env_settings: setting name -> the environment variable it names (``token_env`` ->
            ``HUBSPOT_ACCESS_TOKEN``): the secrets the source will read.
        secrets_file: the source's ``secrets_file``, or None.

    Returns:
        The secrets file that cannot be read or parsed, then each variable set neither in the
        environment nor in the file; empty when all can be read. Never a secret's value.
    """
    problems = []
    try:
        extra = load_secrets_file(secrets_file)
    except ConfigError as exc:
        problems += exc.problems
        extra = {}
    for name, env in env_settings.items():
        try:
            resolve_secret(env, f"{setting}.{name}", extra)
        except ConfigError as exc:
            problems += exc.problems
    return problems


def mask(value: str | None) -> str:
    """A secret for display: ``'****'`` plus at most its last 4 characters when it is long."""
    if not value:
        return ""
    return "****" + (value[-4:] if len(value) >= 16 else "")
