"""The console's blueprint, its session cookie, and the guards on its pages.

The console keeps its own cookie (`matterpay_console`, path /console, HttpOnly, SameSite=Lax)
naming a server-side session (portal.staff.sessions): it never reads or writes the client's
link session, and the client's pages never read it, so neither opens the other's pages.
CSRF tokens still come from Flask-WTF, as on the client's pages.

Signed out (or expired) → 302 to the sign-in page; a `staff` user on an admin page → 403;
another firm's records → 404 (the services look everything up within `g.staff.firm_id`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, redirect, request, url_for
from werkzeug.wrappers import Response

from portal import urls
from portal.db import writes
from portal.staff import sessions
from portal.staff.models import SessionStage, StaffSession
from portal.staff.sessions import Started

bp = Blueprint("console", __name__, url_prefix="/console")

COOKIE = "matterpay_console"
COOKIE_PATH = "/console"

#: The attribute the guards leave on a view: "staff" (any signed-in role) or "admin". Tests
#: walk `app.url_map` and read it to know which pages answer a `staff` user 403.
GUARD = "console_guard"

P = ParamSpec("P")
R = TypeVar("R")


def set_session_cookie(response: Response, started: Started) -> Response:
    """Point the browser at a newly started session (a new id at every privilege change)."""
    response.set_cookie(
        COOKIE,
        started.cookie_value,
        path=COOKIE_PATH,
        httponly=True,
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        samesite="Lax",
        # A session cookie (no Max-Age): the server ends it after 30 idle minutes or 12 hours.
    )
    return response


def clear_session_cookie(response: Response) -> Response:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        samesite="Lax",
    )
    return response


#: Where the request keeps what it found. In the request's environ rather than `g`: an app
#: context (and so `g`) may outlive one request, as it does in tests.
_FOUND = "portal.console.session"


@bp.before_request
def _forget_the_last_request() -> None:
    g.pop("staff", None)
    g.pop("console_session", None)


def current_session(stage: SessionStage = SessionStage.SIGNED_IN) -> StaffSession | None:
    """This browser's live console session at `stage`, looked up once per request."""
    if _FOUND not in request.environ:
        request.environ[_FOUND] = sessions.resume(request.cookies.get(COOKIE))
    row: StaffSession | None = request.environ[_FOUND]
    return row if row is not None and row.stage == stage else None


def safe_next(target: str | None) -> str:
    """`target` if it is a console path on this site, else the dashboard (no open redirect)."""
    if target and urls.is_local_path(target) and target.startswith(COOKIE_PATH + "/"):
        return target
    return url_for("console.dashboard")


def _to_sign_in() -> Response:
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    response = redirect(url_for("console.sign_in", next=target), code=302)
    if request.cookies.get(COOKIE):
        clear_session_cookie(response)
    return response


def staff_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Run `view` for a signed-in staff user (any role); set g.staff, g.console_session."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        row = current_session()
        if row is None:
            if current_session(SessionStage.ENROLLING) is not None:
                # Half-way through setting up an authenticator: that comes first.
                return redirect(url_for("console.enrol"), code=302)
            return _to_sign_in()
        g.console_session = row
        g.staff = row.user
        return view(*args, **kwargs)

    if getattr(wrapped, GUARD, None) is None:  # admin_required's mark, copied by wraps
        setattr(wrapped, GUARD, "staff")
    # It may note the request on the session row: SQLite should lock for writing up front.
    return writes(wrapped)


def admin_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Run `view` for a signed-in admin; a `staff` user gets 403."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        if not g.staff.is_admin:
            abort(403)
        return view(*args, **kwargs)

    setattr(wrapped, GUARD, "admin")
    return staff_required(wrapped)


def recent_auth_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Ask for the password again unless it was typed in the last five minutes.

    For sensitive actions (creating an API key, changing a role, a large refund). Put it under
    `staff_required` or `admin_required`. A GET comes back to its own address afterwards; a
    POST goes back to the page it was sent from, whose form is then sent again.
    """

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if sessions.has_recent_auth(g.console_session):
            return view(*args, **kwargs)
        if request.method == "GET":
            back = request.full_path.rstrip("?")
        else:
            referrer = urlsplit(request.referrer or "")
            back = referrer.path if referrer.netloc == request.host else ""
        return redirect(url_for("console.confirm_password", next=safe_next(back)), code=303)

    return wrapped
