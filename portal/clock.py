"""The only code that reads the clock: aware UTC instants and calendar dates.

Times are stored in UTC and turned into a firm's local time only at the edges (pages, emails,
postings, reports), through `local`, `local_day`, `day_bounds` and `today_in` here.

Tests freeze or move time by monkeypatching `portal.clock.now`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone `name` ("America/New_York"); ValueError when there is none."""
    if not name or len(name) > 64 or name != name.strip() or name.startswith(("/", ".")):
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


def local(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """`moment` (aware; a naive one is taken as UTC) as wall-clock time in `zone`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def local_day(moment: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The calendar day `moment` falls on in `zone`."""
    return local(moment, zone).date()


def today_in(zone: dt.tzinfo) -> dt.date:
    """Today's date in `zone`."""
    return local_day(now(), zone)


def day_bounds(day: dt.date, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [start, end) of calendar `day` in `zone` (23 or 25 hours at DST)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(UTC)
    following = day + dt.timedelta(days=1)
    end = dt.datetime.combine(following, dt.time(0), tzinfo=zone).astimezone(UTC)
    return start, end
