"""Opening a link: GET /l/<token> starts a session bound to the link and drops the token.

`link_required` guards every client page: it reloads the link the session is bound to, stops at
once if the link has been revoked or has expired, and sets `g.link`, `g.firm`, `g.brand` and
the page's locale (portal.i18n: the client's own choice, else their record, else the browser)
for the view and its templates. A dead link's page offers "email me a fresh link"
(POST /l/fresh), and /check tells anyone whether a link is genuine and still works.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import (
    Blueprint,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from portal import clock, i18n, statements
from portal.db import writes
from portal.errors import LinkExpired, LinkGone, LinkRevoked, SessionMissing
from portal.limits import limited
from portal.links import fresh, services
from portal.links.models import Link
from portal.payments import kept_baskets
from portal.security import csrf

#: Named "links" as before the move: templates and tests use `links.*` endpoints.
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
    try:
        link = services.open_link(token)
    except LinkGone as gone:
        # A genuine link that died: its page is the firm's, in its client's language.
        dress_for_link(gone.public_id)
        raise
    session[SESSION_KEY] = link.public_id
    # 303 so the browser fetches the target with GET and the token leaves the address bar;
    # no-referrer on this response keeps the token out of every request that follows.
    if kept_baskets.basket_for_fresh_link(link) is not None:
        # A fresh link asked for from an expired page: back to the basket it was paying.
        target = url_for("payments.basket")
    elif len(link.matters) == 1:
        target = url_for("billing.matter", matter_id=link.matters[0].id)
    else:
        target = url_for("billing.matters")
    response = redirect(target, code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _check_csrf_token() -> None:
    """Check the form's CSRF token against the session, without Flask-WTF's Referer check.

    The pages that post here are sent with no Referer at all (base.html asks for none, and the
    dead link's page sits at a URL holding its token), which the strict HTTPS check would
    refuse. The token, bound to this browser's session, is what stops a cross-site post.
    """
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None


@csrf.exempt
@bp.post("/l/fresh")
@limited("RATELIMIT_FRESH_LINK")
def fresh_link() -> ResponseReturnValue:
    """Email the dead link's client a fresh link if allowed; answer the same page regardless."""
    _check_csrf_token()
    ref = request.form.get("ref", "")[:500]
    # The email, if any, waits in the outbox: the answer is the same page either way, dressed
    # as the dead link's page was (the signed ref names the link; a bad one names none).
    fresh.request_fresh_link(ref)
    dress_for_link(fresh.public_id_in(ref))
    return render_template("links/fresh_link.html")


def dress_for_link(public_id: str | None) -> None:
    """Show the rest of this request as the page of `public_id`'s link, live or dead: its
    firm's name and colour (g.firm, g.brand) and its client's language (unless the client
    picked one with the switcher). Nothing changes for an unknown or missing link."""
    found = statements.link_and_audience(public_id) if public_id else None
    if found is None:
        return
    _link, audience = found
    g.firm = audience.firm
    g.brand = audience.brand
    i18n.use_locale(i18n.negotiate(audience.client_locale))


@bp.app_template_global()
def fresh_link_ref(error: Exception) -> str:
    """The signed form value naming the dead link behind `error`, for its page's button."""
    return fresh.form_ref(error.public_id if isinstance(error, LinkGone) else None)


@csrf.exempt
@bp.route("/check", methods=["GET", "POST"])
@limited("RATELIMIT_LINK_CHECK")
def check() -> ResponseReturnValue:
    """Say whether a pasted link (form) or ?link= is this portal's, whose, and if it works.

    Shows the firm's name and the link's state only; it opens nothing and records nothing.
    The pasted text is not shown back, so a live link does not linger on the page.
    """
    if request.method == "POST":
        _check_csrf_token()
    pasted = request.form.get("link") if request.method == "POST" else request.args.get("link")
    result = None
    if pasted is not None and pasted.strip():
        token = services.token_in(pasted)
        result = services.check_token(token) if token else services.LinkCheck("not_ours")
        dress_for_link(result.public_id)
    response = current_app.make_response(
        render_template("links/check.html", result=result, asked=pasted is not None)
    )
    # The answer is about one link at one moment: no cache may keep or share it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def link_required(view: Callable[P, R]) -> Callable[P, R]:
    """Run `view` only for a browser whose session is bound to a live link.

    No session (or one whose link no longer exists) is a 401 asking the client to open the
    link from their email; a revoked or expired link is a 410 and ends the session.
    """
    return _guarded(view, None)


def link_required_or_grace(
    grace: Callable[[Link], bool],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """As `link_required`, but an expired link still passes while `grace(link)` says so (the
    payment a client reviewed before it expired: portal.payments.kept_baskets). The session
    is kept and `g.in_grace` is set, for the page to say how long is left."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        return _guarded(view, grace)

    return decorate


def _guarded(view: Callable[P, R], grace: Callable[[Link], bool] | None) -> Callable[P, R]:
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
        g.in_grace = False
        try:
            services.check_live(link)
        except LinkExpired:
            if grace is None or not grace(link):
                kept = kept_baskets.unpaid_basket(link) is not None
                # Within the grace the session stays, so the review page still open in the
                # browser can confirm its basket (its form's CSRF token lives in the session).
                _gone(link, audience, kept=kept, end=not (kept and kept_baskets.in_grace(link)))
                raise
            g.in_grace = True
        except LinkRevoked:
            _gone(link, audience, kept=False, end=True)
            raise
        g.link = link
        g.firm = audience.firm
        g.brand = audience.brand
        i18n.use_locale(i18n.negotiate(audience.client_locale))
        return view(*args, **kwargs)

    return wrapped


def _gone(link: Link, audience: statements.Audience, *, kept: bool, end: bool) -> None:
    """End the session of a dead link (when `end`). The session proves the browser once held
    this link, so the error page may name the firm to ask for a new one, in its colour and its
    client's language, and say the basket is kept."""
    if end:
        _end_session()
    g.firm = audience.firm
    g.brand = audience.brand
    i18n.use_locale(i18n.negotiate(audience.client_locale))
    g.basket_kept = kept


@bp.app_template_global()
def link_minutes_left() -> int | None:
    """Whole minutes (rounded up) the page's link still works, once under an hour; in the grace
    after expiry, the minutes left to confirm the reviewed payment. None otherwise."""
    link = g.get("link")
    if link is None:
        return None
    ends = kept_baskets.grace_ends_at(link) if g.get("in_grace") else link.expires_at
    left = (ends - clock.now()).total_seconds()
    if not 0 < left < 3600:
        return None
    return max(1, math.ceil(left / 60))


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
