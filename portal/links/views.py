"""Opening a link: GET /l/<token> starts a session bound to the link and drops the token."""

from flask import Blueprint

bp = Blueprint("links", __name__)
