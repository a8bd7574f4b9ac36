"""Single-use tokens sent by email (invitations, password resets): random, stored as SHA-256,
valid 24 hours; issuing a new one of a purpose retires the user's older ones."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select, update

from portal import clock
from portal.db import db
from portal.staff.models import StaffToken, StaffUser, TokenPurpose
from portal.staff.sessions import digest

LIFETIME = dt.timedelta(hours=24)
#: Where the console answers each token (built here too: the CLI has no request to route in).
INVITATION_PATH = "/console/invitation"
RESET_PATH = "/console/reset"


def retire_tokens(user_id: int, purpose: TokenPurpose | None = None) -> None:
    """Stop the user's unused tokens (of `purpose`, or all) from working (not committed)."""
    query = update(StaffToken).where(StaffToken.user_id == user_id, StaffToken.used_at.is_(None))
    if purpose is not None:
        query = query.where(StaffToken.purpose == purpose)
    db.session.execute(
        query.values(used_at=clock.now()).execution_options(synchronize_session="fetch")
    )


def issue_token(user: StaffUser, purpose: TokenPurpose) -> str:
    """A new token for `user` (not committed); the user's older unused ones stop working."""
    now = clock.now()
    retire_tokens(user.id, purpose)
    value = secrets.token_urlsafe(32)
    db.session.add(
        StaffToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(value),
            created_at=now,
            expires_at=now + LIFETIME,
        )
    )
    return value


def live_token(value: str, purpose: TokenPurpose) -> StaffToken | None:
    """The unused, unexpired token of `purpose` behind `value`, if there is one."""
    if not value or len(value) > 100:
        return None
    row = db.session.scalar(
        select(StaffToken).where(
            StaffToken.token_hash == digest(value), StaffToken.purpose == purpose
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    return row
