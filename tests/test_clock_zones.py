"""Days and times in a firm's zone: 23:30 in New York is still that day there."""

from __future__ import annotations

import datetime as dt

import pytest

from portal import clock

NEW_YORK = clock.zone_named("America/New_York")


def test_an_evening_in_new_york_is_that_day_there_and_the_next_in_utc() -> None:
    moment = dt.datetime(2026, 12, 3, 4, 30, tzinfo=dt.UTC)  # 23:30 on Dec 2 in New York
    assert clock.local_day(moment, NEW_YORK) == dt.date(2026, 12, 2)
    assert clock.local(moment, NEW_YORK).strftime("%H:%M %Z") == "23:30 EST"


def test_a_day_is_bounded_in_its_zone_even_across_a_clock_change() -> None:
    start, end = clock.day_bounds(dt.date(2026, 11, 1), NEW_YORK)  # DST ends that day
    assert start == dt.datetime(2026, 11, 1, 4, 0, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(hours=25)


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../etc/passwd", " UTC", "/etc/localtime"])
def test_an_unknown_zone_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        clock.zone_named(name)
