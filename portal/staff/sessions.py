"""Console sessions kept on the server: the browser's cookie holds a random id, the table its
SHA-256. A session ends after 30 minutes without a request or 12 hours after sign-in, when the
person signs out (here or everywhere), or when an admin deactivates them or resets their MFA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from portal import clock
from portal.db import db
from portal.staff.models import SessionStage, StaffSession, StaffUser

IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
#: How long a typed password counts as "recent" for sensitive actions.
RECENT_AUTH = dt.timedelta(minutes=5)
#: `last_seen_at` is kept to this resolution, so a busy page does not write on every request.
SEEN_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Started:
    """A session just begun, and the id to put in the cookie (shown once, never stored)."""

    session: StaffSession
    cookie_value: str


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start_session(user: StaffUser, stage: SessionStage) -> Started:
    """Begin a session for `user` with a fresh random id (not committed)."""
    value = secrets.token_urlsafe(32)
    now = clock.now()
    row = StaffSession(
        user_id=user.id,
        token_hash=digest(value),
        stage=stage,
        created_at=now,
        last_seen_at=now,
        authenticated_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return Started(row, value)


def renew(old: StaffSession, stage: SessionStage) -> Started:
    """End `old` and start another for the same user: a new id whenever privilege changes."""
    old.ended_at = clock.now()
    return start_session(old.user, stage)


def is_live(row: StaffSession, now: dt.datetime) -> bool:
    user = row.user
    return (
        row.ended_at is None
        and now - row.last_seen_at < IDLE
        and now - row.created_at < ABSOLUTE
        and user.deactivated_at is None
    )


def resume(cookie_value: str | None) -> StaffSession | None:
    """The live session the cookie names, noting this request; None if there is none.

    A session past its idle or absolute limit is ended here, so it cannot come back.
    """
    if not cookie_value or len(cookie_value) > 100:
        return None
    row = db.session.scalar(
        select(StaffSession).where(StaffSession.token_hash == digest(cookie_value))
    )
    if row is None or row.ended_at is not None:
        return None
    now = clock.now()
    if not is_live(row, now):
        with db.transaction():
            row.ended_at = now
        return None
    if now - row.last_seen_at >= SEEN_RESOLUTION:
        with db.transaction():
            row.last_seen_at = now
    return row


def end_session(row: StaffSession) -> None:
    """Sign this browser out."""
    with db.transaction():
        row.ended_at = clock.now()


def end_all_sessions(user_id: int) -> None:
    """End every live session of a user (not committed): sign-out everywhere, deactivation."""
    db.session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
        .values(ended_at=clock.now())
        .execution_options(synchronize_session="fetch")
    )


def sign_out_everywhere(row: StaffSession) -> None:
    """End every session of this session's user, on every device, this one included."""
    with db.transaction():
        end_all_sessions(row.user_id)


def has_recent_auth(row: StaffSession) -> bool:
    """Whether the password was typed in this session within RECENT_AUTH (sensitive actions)."""
    return clock.now() - row.authenticated_at < RECENT_AUTH
