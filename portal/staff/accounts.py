"""What an admin (or the CLI, for a firm's first admin) does to staff accounts: invite, change
role, deactivate, reactivate, reset the authenticator. Each is one unit of work with its audit
events. A user's own email language (`set_language`) joins the caller's unit of work instead
(the console's Notifications page saves it with the user's choices).

A firm always keeps one active admin: the last one can be neither demoted nor deactivated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from flask import render_template
from sqlalchemy import delete, func, select

from portal import clock, i18n, urls
from portal.audit.services import Actor, record, record_changes
from portal.db import db
from portal.errors import NotFound, ValidationFailed, ValidationProblem
from portal.firms.models import Firm
from portal.mail import compose, send_after_commit
from portal.staff import sessions
from portal.staff.models import RecoveryCode, StaffRole, StaffUser, TokenPurpose
from portal.staff.tokens import INVITATION_PATH, issue_token, retire_tokens
from portal.templating import locale_scope

ENTITY = "staff_user"
#: `invite`'s (and `notifications.choices.save_choices`') language when the user's language is
#: left as it is (a new user's is then None: the portal's default).
KEEP_LANGUAGE = "keep"


@dataclass(frozen=True)
class Invited:
    user: StaffUser
    #: The single-use acceptance address (valid 24 hours).
    invitation_url: str


def users_of(firm_id: int) -> Sequence[StaffUser]:
    """The firm's staff users, by email."""
    return db.session.scalars(
        select(StaffUser).where(StaffUser.firm_id == firm_id).order_by(StaffUser.email)
    ).all()


def user_in_firm(firm_id: int, user_id: int) -> StaffUser:
    """One of the firm's users; anyone else's (or nobody) is NotFound."""
    user = db.session.scalar(
        select(StaffUser).where(StaffUser.id == user_id, StaffUser.firm_id == firm_id)
    )
    if user is None:
        raise NotFound("staff user")
    return user


def _normal_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationFailed(
            errors=[ValidationProblem("email-invalid", "email", "Enter a valid email address.")]
        ) from None


def _role(role: str) -> StaffRole:
    try:
        return StaffRole(role)
    except ValueError:
        raise ValidationFailed(
            errors=[ValidationProblem("role-invalid", "role", "Choose admin or staff.")]
        ) from None


def _language(language: str | None) -> str | None:
    """`language` if the portal has it (None: the portal's default), else ValidationFailed."""
    if language is not None and language not in i18n.SUPPORTED_LOCALES:
        raise ValidationFailed(
            "This language is not supported.",
            errors=[ValidationProblem("language", "language", "Choose a language from the list.")],
        )
    return language


def invite(
    firm: Firm,
    email: str,
    role: str,
    actor: Actor,
    *,
    send_email: bool,
    language: str | None = KEEP_LANGUAGE,
) -> Invited:
    """Create (or re-invite) a staff user and issue their 24-hour invitation.

    Someone invited before who has not accepted gets a new invitation (the old one stops
    working); an address that already has an account anywhere is refused. `language` is the
    language of the console's emails to them (one of `i18n.SUPPORTED_LOCALES`, or None: the
    portal's default), the invitation's first; left as KEEP_LANGUAGE, a re-invited person keeps
    theirs. `send_email` emails the invitation (the console); the CLI prints it instead.
    """
    address = _normal_email(email)
    chosen = _role(role)
    keep = language == KEEP_LANGUAGE
    wanted = None if keep else _language(language)
    with db.transaction():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == address))
        if user is not None and (user.firm_id != firm.id or user.activated_at is not None):
            raise ValidationFailed(
                errors=[
                    ValidationProblem(
                        "email-taken", "email", "This address already has a console account."
                    )
                ]
            )
        if user is None:
            user = StaffUser(
                firm_id=firm.id,
                email=address,
                role=chosen,
                language=wanted,
                created_at=clock.now(),
            )
            db.session.add(user)
            db.session.flush()
        else:
            user.role = chosen
            user.deactivated_at = None
            if not keep:
                user.language = wanted
        value = issue_token(user, TokenPurpose.INVITATION)
        url = urls.absolute(f"{INVITATION_PATH}/{value}")
        record(
            firm.id,
            actor,
            action="staff_user.invited",
            entity=ENTITY,
            entity_id=user.id,
            after={"email": address, "role": chosen.value, "language": user.language},
        )
        if send_email:
            context = {"url": url, "firm_name": firm.name, "role": chosen.value}
            with locale_scope(user.language):
                subject = render_template("email/staff_invitation/subject.txt", **context).strip()
                text = render_template("email/staff_invitation/body.txt", **context)
            send_after_commit(
                compose(to=address, subject=subject, text=text),
                kind="staff_invitation",
                ref=str(user.id),
            )
    return Invited(user=user, invitation_url=url)


