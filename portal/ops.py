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
    """The database answers and holds every migration this code needs.

    A database migrated further by newer code (a rolling upgrade, where migrations only add
    what the old code can ignore) still serves this code: ready, with a note.
    """
    try:
        db.session.execute(text("SELECT 1"))
        where = schema.state(db.engine)
    except Exception:
        return jsonify(status="unavailable", database="unreachable"), 503
    if where is schema.SchemaState.PENDING:
        return jsonify(status="unavailable", database=str(where)), 503
    if where is schema.SchemaState.NEWER:
        return jsonify(status="ready", database=str(where)), 200
    return jsonify(status="ready"), 200
