"""What a person does to get into the console: accept an invitation (password, then an
authenticator, then recovery codes), sign in, re-enter the password, reset a forgotten one.

Every sign-in failure looks the same to the person ("email, password or code is wrong"): an
unknown address, a wrong password, a wrong or reused code, a locked or deactivated account.
Five failures lock the account for 15 minutes; a lock also ends its sessions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app, render_template
from sqlalchemy import delete, select

from portal import clock, config, urls
from portal.db import db
from portal.errors import PortalError, ValidationFailed, ValidationProblem
from portal.mail import compose, send_after_commit
from portal.staff import passwords, sessions, totp
from portal.staff.models import (
    RecoveryCode,
    SessionStage,
    StaffSession,
    StaffUser,
    TokenPurpose,
)
from portal.staff.sessions import Started
from portal.staff.tokens import RESET_PATH, issue_token, live_token, retire_tokens
from portal.templating import locale_scope

MAX_FAILURES = 5
LOCK = dt.timedelta(minutes=15)


class SignInFailed(PortalError):
    """One answer for every reason a sign-in (or a code) was refused."""

    status = 401
    code = "sign-in-failed"
    title = "Email, password or code is wrong"


class TokenGone(PortalError):
    """An invitation or reset link that is unknown, used, replaced or past its 24 hours."""

    status = 410
    code = "staff-token-gone"
    title = "This link has expired or was already used"


@dataclass(frozen=True)
class SignedIn:
    started: Started
    #: Signed in without an authenticator (allowed only where MFA is not required).
    without_mfa: bool


def mfa_required() -> bool:
    return config.console_requires_mfa(current_app.config)


def active_user(email: str) -> StaffUser | None:
    """The account that may sign in with `email`: accepted and not deactivated."""
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None or user.activated_at is None or user.deactivated_at is not None:
        return None
    return user


def _code_matches(user: StaffUser, code: str) -> bool:
    """Check an authenticator or recovery code, spending it (not committed)."""
    code = code.strip()
    if user.totp_secret is not None:
        step = totp.matching_step(totp.unseal(user.totp_secret), code, clock.now())
        if step is not None and (user.totp_last_step is None or step > user.totp_last_step):
            user.totp_last_step = step
            return True
    if totp.looks_like_recovery_code(code):
        row = db.session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == totp.recovery_digest(code),
                RecoveryCode.used_at.is_(None),
            )
        )
        if row is not None:
            row.used_at = clock.now()
            return True
    return False


def _fail(user: StaffUser | None) -> None:
    """Count a failure against `user` (locking at five), commit it, and refuse."""
    if user is not None:
        with db.transaction():
            user.failed_attempts += 1
            if user.failed_attempts >= MAX_FAILURES:
                user.locked_until = clock.now() + LOCK
                user.failed_attempts = 0
                sessions.end_all_sessions(user.id)
    raise SignInFailed()


def _is_locked(user: StaffUser) -> bool:
    return user.locked_until is not None and user.locked_until > clock.now()


def sign_in(email: str, password: str, code: str) -> SignedIn:
    """Check email, password and code; start a session with a new id, or raise SignInFailed.

    A user with no authenticator gets an `enrolling` session where MFA is required (they set
    one up before anything else), and a full one where it is not (the development demo).
    """
    user = active_user(email)
    password_ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None:
        raise SignInFailed()
    if _is_locked(user):
        raise SignInFailed()  # not counted: the lock's 15 minutes do not grow
    if not password_ok:
        _fail(user)
    if user.has_mfa and not _code_matches(user, code):
        _fail(user)
    with db.transaction():
        user.failed_attempts = 0
        user.locked_until = None
        user.last_sign_in_at = clock.now()
        if user.password_hash and passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        if user.has_mfa or not mfa_required():
            stage = SessionStage.SIGNED_IN
        else:
            stage = SessionStage.ENROLLING
            user.totp_pending = totp.seal(totp.new_secret())
        started = sessions.start_session(user, stage)
    return SignedIn(started, without_mfa=not user.has_mfa)


def confirm_password(row: StaffSession, password: str) -> None:
    """ "Re-enter your password": note it on the session, or count a failure and refuse."""
    user = row.user
    if _is_locked(user) or not passwords.verify_password(user.password_hash, password):
        _fail(user)
    with db.transaction():
        row.authenticated_at = clock.now()
        user.failed_attempts = 0


# -- invitations and the authenticator --------------------------------------------------------


def invitation_user(token: str) -> StaffUser:
    """The person a live invitation is for, or TokenGone."""
    found = live_token(token, TokenPurpose.INVITATION)
    if found is None or found.user.deactivated_at is not None:
        raise TokenGone()
    return found.user


def _new_password_problems(user: StaffUser, password: str, confirm: str) -> None:
    problems = passwords.password_problems(
        password,
        confirm=confirm,
        user_inputs=[user.email, user.email.split("@")[0], user.firm.name],
    )
    if problems:
        raise ValidationFailed(errors=problems)


def accept_invitation(token: str, password: str, confirm: str) -> Started:
    """Set the invited person's password and start the session that enrols an authenticator."""
    found = live_token(token, TokenPurpose.INVITATION)
    if found is None or found.user.deactivated_at is not None:
        raise TokenGone()
    user = found.user
    _new_password_problems(user, password, confirm)
    with db.transaction():
        now = clock.now()
        found.used_at = now
        user.password_hash = passwords.hash_password(password)
        user.activated_at = user.activated_at or now
        user.totp_pending = totp.seal(totp.new_secret())
        return sessions.start_session(user, SessionStage.ENROLLING)


