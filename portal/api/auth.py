"""Bearer-key authentication for every API route not declared public.

The key is looked up by its hash (`portal.firms.services.authenticate`); the firm it belongs
to becomes `g.firm_id`, and every lookup the views make is scoped to it. The key's id is who
acts: views pass `actor()` down to the use cases that audit a change (features never read `g`).
"""

from __future__ import annotations

from flask import Response, current_app, g, request

from portal.audit.services import Actor
from portal.errors import Unauthorized, problem
from portal.firms import services as firms

#: RFC 6750: say which scheme is expected, and whether the key sent was refused.
CHALLENGE = 'Bearer realm="MatterPay API"'


def authenticate_request() -> None:
    """Set `g.firm_id` from the request's API key, or raise Unauthorized."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "is_public", False):
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Send an API key as `Authorization: Bearer <key>`.")
    try:
        api_key = firms.authenticate(secret.strip())
    except Unauthorized:
        raise Unauthorized("This API key is not valid or has been revoked.") from None
    g.firm_id = api_key.firm_id
    g.api_key_id = api_key.id
    firms.record_key_use(api_key)


def actor() -> Actor:
    """Who makes this request: the calling API key, for the audit log."""
    return Actor.api_key(g.api_key_id)


def unauthorized(exc: Unauthorized) -> Response:
    """401 as problem+json, with the WWW-Authenticate challenge RFC 9110 requires."""
    challenge = CHALLENGE
    if request.headers.get("Authorization"):
        challenge += ', error="invalid_token"'
    return problem(
        exc.status,
        exc.title,
        code=exc.code,
        detail=exc.detail,
        headers={"WWW-Authenticate": challenge},
    )
