"""Liveness and readiness for load balancers: /healthz (process up), /readyz (database usable)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from portal import schema
from portal.db import db

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is up and answering."""
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """The database answers and its schema is at the newest migration."""
    try:
        db.session.execute(text("SELECT 1"))
        at_head = schema.is_at_head(db.engine)
    except Exception:
        return jsonify(status="unavailable", database="unreachable"), 503
    if not at_head:
        return jsonify(status="unavailable", database="migrations pending"), 503
    return jsonify(status="ready"), 200
