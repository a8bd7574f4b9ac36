"""Opening a link: GET /l/<token> starts a session bound to the link and drops the token.

`link_required` guards every client page: it reloads the link the session is bound to, stops at
once if the link has been revoked or has expired, and sets `g.link`, `g.firm`, `g.brand` and
the page's locale (portal.i18n: the client's own choice, else their record, else the browser)
for the view and its templates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Blueprint, g, redirect, session, url_for
from flask.typing import ResponseReturnValue

from portal import i18n
from portal.billing import statements
from portal.db import writes
from portal.errors import LinkExpired, LinkRevoked, SessionMissing
from portal.limits import limited
from portal.links import services

bp = Blueprint("links", __name__)

#: The session key holding the public id of the link the browser opened.
SESSION_KEY = "link"

P = ParamSpec("P")
R = TypeVar("R")


@bp.get("/l/<token>")
@limited("RATELIMIT_LINK_OPEN")
@writes  # it records the opening
def open_link(token: str) -> ResponseReturnValue:
    """Check the token, bind a fresh session to its link, and move on to a URL without it."""
    # Opening a link always replaces the session, even when the link turns out to be dead:
    # on a shared computer the previous person's session must not outlive a new attempt.
    _end_session(keep_language=False)
    link = services.open_link(token)
    session[SESSION_KEY] = link.public_id
    # 303 so the browser fetches the target with GET and the token leaves the address bar;
    # no-referrer on this response keeps the token out of every request that follows.
    if len(link.matters) == 1:
        target = url_for("billing.matter", matter_id=link.matters[0].id)
    else:
        target = url_for("billing.matters")
    response = redirect(target, code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def link_required(view: Callable[P, R]) -> Callable[P, R]:
    """Run `view` only for a browser whose session is bound to a live link.

    No session (or one whose link no longer exists) is a 401 asking the client to open the
    link from their email; a revoked or expired link is a 410 and ends the session.
    """

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        public_id = session.get(SESSION_KEY)
        if not isinstance(public_id, str):
            _end_session()
            raise SessionMissing()
        found = statements.link_and_audience(public_id)
        if found is None:
            _end_session()
            raise SessionMissing()
        link, audience = found
        try:
            services.check_live(link)
        except (LinkExpired, LinkRevoked):
            _end_session()
            # The session proves the browser once held this link, so the error page may name
            # the firm to ask for a new one.
            g.firm = audience.firm
            raise
        g.link = link
        g.firm = audience.firm
        g.brand = audience.brand
        i18n.use_locale(i18n.negotiate(audience.client_locale))
        return view(*args, **kwargs)

    return wrapped


def _end_session(*, keep_language: bool = True) -> None:
    """Forget the link. The language the client picked stays for the error page that follows,
    but not when a new link is opened: that link's client record decides again."""
    # Clearing an empty session would still send a cookie-deleting header; skip that noise.
    if not session or (keep_language and set(session) == {i18n.SESSION_KEY}):
        return
    language = session.get(i18n.SESSION_KEY)
    session.clear()
    if keep_language and language is not None:
        session[i18n.SESSION_KEY] = language


def page_locale(client_locale: str | None) -> str:
    """The supported locale closest to the client's record: exact, else same language, else
    the default (portal.i18n.closest_supported)."""
    return i18n.closest_supported(client_locale) or i18n.default_locale()
