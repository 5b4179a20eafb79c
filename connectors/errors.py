"""Connector errors, grouped by what the caller does about them.

- :class:`RetriableAPIError`: try again (429, 5xx, timeouts, dropped connections).
- :class:`AuthError`: log in again (expired session) or fix the credentials.
- :class:`LimitReachedError`: stop cleanly, state kept (daily API allowance used up).
- :class:`FatalAPIError`: stop (4xx the CRM will not accept, malformed responses).
- :class:`RecordError`: one record's value cannot be read; names record, field and value.
- :class:`SnapshotError`: a full snapshot would flag implausibly many records deleted (a
  truncated export): check the input, or allow it.
- :class:`ConfigError`: fix the config; may carry several one-line problems.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Root of every connector error."""


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
    """Authentication failed or the session expired."""


class LimitReachedError(ConnectorError):
    """The CRM's API allowance is used up (or the configured share of it); stop, keep state."""


class FatalAPIError(ConnectorError):
    """The CRM refused a request in a way retrying cannot fix."""
