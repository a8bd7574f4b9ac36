"""The firm's JSON API under /api/v1: bearer-key auth, problem+json errors, OpenAPI 3.1."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
