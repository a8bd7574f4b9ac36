"""Bearer-key authentication and scopes for every API route not declared public.

The key is looked up by its hash (`portal.firms.services.authenticate`); the firm it belongs
to becomes `g.firm_id`, and every lookup the views make is scoped to it. The key's id is who
acts: views pass `actor()` down to the use cases that audit a change (features never read
`g`). Each route declares the scope it needs (`portal.api.registry`); a key issued without it
gets 403.
"""

from __future__ import annotations

import json

from flask import Response, current_app, g, request

from portal.audit.services import Actor
from portal.errors import PortalError, Unauthorized, problem
from portal.firms import services as firms
from portal.firms.scopes import key_allows

#: RFC 6750: say which scheme is expected, and whether the key sent was refused.
CHALLENGE = 'Bearer realm="MatterPay API"'


class InsufficientScope(PortalError):
    """The key is valid but was not issued with the scope this route needs."""

    status = 403
    code = "insufficient-scope"
    title = "This API key may not use this operation"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"This operation needs the scope `{scope}`, which this API key was not issued "
            "with. Ask an admin for a key with that scope."
        )
        self.scope = scope


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
    #: Who acts, for the audit log (`portal.audit.Actor.api_key`).
    g.api_key_id = api_key.id
    firms.record_key_use(api_key)
    scope = getattr(view, "scope", None)
    if scope is not None and not key_allows(api_key, scope):
        raise InsufficientScope(scope)


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


def insufficient_scope(exc: InsufficientScope) -> Response:
    """403 as problem+json naming the missing `scope`, with RFC 6750's challenge."""
    response = problem(exc.status, exc.title, code=exc.code, detail=exc.detail)
    body = response.get_json()
    body["scope"] = exc.scope
    response.set_data(json.dumps(body))
    response.headers["WWW-Authenticate"] = (
        f'{CHALLENGE}, error="insufficient_scope", scope="{exc.scope}"'
    )
    return response
