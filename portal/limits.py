"""Abuse limits (Flask-Limiter): link opening, payment attempts, fresh-link requests, the API.

One `limiter` for the app. Storage is in memory by default, which is right for one process;
several processes (gunicorn workers, hosts) must share Redis through RATELIMIT_STORAGE_URI.
A view takes a named limit with `@limited("RATELIMIT_LINK_OPEN")`: the rate comes from the
setting of that name when the request is made, so tests and firms can tune it without code.

Over a limit the answer is 429 with `Retry-After`: a friendly page for people and
problem+json for the API (both rendered by portal.errors).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from portal import clock, errors

F = TypeVar("F", bound=Callable[..., Any])

limiter = Limiter(key_func=get_remote_address, default_limits=[])


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "matterpay")
    # A broken Redis must not take payments down with it: limits then pass (Flask-Limiter
    # logs the storage error). Payment declines are also counted in the database.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    # Flask-Limiter would stamp its own Retry-After on every response, overwriting the one
    # the portal's own refusals set; it is added below, on this limiter's refusals only.
    app.config["RATELIMIT_HEADERS_ENABLED"] = False

    @app.errorhandler(RateLimitExceeded)
    def _refused(exc: RateLimitExceeded) -> Any:
        current = limiter.current_limit
        wait = 60
        if current is not None:
            wait = max(1, int(current.reset_at - clock.now().timestamp()))
        return errors.http_error_response(exc, {"Retry-After": str(wait)})

    # Flask-Limiter keeps the first app's prefix and error policy on the (process-wide)
    # limiter; a process serves one app, but tests build many, so each app states its own.
    limiter._key_prefix = app.config["RATELIMIT_KEY_PREFIX"]
    limiter._swallow_errors = bool(app.config["RATELIMIT_SWALLOW_ERRORS"])
    limiter.init_app(app)
    # Flask-Limiter's before-request check applies the limits that hold beyond one view (the
    # app's, the defaults, a blueprint's such as the API's); a view's own `@limited` rate is
    # checked by its decorator. Where none of the former can apply (the client's pages: the
    # portal sets no app-wide limit unless RATELIMIT_DEFAULT/APPLICATION/META/IN_MEMORY_FALLBACK
    # are configured) the check finds nothing to count, yet walks Flask-Limiter's exemption
    # tables on every request: it is skipped then.
    hooks = app.before_request_funcs.setdefault(None, [])
    if limiter._check_request_limit in hooks:
        hooks[hooks.index(limiter._check_request_limit)] = _check_route_independent_limits


def _has_route_independent_limits() -> bool:
    """Whether Flask-Limiter holds a limit its before-request check could apply here."""
    manager = limiter.limit_manager
    try:
        return bool(
            manager._application_limits
            or manager._default_limits
            or any(name in manager._blueprint_limits for name in request.blueprints)
            or manager._endpoint_hints
            or limiter._meta_limits
            or limiter._in_memory_fallback
        )
    except AttributeError:  # another Flask-Limiter version: always check, as it would
        return True


def _check_route_independent_limits() -> None:
    if _has_route_independent_limits():
        limiter._check_request_limit()


def limited(
    setting: str, *, key: Callable[[], str] | None = None, methods: list[str] | None = None
) -> Callable[[F], F]:
    """Apply the rate named by `setting` (e.g. "30 per minute; 200 per day") to a view.

    `key` picks who is counted (the client IP by default); `methods` limits only those methods.
    One setting is one counter: every view it decorates counts against the same budget (the
    pay button's review and confirm steps together, not a budget each).
    """

    def rate() -> str:
        return str(current_app.config[setting])

    # Flask-Limiter's decorator is typed as an overloaded callable; it returns the view it wraps.
    decorator = cast(
        Callable[[F], F],
        limiter.shared_limit(
            rate,
            scope=setting.lower(),
            key_func=key or get_remote_address,
            methods=methods,
        ),
    )
    return decorator


def api_key_identity() -> str:
    """Count API calls per key rather than per IP (firms often share an office address).

    Limits are checked before the key is authenticated, so the key is counted by a digest of
    the Authorization header: never the key itself, and a wrong key is counted like any other.
    """
    header = request.headers.get("Authorization", "")
    if not header:
        return f"ip:{get_remote_address()}"
    return "key:" + hashlib.sha256(header.encode()).hexdigest()[:32]
