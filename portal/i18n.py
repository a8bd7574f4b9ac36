"""Languages: which locale a request renders in, and the client's switch between them.

A page is in, first, the language the client picked with the switcher (kept in the session);
else the language on the client's record (sent by the firm's back office); else the best match
for the browser's Accept-Language among `SUPPORTED_LOCALES`; else `DEFAULT_LOCALE`. The API
always speaks English: its callers are programs, not people.

Catalogs live in portal/translations/<language>/LC_MESSAGES/messages.po and are compiled to
.mo files by `make translations` (run by `make install`); see the README's "Languages".
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import flask_babel
from babel import Locale
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    has_app_context,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from portal import urls

#: Every locale a page can render in. Adding one: see the README's "Languages".
SUPPORTED_LOCALES = ("en_US", "es_US", "fr_CA")
#: The language of the source strings, and of the API.
SOURCE_LOCALE = "en_US"
#: Where the catalogs live (Flask-Babel reads BABEL_TRANSLATION_DIRECTORIES relative to the
#: package, which is this folder).
TRANSLATIONS = Path(__file__).parent / "translations"
#: The session key holding the locale the client picked with the switcher.
SESSION_KEY = "locale"
#: Where the locale chosen for this request (or email) is kept, once it is known.
LOCALE_ATTR = "portal_locale"
#: The per-request catalog cache of portal.templating, dropped when the locale changes.
TRANSLATIONS_CACHE = "_portal_translations"

bp = Blueprint("i18n", __name__)
log = logging.getLogger(__name__)


def closest_supported(value: str | None) -> str | None:
    """The supported locale closest to `value`: exact, else same language, else None.

    Back offices send "es-US" as often as "es_US"; a client in "es_MX" still reads Spanish.
    """
    if not value or not isinstance(value, str):
        return None
    wanted = value.strip().replace("-", "_")
    for locale in SUPPORTED_LOCALES:
        if locale.lower() == wanted.lower():
            return locale
    language = wanted.split("_", 1)[0].lower()
    return next((loc for loc in SUPPORTED_LOCALES if loc.split("_", 1)[0] == language), None)


def default_locale() -> str:
    """DEFAULT_LOCALE, or English outside an app (pure functions under test)."""
    if not has_app_context():
        return SOURCE_LOCALE
    return closest_supported(current_app.config.get("DEFAULT_LOCALE")) or SOURCE_LOCALE


def browser_locale() -> str | None:
    """The supported locale the browser's Accept-Language asks for first, by its q-values.

    Each language the browser lists, most wanted first, is matched exactly, else by language
    alone ("es-ES" or "es-MX" read Spanish: es_US); "*" and q=0 ask for nothing in particular.
    """
    if not has_request_context():
        return None
    for value, quality in request.accept_languages:  # Werkzeug sorts by quality, then order
        if quality <= 0 or value == "*":
            continue
        found = closest_supported(value)
        if found is not None:
            return found
    return None


def chosen_locale() -> str | None:
    """The locale the client picked with the switcher in this session, if any."""
    if not has_request_context():
        return None
    picked = session.get(SESSION_KEY)
    return picked if picked in SUPPORTED_LOCALES else None


def page_locale(client_locale: str | None) -> str:
    """The supported locale closest to a client's record: exact, else same language, else
    the default (`closest_supported`). What a client's emails and pages open in."""
    return closest_supported(client_locale) or default_locale()


def negotiate(client_locale: str | None = None) -> str:
    """The locale a page renders in: switcher choice, client record, browser, default."""
    if has_request_context() and request.path.startswith("/api/"):
        return SOURCE_LOCALE
    return (
        chosen_locale() or closest_supported(client_locale) or browser_locale() or default_locale()
    )


def scope() -> object:
    """What per-render state hangs on: the request, else (a CLI command, a worker) the app
    context's `g`. Not `g` during a request: an app context may outlive one request (the test
    client reuses the test's), and a locale must never leak into the next request."""
    if has_request_context():
        return request._get_current_object()  # type: ignore[attr-defined]
    return g._get_current_object()


def current_locale() -> str:
    """The locale of what is being rendered now (a page, or an email in `locale_scope`)."""
    if not has_app_context():
        return SOURCE_LOCALE
    chosen: str | None = getattr(scope(), LOCALE_ATTR, None)
    return chosen or negotiate()


def set_locale(locale: str | None) -> None:
    """Make `locale` this render's locale (None: negotiate again), dropping cached catalogs."""
    target = scope()
    if locale is None:
        target.__dict__.pop(LOCALE_ATTR, None)
    else:
        setattr(target, LOCALE_ATTR, locale)
    target.__dict__.pop(TRANSLATIONS_CACHE, None)


def use_locale(locale: str) -> None:
    """Render the rest of this request in `locale` (once the client's record is known)."""
    set_locale(locale)
    flask_babel.refresh()  # Flask-Babel caches the locale and catalog per request.


@lru_cache(maxsize=32)
def language_name(locale: str) -> str:
    """A language's own name for itself, from CLDR: "English", "Español"."""
    parsed = Locale.parse(locale)
    name = parsed.get_language_name(parsed) or locale
    return name[:1].upper() + name[1:]


def _safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the client's matters (no open redirect)."""
    return target if target and urls.is_local_path(target) else url_for("billing.matters")


def _return_path(explicit: str | None) -> str:
    """Where the switcher leads back to: the page itself when it was fetched with GET.

    A template may name the page instead (`language_next`): a page shown in answer to a POST
    (the review step, a form sent back with errors) cannot be fetched again, and an error page
    leads to the client's matters (which ask for the link when there is no session) rather
    than to the address that failed. A link's own address is never repeated: its token must
    not travel in another URL (R48).
    """
    if explicit:
        return explicit
    if request.method == "GET" and request.endpoint != "links.open_link":
        path = request.full_path
        return path[:-1] if path.endswith("?") else path
    return url_for("billing.matters")


def language_choices(next_path: str | None = None) -> list[dict[str, str | bool]]:
    """The switcher's entries: each language by its own name, a link to it, and which is on."""
    current = current_locale()
    back = _return_path(next_path)
    return [
        {
            "locale": locale,
            "tag": locale.replace("_", "-"),
            "name": language_name(locale),
            "url": url_for("i18n.switch", locale=locale, next=back),
            "current": locale == current,
        }
        for locale in SUPPORTED_LOCALES
    ]


@bp.get("/language/<locale>")
def switch(locale: str) -> ResponseReturnValue:
    """Remember the client's language for this session and go back to the page they were on.

    A plain link (GET) on purpose: it works without JavaScript or a form on every page, and
    changing the display language is not a sensitive action that needs a CSRF token.
    """
    if locale not in SUPPORTED_LOCALES:
        abort(404)
    session[SESSION_KEY] = locale
    response = redirect(_safe_next(request.args.get("next")), code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def missing_catalogs() -> list[str]:
    """Supported languages (other than the source) whose compiled catalog is missing: their
    pages would silently show English. `make translations` builds them."""
    languages = {locale.split("_", 1)[0] for locale in SUPPORTED_LOCALES}
    languages.discard(SOURCE_LOCALE.split("_", 1)[0])
    return sorted(
        language
        for language in languages
        if not (TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo").is_file()
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["language_choices"] = language_choices
    for language in missing_catalogs():
        log.error(
            "no compiled catalog for %r: its clients will read English; run `make translations`",
            language,
        )
