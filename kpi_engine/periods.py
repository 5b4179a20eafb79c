"""Which period a command shows: the one "latest complete period" rule.

Every command that picks a period by default -- ``report``, the terminal leaderboard, ``push``,
``status`` and ``export`` -- asks :func:`choose_period` (or filters on :func:`complete_sql`), so
they always agree:

- **latest complete** (the default): the latest period of the grain that ended on or before
  *today* and was computed to its end (its ``kpi_values.as_of`` is its ``period_end``: the
  pipeline was measured at the period's end, not cut by ``--as-of`` or by the day of the
  compute);
- **current**: the period holding today, the period in progress. Shown only when asked for
  (``--period current``, ``writeback.<crm>.period: current``) and then labelled "to date".

*Today* is the date in the reporting time zone (``reporting_timezone``, else the sources' own:
:mod:`kpi_engine.calendar`), the zone every calendar date is bucketed in (docs/kpis.md,
"Time"). ``compute`` measures as at the start of today by default (:func:`default_as_of`), so
the period in progress is stored cut at today (``as_of`` < ``period_end``) and a closed deal
dated in the future counts as open until that day: it never creates or moves a period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from kpi_engine.errors import EngineError
from kpi_engine.store import Store

#: The named choices of a period (besides a date inside it).
LATEST, CURRENT = "latest", "current"

#: SQL condition on a ``kpi_values`` row (columns ``period_end``, ``as_of``; one ``?`` for
#: today): the row's period is complete.
COMPLETE_SQL = "(as_of = period_end AND period_end <= ?)"


class PeriodError(EngineError):
    """A period that is not in the store, or a day that cannot be used."""


def now() -> datetime:
    """The current instant (UTC). The one clock of the period rule (tests replace it)."""
    return datetime.now(UTC)


def reporting_today(timezone: str = "UTC") -> date:
    """Today's date in the reporting time zone (an IANA name; default UTC)."""
    return now().astimezone(ZoneInfo(timezone)).date()


def default_as_of(as_of: date | None, today: date) -> date:
    """The cut a compute uses: ``as_of`` when given, else the start of ``today``.

    Raises:
        PeriodError: ``as_of`` is after today (a day that has not begun).
    """
    if as_of is None:
        return today
    if as_of > today:
        msg = (f"--as-of {as_of} is after today ({today}, reporting time zone): KPIs are "
               "computed as at the start of a day that has begun")
        raise PeriodError(msg)
    return as_of


@dataclass(frozen=True)
class Period:
    """One computed period of a grain.

    Attributes:
        grain: ``month``, ``quarter`` or ``year``.
        start: its first day.
        end: the day after its last (exclusive, like ``kpi_values.period_end``).
        as_of: the day its pipeline was measured at (midnight UTC; ``kpi_values.as_of``).
        complete: ended on or before today and computed to its end.
    """

    grain: str
    start: date
    end: date
    as_of: date
    complete: bool

    @property
    def last_day(self) -> date:
        """The period's last day."""
        return self.end - timedelta(days=1)

    @property
    def label(self) -> str:
        """``quarter 2026-07-01 to 2026-09-30``, or ``quarter 2026-10-01 to date (as at
        2026-12-03)`` for a period that is not complete."""
        if self.complete:
            return f"{self.grain} {self.start} to {self.last_day}"
        return f"{self.grain} {self.start} to date (as at {self.as_of})"


def short_label(grain: str, start: date) -> str:
    """A period as people write it: ``2017-Q4`` (quarter), ``2017-10`` (month), ``2017``."""
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if grain == "month":
        return f"{start.year}-{start.month:02d}"
    return str(start.year)


def _day(value: str | date) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        msg = f"period {value!r} is not {LATEST}, {CURRENT} or a date YYYY-MM-DD"
        raise PeriodError(msg) from None


def choose_period(
    store: Store, grain: str, which: str | date = LATEST, *, today: date
) -> Period | None:
    """The period a command shows.

    Args:
        store: the store with ``kpi_values``.
        grain: ``month``, ``quarter`` or ``year``.
        which: ``latest`` (the latest complete period), ``current`` (the period holding
            ``today``, to date) or a date (the period holding it).
        today: the date in the reporting time zone (:func:`reporting_today`).

    Returns:
        The :class:`Period`, or None when ``kpi_values`` holds no such period of ``grain``.

    Raises:
        PeriodError: ``which`` is text that is not a choice or a date.
    """
    if which == LATEST:
        where, params = COMPLETE_SQL, [today]
    else:
        day = today if which == CURRENT else _day(which)
        where, params = "period_start <= ? AND ? < period_end", [day, day]
    row = store.con.execute(
        "SELECT period_start, any_value(period_end), max(as_of) FROM kpi_values "
        f"WHERE grain = ? AND {where} GROUP BY period_start ORDER BY period_start DESC LIMIT 1",
        [grain, *params],
    ).fetchone()
    if row is None:
        return None
    start, end, as_of = row
    return Period(grain, start, end, as_of, as_of == end and end <= today)
