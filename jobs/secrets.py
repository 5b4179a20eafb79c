"""The config-time check of every CRM source's secrets, before any request: all problems at once.

The CRM folders read their own secrets when they connect (:mod:`connectors.secrets`); this
check runs first, when ``sync`` or ``run`` loads the config, so an unset variable or an
unreadable secrets file is reported with the config's other problems, one line each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from connectors.errors import ConfigError
from connectors.secrets import read_secrets_file, resolve_secret


def secret_problems(sources: Sequence[tuple[str, Mapping[str, str], Path | None]]) -> list[str]:
    """Every secret of the CRM sources that cannot be read, one line each (checked before any
    request).

    Args:
        sources: per source, its config path (``sources.hubspot``), setting name -> the
            environment variable it names (``token_env`` -> ``HUBSPOT_ACCESS_TOKEN``: the
            secrets it will read) and its ``secrets_file`` (or None).

    Returns:
        Per source: the problems of its secrets file (once for a file two sources share, naming
        both settings), then each variable set neither in the environment nor in the file;
        empty when all can be read. Never a secret's value.
    """
    users: dict[Path, list[str]] = {}
    for setting, _, file in sources:
        if file is not None:
            users.setdefault(Path(file).resolve(), []).append(f"{setting}.secrets_file")
    read: dict[Path, dict[str, str]] = {}
    problems = []
    for setting, env_settings, file in sources:
        extra: dict[str, str] = {}
        if file is not None:
            key = Path(file).resolve()
            if key not in read:
                read[key], file_problems = read_secrets_file(file)
                problems += [f"{' and '.join(users[key])}: {line}" for line in file_problems]
            extra = read[key]
        for name, env in env_settings.items():
            try:
                resolve_secret(env, f"{setting}.{name}", extra)
            except ConfigError as exc:
                problems += exc.problems
    return problems
