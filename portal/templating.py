"""Jinja filters and globals: |money, |local_date, |local_datetime, |zoned_datetime, |percent,
and the locale every page renders in.

`|local_datetime(zone)` shows a stored UTC instant as wall-clock time in `zone` (a tzinfo or an
IANA name) with the zone's abbreviation ("Dec 2, 2026, 11:30 PM EST"); without `zone` it uses
the render's `page_zone` (the firm's zone on the firm's pages and emails), else UTC. Which
locale a page renders in, and the language switcher, live in portal.i18n.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from types import CodeType
from typing import Literal

from babel.dates import format_date, format_datetime, format_time, get_datetime_format
from babel.numbers import format_percent
from babel.support import Translations
from flask import Flask, current_app, g, render_template, request
from flask_babel import Babel, force_locale, get_translations
from jinja2 import pass_context
from jinja2.runtime import Context, Macro
from markupsafe import Markup

from portal import clock, i18n, money, security
from portal.i18n import SUPPORTED_LOCALES, current_locale

__all__ = [
    "SUPPORTED_LOCALES",
    "current_locale",
    "day_text",
    "format_local_datetime",
    "init_app",
    "locale_scope",
    "render_page",
    "zoned_datetime",
]


def _translations() -> Translations:
    """This request's message catalog, looked up once (Flask-Babel resolves it on every call,
    about 30 us each, and a statement page asks for two dozen strings)."""
    holder = i18n.scope()
    cached: Translations | None = getattr(holder, i18n.TRANSLATIONS_CACHE, None)
    if cached is None:
        cached = get_translations()
        setattr(holder, i18n.TRANSLATIONS_CACHE, cached)
    return cached


@contextmanager
def locale_scope(locale: str | None) -> Iterator[None]:
    """Render in `locale` (an email to a client, say), then restore the page's own."""
    chosen = i18n.closest_supported(locale) or i18n.default_locale()
    before = getattr(i18n.scope(), i18n.LOCALE_ATTR, None)
    i18n.set_locale(chosen)
    try:
        with force_locale(chosen):
            yield
    finally:
        i18n.set_locale(before)


# A page shows the same few currencies, locales and dates over and over, and Babel redoes its
# locale lookups on every call (about 10 us an amount, 15 us a date: most of a statement
# page's time). The answers never change, so they are memoised; dates are a few thousand
# keys at most and amounts are bounded by the LRU.
_money_text = lru_cache(maxsize=16_384)(money.format_money)


@lru_cache(maxsize=4096)
def _date_text(value: dt.date, style: str, locale: str) -> str:
    return format_date(value, format=style, locale=locale)


def _locale_of(context: Context) -> str:
    # The locale is put into every template's context once per render (see init_app): a
    # statement page formats hundreds of values, and going through Flask's `g` proxy for each
    # one cost a fifth of the page's time.
    # Render variables live in the context's `parent` dict; reading it directly skips Jinja's
    # name resolution, which costs more than the lookup itself.
    locale = context.parent.get("page_locale")
    return locale if isinstance(locale, str) else current_locale()


@pass_context
def _money(context: Context, minor: int, currency: str) -> str:
    return _money_text(minor, currency, _locale_of(context))


