"""The one stand-in clock for tests: `portal.clock.now` is monkeypatched to an instance."""

from __future__ import annotations

import datetime as dt

import pytest

from portal import clock


class Clock:
    """Stands in for `portal.clock.now`; `advance` moves time forward and returns the new now."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> dt.datetime:
        self.at += dt.timedelta(**delta)
        return self.at


def frozen_at(monkeypatch: pytest.MonkeyPatch, at: dt.datetime) -> Clock:
    """Stand a Clock at `at` in for `portal.clock.now` for the rest of the test."""
    fake = Clock(at)
    monkeypatch.setattr(clock, "now", fake)
    return fake
