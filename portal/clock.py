"""The only code that reads the clock: aware UTC instants and calendar dates.

Tests freeze or move time by monkeypatching `portal.clock.now`.
"""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC


def now() -> dt.datetime:
    """Return the current instant, aware, in UTC."""
    return dt.datetime.now(UTC)


def start_of_day(day: dt.date) -> dt.datetime:
    """The instant `day` begins, in UTC: the lower bound of a filter by calendar day."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=UTC)


def today() -> dt.date:
    """Return today's date in UTC (firms' local dates come later with firm time zones)."""
    return now().date()