@pass_context
def _local_date(context: Context, value: dt.date | None, style: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.date()  # Only the calendar date shows; keep the cache keyed by day.
    return _date_text(value, style, _locale_of(context))


DateStyle = Literal["full", "long", "medium", "short"]


def format_local_datetime(
    value: dt.datetime, zone: dt.tzinfo, locale: str, style: DateStyle = "medium"
) -> str:
    """`value` (a UTC instant) as the date and time in `zone`, with the zone's abbreviation:
    "Dec 2, 2026, 11:30 PM EST", "2 dic 2026, 11:30 p.m. EST" (the locale's own pattern and
    names; a zone without a common abbreviation reads as its offset, "-0300")."""
    moment = clock.local(value, zone)
    day = format_date(moment.date(), format=style, locale=locale)
    time = format_time(moment, format="short", tzinfo=zone, locale=locale)
    abbreviation = format_datetime(moment, format="z", tzinfo=zone, locale=locale)
    pattern = str(get_datetime_format(style, locale=locale))
    return pattern.replace("{1}", day).replace("{0}", f"{time} {abbreviation}").replace("'", "")


def _zone(value: dt.tzinfo | str | None) -> dt.tzinfo:
    if isinstance(value, str):
        return clock.zone_named(value)
    return value if value is not None else clock.UTC


@pass_context
def _local_datetime(
    context: Context,
    value: dt.datetime | None,
    zone: dt.tzinfo | str | None = None,
    style: DateStyle = "medium",
) -> str:
    if value is None:
        return ""
    chosen = _zone(zone if zone is not None else context.parent.get("page_zone"))
    return format_local_datetime(value, chosen, _locale_of(context), style)


def day_text(value: dt.date, locale: str, style: str = "medium") -> str:
    """A calendar date for `locale` ("Dec 1, 2026"), as |local_date writes it."""
    return _date_text(value, style, locale)


def zoned_datetime(value: dt.datetime, zone: dt.tzinfo, locale: str) -> str:
    """`value` as the wall-clock time in `zone`, with the zone's abbreviation where the locale
    has one ("Dec 1, 2026, 10:39 PM EST"; "1 dic 2026, 10:39 p.m. EST"), else its offset: the
    receipts' name for `format_local_datetime` in the medium style."""
    return format_local_datetime(value, zone, locale)


@pass_context
def _zoned_datetime(context: Context, value: dt.datetime | None, zone: dt.tzinfo) -> str:
    if value is None:
        return ""
    return zoned_datetime(value, zone, _locale_of(context))


@pass_context
def _percent(context: Context, value: Decimal | int | str) -> str:
    """A fraction as a percentage for the page's locale: Decimal("0.029") -> "2.9%" in en_US,
    "2.9 %" in es_US; every significant decimal is kept. Floats are refused (exact figures)."""
    if isinstance(value, float):
        raise TypeError("|percent takes a Decimal, int or str, never a float")
    return format_percent(Decimal(value), locale=_locale_of(context), decimal_quantization=False)


# -- |cached: markup rendered once per value and locale ------------------------------------
# A matter page lists up to a hundred rows; through Jinja each costs a few dozen output
# pieces, attribute lookups, escapes, filter calls and translations. The row macros of
# templates/billing/_rows.html read nothing but their argument (frozen, hashable rows, or a
# tuple of them) and the locale, so their markup is kept by exactly those and by the macro's
# compiled code (a changed template compiles anew and misses). `{{ rows|cached(macro) }}`.
# Bounded by the characters kept: emptied when full, so a worker's memory stays capped.
CACHE_CHARS = 4_000_000
_cached_markup: dict[tuple[CodeType, Hashable, str], Markup] = {}
_cached_size = [0]


@pass_context
def _cached(context: Context, value: Hashable, macro: Macro) -> Markup:
    """`macro(value)`, reused for an equal value in the same locale (see the note above)."""
    key = (macro._func.__code__, value, _locale_of(context))
    cached = _cached_markup.get(key)
    if cached is not None:
        return cached
    html = macro(value)
    if not isinstance(html, Markup):  # Only an autoescaping environment's macro is safe.
        raise TypeError("|cached takes a macro of an autoescaped template")
    if _cached_size[0] + len(html) > CACHE_CHARS:
        _cached_markup.clear()
        _cached_size[0] = 0
    _cached_markup[key] = html
    _cached_size[0] += len(html)
    return html


# -- render_page: a whole page rendered once per what it shows ------------------------------
# A client reloads their matter page far more often than its figures change. Such a page is
# kept by everything its markup depends on: the template, the view's own value (a frozen
# statement), the locale, what base.html shows of the firm (name, logo, contact details, zone),
# brand and link, and the address
# the language switcher leads back to. A page that asked for a script nonce or Stripe is
# never kept (its policy differs per response). Bounded like |cached above.
PAGE_CACHE_CHARS = 8_000_000
_pages: dict[Hashable, str] = {}
_pages_size = [0]


def _page_key(template_name: str, key: Hashable) -> Hashable:
    firm = g.get("firm")
    return (
        current_app.jinja_env.get_or_select_template(template_name),
        key,
        current_locale(),
        None
        if firm is None
        else (
            firm.slug,
            firm.name,
            firm.logo_digest,
            # The footer's contact details and the zone of the page's times.
            firm.time_zone,
            firm.contact_email,
            firm.contact_phone,
            firm.postal_address,
            firm.website,
        ),
        g.get("brand"),
        bool(g.get("link")),
        request.script_root,
        request.method,
        request.endpoint,
        request.full_path,
    )


def render_page(template_name: str, key: Hashable, **context: object) -> str:
    """`render_template(template_name, **context)`, reused while nothing it shows has changed.

    `key` must be a hashable value holding everything `context` shows (a frozen statement, say);
    the template and base.html may read nothing else but the locale, g.firm, g.brand, g.link
    and the request's path (see the note above). A render with side effects (a CSRF token put
    in the session, a nonce) must use render_template instead.
    """
    page_key = _page_key(template_name, key)
    cached = _pages.get(page_key)
    if cached is not None:
        return cached
    html = render_template(template_name, **context)
    if request.environ.get(security._NONCE) or request.environ.get(security._STRIPE):
        return html  # This response's policy names its own nonce: never reuse its markup.
    if _pages_size[0] + len(html) > PAGE_CACHE_CHARS:
        _pages.clear()
        _pages_size[0] = 0
    _pages[page_key] = html
    _pages_size[0] += len(html)
    return html


def _select_locale() -> str:
    return current_locale()


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=_select_locale)
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.filters["money"] = _money
    app.jinja_env.filters["local_date"] = _local_date
    app.jinja_env.filters["local_datetime"] = _local_datetime
    app.jinja_env.filters["zoned_datetime"] = _zoned_datetime
    app.jinja_env.filters["percent"] = _percent
    app.jinja_env.filters["cached"] = _cached
    app.jinja_env.globals["current_locale"] = current_locale
    app.context_processor(lambda: {"page_locale": current_locale()})