def _other_active_admins(user: StaffUser) -> int:
    return (
        db.session.scalar(
            select(func.count(StaffUser.id)).where(
                StaffUser.firm_id == user.firm_id,
                StaffUser.role == StaffRole.ADMIN,
                StaffUser.deactivated_at.is_(None),
                StaffUser.activated_at.is_not(None),
                StaffUser.id != user.id,
            )
        )
        or 0
    )


def _keep_an_admin(user: StaffUser) -> None:
    if user.is_admin and user.deactivated_at is None and _other_active_admins(user) == 0:
        raise ValidationFailed(
            errors=[
                ValidationProblem(
                    "last-admin", "user", "The firm's last admin cannot be demoted or deactivated."
                )
            ]
        )


def set_language(user: StaffUser, language: str | None, actor: Actor) -> bool:
    """Set the language of the emails `user` gets (None: the portal's default), audited; the
    caller commits. True when it changed; ValidationFailed for a language the portal lacks."""
    language = _language(language)
    if user.language == language:
        return False
    record_changes(
        user.firm_id,
        actor,
        action="staff_user.language_changed",
        entity=ENTITY,
        entity_id=user.id,
        before={"language": user.language},
        after={"language": language},
    )
    user.language = language
    return True


def change_role(firm_id: int, user_id: int, role: str, actor: Actor) -> StaffUser:
    """Make a user admin or staff."""
    chosen = _role(role)
    with db.transaction():
        user = user_in_firm(firm_id, user_id)
        if user.role == chosen:
            return user
        if chosen is StaffRole.STAFF:
            _keep_an_admin(user)
        before = user.role.value
        user.role = chosen
        record_changes(
            firm_id,
            actor,
            action="staff_user.role_changed",
            entity=ENTITY,
            entity_id=user.id,
            before={"role": before},
            after={"role": chosen.value},
        )
    return user


def deactivate(firm_id: int, user_id: int, actor: Actor) -> StaffUser:
    """Stop a user signing in: their sessions end and their emailed links stop working."""
    with db.transaction():
        user = user_in_firm(firm_id, user_id)
        if user.deactivated_at is not None:
            return user
        _keep_an_admin(user)
        now = clock.now()
        user.deactivated_at = now
        sessions.end_all_sessions(user.id)
        retire_tokens(user.id)
        record(
            firm_id,
            actor,
            action="staff_user.deactivated",
            entity=ENTITY,
            entity_id=user.id,
            field="deactivated",
            before=False,
            after=True,
        )
    return user


def reactivate(firm_id: int, user_id: int, actor: Actor) -> StaffUser:
    """Let a deactivated user sign in again, with the password and authenticator they had
    (their sessions and emailed links ended at deactivation and stay ended). Someone who never
    accepted their invitation is invited again instead: they have no password to come back to.
    """
    with db.transaction():
        user = user_in_firm(firm_id, user_id)
        if user.deactivated_at is None:
            return user
        if user.activated_at is None:
            raise ValidationFailed(
                errors=[
                    ValidationProblem(
                        "never-activated",
                        "user",
                        "They never accepted their invitation: invite them again instead.",
                    )
                ]
            )
        user.deactivated_at = None
        user.failed_attempts = 0
        user.locked_until = None
        record(
            firm_id,
            actor,
            action="staff_user.reactivated",
            entity=ENTITY,
            entity_id=user.id,
            field="deactivated",
            before=True,
            after=False,
        )
    return user


def reset_mfa(firm_id: int, user_id: int, actor: Actor) -> StaffUser:
    """Forget a user's authenticator and recovery codes (a lost phone); they sign in again and
    enrol a new one. Their sessions end."""
    with db.transaction():
        user = user_in_firm(firm_id, user_id)
        had = user.has_mfa
        user.totp_secret = None
        user.totp_pending = None
        user.totp_last_step = None
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        sessions.end_all_sessions(user.id)
        record(
            firm_id,
            actor,
            action="staff_user.mfa_reset",
            entity=ENTITY,
            entity_id=user.id,
            field="mfa",
            before=had,
            after=False,
        )
    return user
