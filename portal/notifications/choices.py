"""Which events each staff user is emailed about: the kinds, the defaults, and saving a choice.

Defaults (no row for the user and kind): an admin is emailed about the exceptional events
(a failed, refunded, disputed or returned payment, a trust balance below zero, a disabled
webhook endpoint, an unmatched payment) and not about each payment that succeeds; a `staff`
user is emailed about nothing until they choose. A saved choice always wins over the default.
Each user also chooses the language of these emails (`staff.accounts.set_language`, saved
with the choices); until they do, the portal's DEFAULT_LOCALE.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from sqlalchemy import select

from portal import clock
from portal.audit.services import Actor, record_changes
from portal.db import db
from portal.notifications.models import NotificationChoice
from portal.staff.accounts import KEEP_LANGUAGE, set_language
from portal.staff.models import StaffRole, StaffUser

#: The audit log's entity for a user's choices (entity id: the user's id; field: the kind).
ENTITY = "staff_notifications"


class Kind(enum.StrEnum):
    """What a staff user may be emailed about, in the order the console lists them."""

    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_REFUNDED = "payment_refunded"
    PAYMENT_DISPUTED = "payment_disputed"
    PAYMENT_RETURNED = "payment_returned"
    TRUST_SHORTFALL = "trust_shortfall"
    ENDPOINT_DISABLED = "endpoint_disabled"
    UNMATCHED_PAYMENT = "unmatched_payment"


def default_for(role: StaffRole, kind: Kind) -> bool:
    """Whether a user of `role` who never chose is emailed about `kind`."""
    return role == StaffRole.ADMIN and kind is not Kind.PAYMENT_SUCCEEDED


def choices_of(user: StaffUser) -> dict[Kind, bool]:
    """The user's choice for every kind: what they saved, else their role's default."""
    saved = {
        row.kind: row.enabled
        for row in db.session.scalars(
            select(NotificationChoice).where(NotificationChoice.staff_user_id == user.id)
        )
    }
    return {kind: saved.get(kind.value, default_for(user.role, kind)) for kind in Kind}


def save_choices(
    user: StaffUser,
    wanted: Mapping[Kind, bool],
    actor: Actor,
    *,
    language: str | None = KEEP_LANGUAGE,
) -> list[str]:
    """Save the user's own choices and, unless KEEP_LANGUAGE, the language of their emails
    (None: the portal's default); audit each change and commit. Returns what changed: the
    kinds, and "language". ValidationFailed (nothing saved) for an unsupported language.

    Kinds left out of `wanted` keep what they were. Only the user's own rows are written.
    """
    before = choices_of(user)
    changed: list[str] = [kind for kind, on in wanted.items() if before[kind] is not bool(on)]
    if language != KEEP_LANGUAGE and set_language(user, language, actor):
        changed.append("language")
    if not changed:
        return []
    rows = {
        row.kind: row
        for row in db.session.scalars(
            select(NotificationChoice).where(NotificationChoice.staff_user_id == user.id)
        )
    }
    now = clock.now()
    kinds = [kind for kind in changed if isinstance(kind, Kind)]
    for kind in kinds:
        row = rows.get(kind.value)
        if row is None:
            row = NotificationChoice(staff_user_id=user.id, kind=kind.value)
            db.session.add(row)
        row.enabled = bool(wanted[kind])
        row.updated_at = now
    if kinds:
        record_changes(
            user.firm_id,
            actor,
            action="staff_notifications.updated",
            entity=ENTITY,
            entity_id=user.id,
            before={kind.value: before[kind] for kind in kinds},
            after={kind.value: bool(wanted[kind]) for kind in kinds},
        )
    db.session.commit()
    return changed


def wanted_by(firm_id: int, kind: Kind) -> list[StaffUser]:
    """The firm's active users (accepted, not deactivated) who want emails about `kind`."""
    users = db.session.scalars(
        select(StaffUser)
        .where(
            StaffUser.firm_id == firm_id,
            StaffUser.activated_at.is_not(None),
            StaffUser.deactivated_at.is_(None),
        )
        .order_by(StaffUser.id)
    ).all()
    if not users:
        return []
    rows = db.session.execute(
        select(NotificationChoice.staff_user_id, NotificationChoice.enabled).where(
            NotificationChoice.staff_user_id.in_([user.id for user in users]),
            NotificationChoice.kind == kind.value,
        )
    )
    saved = {user_id: enabled for user_id, enabled in rows}
    return [user for user in users if saved.get(user.id, default_for(user.role, kind))]
