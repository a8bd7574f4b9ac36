"""Notification fixtures: the firm's staff (an admin on the defaults, a staff user who chose
every kind, a deactivated admin, an admin still invited) and another firm's admin who chose
everything; the payments book and the postings receiver, by name."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from portal import clock
from portal.audit.services import Actor
from portal.db import db
from portal.mail.models import OutgoingEmail
from portal.notifications.choices import Kind, save_choices
from portal.notifications.sending import EMAIL_KIND
from portal.staff.models import StaffRole, StaffUser
from tests import factories
from tests.console.conftest import Person, make_person
from tests.payments.conftest import book  # noqa: F401 (a fixture, used by name)
from tests.postings.conftest import receiver, webhook_settings  # noqa: F401 (fixtures)

EVERYTHING = dict.fromkeys(Kind, True)


@dataclass
class Staff:
    admin: Person  # never chose: the admin's defaults
    keen: Person  # a `staff` user who chose every kind
    gone: Person  # an admin, deactivated
    invited: StaffUser  # an admin who never accepted the invitation
    stranger: Person  # another firm's admin who chose every kind


@pytest.fixture
def staff(session, firm: factories.FirmWithKey, other_firm: factories.FirmWithKey) -> Staff:
    admin = make_person(firm, "ada@okafor.example")
    keen = make_person(firm, "sam@okafor.example", role="staff")
    gone = make_person(firm, "old@okafor.example")
    gone.user.deactivated_at = clock.now()
    invited = StaffUser(firm_id=firm.id, email="new@okafor.example", role=StaffRole.ADMIN)
    db.session.add(invited)
    stranger = make_person(other_firm, "eve@brandt.example")
    db.session.flush()
    save_choices(keen.user, EVERYTHING, Actor.staff(keen.user.id))
    save_choices(stranger.user, EVERYTHING, Actor.staff(stranger.user.id))
    return Staff(admin, keen, gone, invited, stranger)


def notified() -> list[tuple[str, str]]:
    """(recipient, subject) of every staff notification in the outbox, oldest first."""
    rows = db.session.scalars(
        select(OutgoingEmail).where(OutgoingEmail.kind == EMAIL_KIND).order_by(OutgoingEmail.id)
    )
    return [(row.recipients, _subject(row.message)) for row in rows]


def _subject(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return str(message["Subject"])
