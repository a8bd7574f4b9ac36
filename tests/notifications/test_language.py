"""Each staff notification goes in its recipient's language (the one they chose on the
console's Notifications page), else in the portal's default: one event, two languages."""

from __future__ import annotations

import email
import email.policy

from flask_babel import force_locale, gettext
from sqlalchemy import select

from portal.db import db
from portal.mail.models import OutgoingEmail
from portal.notifications.sending import EMAIL_KIND
from tests.notifications.conftest import Staff
from tests.payments.conftest import DECLINED, Book, pay


def _bodies() -> dict[str, tuple[str, str]]:
    """Recipient -> (subject, plain text) of every staff notification queued."""
    found = {}
    for row in db.session.scalars(select(OutgoingEmail).where(OutgoingEmail.kind == EMAIL_KIND)):
        message = email.message_from_bytes(row.message, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        assert text is not None
        found[row.recipients] = (str(message["Subject"]), text.get_content())
    return found


def test_one_event_reaches_each_user_in_their_own_language(book: Book, staff: Staff) -> None:
    staff.admin.user.language = "es_US"
    staff.keen.user.language = "fr_CA"
    staff.stranger.user.language = "es_US"  # another firm's: emailed nothing at all
    db.session.flush()
    payment = pay(book, invoices={book.new.id: 80_000}, instrument=DECLINED)

    sent = _bodies()
    assert set(sent) == {"ada@okafor.example", "sam@okafor.example"}
    for to, locale in (("ada@okafor.example", "es_US"), ("sam@okafor.example", "fr_CA")):
        with force_locale(locale):
            what, where = gettext("A payment failed"), gettext("See it in the console:")
        assert what != "A payment failed"  # the catalog has it
        subject, text = sent[to]
        assert subject == f"{what} ({payment.number})"
        assert where in text


def test_a_user_who_never_chose_reads_the_portals_default(book: Book, staff: Staff) -> None:
    staff.keen.user.language = "es_US"
    db.session.flush()
    payment = pay(book, invoices={book.new.id: 80_000}, instrument=DECLINED)
    sent = _bodies()
    assert sent["ada@okafor.example"][0] == f"A payment failed ({payment.number})"
    assert sent["sam@okafor.example"][0].startswith("Un pago")
