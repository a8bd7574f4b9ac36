"""Jinja filters and globals: |money, |local_date, and the locale every page renders in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from babel.dates import format_date, format_datetime
from flask import Flask, g
from flask_babel import Babel, force_locale

from portal import money

SUPPORTED_LOCALES = ("en_US", "es_US")


@contextmanager
def locale_scope(locale: str | None) -> Iterator[None]:
    """Render in `locale` (an email to a client, say), then restore the page's own."""
    chosen = locale or "en_US"
    had, before = "locale" in g, g.get("locale")
    g.locale = chosen
    try:
        with force_locale(chosen):
            yield
    finally:
        if had:
            g.locale = before
        else:
            g.pop("locale", None)


def current_locale() -> str:
    """The locale of the page being rendered: the link's client, else the app default."""
    locale: str | None = g.get("locale")
    return locale or "en_US"


def _money(minor: int, currency: str) -> str:
    return money.format_money(minor, currency, current_locale())


def _local_date(value: dt.date | None, style: str = "medium") -> str:
    if value is None:
        return ""
    return format_date(value, format=style, locale=current_locale())


def _local_datetime(value: dt.datetime | None, style: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, format=style, locale=current_locale())


def _select_locale() -> str:
    return current_locale()


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=_select_locale)
    app.jinja_env.filters["money"] = _money
    app.jinja_env.filters["local_date"] = _local_date
    app.jinja_env.filters["local_datetime"] = _local_datetime
    app.jinja_env.globals["current_locale"] = current_locale
