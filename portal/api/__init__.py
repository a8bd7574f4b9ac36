"""The firm's JSON API under /api/v1: bearer-key auth, problem+json errors, OpenAPI 3.1.

Routes are declared in `views`, `firm`, `merchant_accounts`, `payments`, `dashboard`,
`webhooks`, `reconciliation`, `branding`, `payers` and `trust_requests` through the
registry in `registry`, which validates requests with the pydantic models in `schemas`;
`openapi` turns the same declarations into the document served at /api/v1/openapi.json.
"""

from flask import Blueprint

from portal import limits
from portal.errors import Unauthorized

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Imported after `bp` exists: these modules attach the routes and the auth hook to it.
from portal.api import (  # noqa: E402
    auth,
    branding,
    dashboard,
    firm,
    merchant_accounts,
    payers,
    payments,
    reconciliation,
    trust_requests,
    views,
    webhooks,
)

bp.before_request(auth.authenticate_request)
limits.limited("RATELIMIT_API", key=limits.api_key_identity)(bp)  # type: ignore[type-var]
bp.register_error_handler(Unauthorized, auth.unauthorized)
bp.register_error_handler(auth.InsufficientScope, auth.insufficient_scope)

__all__ = [
    "bp",
    "branding",
    "dashboard",
    "firm",
    "merchant_accounts",
    "payers",
    "payments",
    "reconciliation",
    "trust_requests",
    "views",
    "webhooks",
]