@dataclass(frozen=True)
class Offer:
    secret: str
    qr_svg: str


def enrolment_offer(row: StaffSession) -> Offer:
    """The secret to enrol (made now if the session has none pending) and its QR code."""
    user = row.user
    secret = totp.unseal(user.totp_pending) if user.totp_pending else ""
    if not secret:
        secret = totp.new_secret()
        with db.transaction():
            user.totp_pending = totp.seal(secret)
    uri = totp.provisioning_uri(secret, user.email, user.firm.name)
    return Offer(secret=secret, qr_svg=totp.qr_svg(uri))


@dataclass(frozen=True)
class Enrolled:
    started: Started
    recovery_codes: list[str]


def complete_enrolment(row: StaffSession, code: str) -> Enrolled:
    """Confirm the pending secret with a code; keep it, issue recovery codes, renew the session."""
    user = row.user
    secret = totp.unseal(user.totp_pending) if user.totp_pending else ""
    step = totp.matching_step(secret, code, clock.now())
    if step is None:
        raise ValidationFailed(
            errors=[ValidationProblem("code-wrong", "code", "That code is not the one expected.")]
        )
    codes = totp.new_recovery_codes()
    with db.transaction():
        user.totp_secret = user.totp_pending
        user.totp_pending = None
        user.totp_last_step = step
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        db.session.add_all(
            RecoveryCode(user_id=user.id, code_hash=totp.recovery_digest(c)) for c in codes
        )
        started = sessions.renew(row, SessionStage.SIGNED_IN)
    return Enrolled(started, codes)


# -- forgotten passwords ----------------------------------------------------------------------


def request_password_reset(email: str) -> None:
    """Email a 24-hour reset link, in the user's language, if `email` is an active account;
    say nothing either way."""
    user = active_user(email)
    if user is None:
        return
    with db.transaction():
        value = issue_token(user, TokenPurpose.PASSWORD_RESET)
        url = urls.absolute(f"{RESET_PATH}/{value}")
        context = {"url": url, "firm_name": user.firm.name}
        with locale_scope(user.language):  # None: the portal's DEFAULT_LOCALE
            subject = render_template("email/staff_reset/subject.txt", **context).strip()
            text = render_template("email/staff_reset/body.txt", **context)
        send_after_commit(
            compose(to=user.email, subject=subject, text=text),
            kind="staff_password_reset",
            ref=str(user.id),
        )


def reset_user(token: str) -> StaffUser:
    """The person a live reset link is for, or TokenGone."""
    found = live_token(token, TokenPurpose.PASSWORD_RESET)
    if found is None or active_user(found.user.email) is None:
        raise TokenGone()
    return found.user


def reset_password(token: str, password: str, confirm: str, code: str) -> None:
    """Set a new password from a reset link (the authenticator code still asked), then sign
    the person out everywhere. A wrong code counts as a sign-in failure."""
    found = live_token(token, TokenPurpose.PASSWORD_RESET)
    if found is None or active_user(found.user.email) is None:
        raise TokenGone()
    user = found.user
    _new_password_problems(user, password, confirm)
    if _is_locked(user):
        raise SignInFailed()
    if user.has_mfa and not _code_matches(user, code):
        _fail(user)
    with db.transaction():
        found.used_at = clock.now()
        user.password_hash = passwords.hash_password(password)
        user.failed_attempts = 0
        sessions.end_all_sessions(user.id)
        retire_tokens(user.id)
