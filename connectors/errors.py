"""Connector errors, grouped by what the caller does about them.

- :class:`RetriableAPIError`: try again (429, 5xx, timeouts, dropped connections).
- :class:`AuthError`: log in again (expired session) or fix the credentials.
- :class:`LimitReachedError`: stop cleanly, state kept (daily API allowance used up).
- :class:`FatalAPIError`: stop (4xx the CRM will not accept, malformed responses).
- :class:`RecordError`: one record's value cannot be read; names record, field and value.
- :class:`SnapshotError`: a full snapshot would flag implausibly many records deleted (a
  truncated export): check the input, or allow it.
- :class:`ConfigError`: fix the config; may carry several one-line problems.

Each class carries the exit code of a command it stops (``exit_code``: 1, :data:`EXIT_LIMIT`
for an API limit, :data:`EXIT_AUTH` for refused credentials); the table is in ``cli.py`` and
the README.
"""

from __future__ import annotations

from typing import ClassVar

#: Exit code of a command stopped by a CRM's API allowance (what was committed stays).
EXIT_LIMIT = 4
#: Exit code of a command stopped because the CRM refused the credentials (a revoked grant, a
#: changed password, an expired token that cannot be renewed); what was committed stays.
EXIT_AUTH = 6


class ConnectorError(Exception):
    """Root of every connector error.

    Attributes:
        exit_code: the exit code of a command this error stops.
        status: the HTTP status of the answer that raised it (None when there was none).
        error_code: the CRM's error code (``REQUEST_LIMIT_EXCEEDED``, a HubSpot category).
        api_message: the CRM's own message, as sent.
    """

    exit_code: ClassVar[int] = 1
    status: int | None = None
    error_code: str | None = None
    api_message: str | None = None


class ConfigError(ConnectorError):
    """The config is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class RecordError(ConnectorError):
    """A record's value is unreadable: the message names the record, field and value."""

    def __init__(self, message: str, *, record: str | None = None, field: str | None = None,
                 value: object = None) -> None:
        super().__init__(message)
        self.record = record
        self.field = field
        self.value = value


class SnapshotError(ConnectorError):
    """A full snapshot would flag more than the allowed share of a table's live rows deleted.

    Attributes:
        table: the canonical table (``deals``).
        gone: live rows the snapshot lacks.
        live: live rows stored before it.
    """

    def __init__(self, message: str, *, table: str, gone: int, live: int) -> None:
        super().__init__(message)
        self.table, self.gone, self.live = table, gone, live


class RetriableAPIError(ConnectorError):
    """A transient failure; the same request may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """Authentication failed or the session expired (again right after a new login)."""

    exit_code: ClassVar[int] = EXIT_AUTH


class LimitReachedError(ConnectorError):
    """The CRM's API allowance is used up (or the configured share of it); stop, keep state."""

    exit_code: ClassVar[int] = EXIT_LIMIT


class FatalAPIError(ConnectorError):
    """The CRM refused a request in a way retrying cannot fix."""
