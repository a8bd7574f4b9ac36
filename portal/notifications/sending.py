"""Queue the staff emails about one event: once per event key, to each user who chose it.

A feature calls `notify` in the transaction that records what happened (nothing is sent if it
rolls back; see portal.mail). The feature describes the event with a `Notice` built from its
own rows: what happened, the amount, the client and matter, the payment number, and which
console page shows it. No card data and nothing secret is ever put in one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal import clock, urls
from portal.db import db
from portal.firms import identity
from portal.firms.services import firm_by_id
from portal.mail import send_after_commit
from portal.notifications.choices import Kind, wanted_by
from portal.notifications.models import NotifiedEvent

#: The outbox's kind for these emails (portal.mail), and its `ref` is the event key.
EMAIL_KIND = "staff_notification"
#: Where a user changes what they are emailed about (portal.console.notifications).
CHOICES_PATH = "/console/notifications"
#: The console's pages an email points to (the console is a face above: named, not imported).
PAYMENT_PATH = "/console/payments/{public_id}"
UNMATCHED_PATH = "/console/unmatched"
POSTINGS_PATH = "/console/postings"


@dataclass(frozen=True)
class Notice:
    """One event staff may be told about, as the feature that saw it describes it."""

    firm_id: int
    kind: Kind
    #: What makes this event this one and no other, within its kind (a payment's public id, a
    #: charge's and the processor event's id...): the same key never emails twice.
    key: str
    #: The console page about it (a path starting with "/console/").
    console_path: str
    amount_minor: int | None = None
    currency: str | None = None
    payment_number: str | None = None
    client: str | None = None
    matter: str | None = None
    #: Free text for the kinds that need it: the endpoint's URL and why it was disabled.
    detail: str | None = None
    #: How the event ended, for a kind that has more than one ending: "won" for a dispute the
    #: firm won (kind PAYMENT_DISPUTED, so it reaches whoever chose disputes); None otherwise.
    outcome: str | None = None

    @property
    def event_key(self) -> str:
        return f"{self.kind.value}:{self.key}"[:200]


def notify(notice: Notice) -> int:
    """Queue one email per active user of the firm who chose `notice.kind` (not committed),
    each in that user's language (`StaffUser.language`, else the portal's default).

    Returns how many were queued: 0 for an event already notified (the same key) or one
    nobody chose. The key is kept only when someone was emailed, so a firm whose staff want
    no success emails gains no row per payment.
    """
    key = notice.event_key
    seen = select(NotifiedEvent.id).where(
        NotifiedEvent.firm_id == notice.firm_id, NotifiedEvent.event_key == key
    )
    if db.session.scalar(seen) is not None:
        return 0
    users = wanted_by(notice.firm_id, notice.kind)
    if not users:
        return 0
    try:
        # Two deliveries of one event at once: the second waits on the first's row, then
        # fails its insert here and sends nothing (a savepoint, so its caller goes on).
        with db.session.begin_nested():
            db.session.add(
                NotifiedEvent(
                    firm_id=notice.firm_id,
                    event_key=key,
                    recipients=len(users),
                    created_at=clock.now(),
                )
            )
            db.session.flush()
    except IntegrityError:
        return 0
    firm = firm_by_id(notice.firm_id)
    for user in users:
        message = identity.compose_email(
            firm,
            EMAIL_KIND,
            to=user.email,
            locale=user.language,  # None: the portal's DEFAULT_LOCALE
            notice=notice,
            kind=notice.kind.value,
            url=urls.absolute(notice.console_path),
            choices_url=urls.absolute(CHOICES_PATH),
        )
        send_after_commit(message, kind=EMAIL_KIND, ref=key[:100])
    return len(users)


def purge_notified() -> int:
    """Delete the keys of events notified more than NOTIFIED_EVENTS_RETENTION_DAYS ago (at
    least 30: processors re-deliver within days, never months). Commits; returns how many.

    The delivery worker (`deliver-webhooks`) runs it hourly, with its other purges.
    """
    days = max(int(current_app.config["NOTIFIED_EVENTS_RETENTION_DAYS"]), 30)
    cutoff = clock.now() - dt.timedelta(days=days)
    result = db.session.execute(
        delete(NotifiedEvent)
        .where(NotifiedEvent.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
