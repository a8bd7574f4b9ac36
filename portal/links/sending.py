"""Emailing a link to a client, and recording what became of the email.

The email is written while the link is: a `LinkDelivery` row in state "queued" and the email
in the outbox (`portal.mail`), in the caller's transaction, so nothing is sent for a link that
was rolled back and nothing is lost while the mail server is down. The outbox's worker hands
it to SMTP (retrying what can be retried) and, once the email is sent or has failed for good,
`apply_outcome` records it on the delivery in the worker's own transaction: "sent", or
"failed" with the server's words and a `link.delivery_failed` posting to the firm.
"""

from __future__ import annotations

import logging
import secrets
import string
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select

from portal import clock, i18n, mail
from portal.billing import services as billing
from portal.db import db
from portal.errors import ValidationFailed
from portal.firms import identity
from portal.firms.services import firm_by_id, firm_zone
from portal.links import postings
from portal.links import services as links
from portal.links.models import DeliveryOrigin, DeliveryState, Link, LinkDelivery
from portal.mail import delivery as mail_delivery
from portal.mail.models import EmailStatus
from portal.templating import format_local_datetime

log = logging.getLogger(__name__)
#: The outbox's name for link emails (its outcome handler is registered below).
MAIL_KIND = "link"

#: The longest mail-server answer kept on a failed delivery.
MAX_ERROR_LENGTH = 500
_ALPHABET = string.ascii_letters + string.digits


def recipient_for(link_client_email: str | None, override: str | None) -> str:
    """Where a link email goes: the firm's override, else the client's address on file."""
    to = override or link_client_email
    if not to:
        raise ValidationFailed(
            errors=[
                {
                    "pointer": "/send/email",
                    "detail": "the client has no email address on file; give one in send.email",
                }
            ]
        )
    return to


def queue_link_email(
    link: Link,
    *,
    to: str,
    message: str | None,
    origin: DeliveryOrigin,
    replaces: Link | None = None,
) -> LinkDelivery:
    """Record an email carrying `link` and put it in the outbox, in the caller's transaction
    (no commit): it goes out once that commits."""
    delivery = LinkDelivery(
        public_id="dl_" + "".join(secrets.choice(_ALPHABET) for _ in range(24)),
        firm_id=link.firm_id,
        link_id=link.id,
        replaces_link_id=replaces.id if replaces is not None else None,
        origin=origin,
        recipient=to,
        message=message,
        state=DeliveryState.QUEUED,
        created_at=clock.now(),
    )
    db.session.add(delivery)
    db.session.flush()
    mail.queue(compose_link_email(link, delivery), kind=MAIL_KIND, ref=delivery.public_id)
    return delivery


def compose_link_email(link: Link, delivery: LinkDelivery) -> EmailMessage:
    """The firm's email (text and HTML) in the client's language: the link, what is owed on its
    matters and by when, and when the link stops working, in the firm's time zone."""
    firm = firm_by_id(link.firm_id)
    zone = firm_zone(firm)
    locale = i18n.page_locale(link.client.locale)
    owed = billing.open_balances(link.firm_id, links.visible_matter_ids(link))
    return identity.compose_email(
        firm,
        "link",
        to=delivery.recipient,
        locale=locale,
        client_name=link.client.name,
        fresh=delivery.origin is DeliveryOrigin.FRESH_LINK,
        message=delivery.message or firm.email_message,
        signature=firm.email_signature,
        url=links.url_for_link(link),
        check_url=f"{current_app.config['BASE_URL']}/check",
        expires=format_local_datetime(link.expires_at, zone, locale, "long"),
        owed=owed,
        today=clock.today_in(zone),
    )


def apply_outcome(delivery: LinkDelivery, error: str | None) -> LinkDelivery:
    """Mark `delivery` sent, or failed with `error` and a posting to the firm (not committed)."""
    now = clock.now()
    if error is None:
        delivery.sent_at = now
        if delivery.state is DeliveryState.QUEUED:
            delivery.state = DeliveryState.SENT
    else:
        delivery.failed_at = now
        delivery.error = error[:MAX_ERROR_LENGTH]
        if delivery.state is DeliveryState.QUEUED:
            delivery.state = DeliveryState.FAILED
        postings.enqueue_link_delivery_failed(delivery)
    return delivery


def _on_outcome(outcome: mail_delivery.Outcome) -> None:
    """The outbox's word on a link email: record it on its delivery (in the worker's unit)."""
    delivery = db.session.scalar(select(LinkDelivery).where(LinkDelivery.public_id == outcome.ref))
    if delivery is not None:
        failed = outcome.status is EmailStatus.FAILED
        apply_outcome(delivery, (outcome.error or "failed") if failed else None)


mail_delivery.on_outcome(MAIL_KIND, _on_outcome)

#: What went wrong, in the mail server's own words (the outbox's reading of an SMTP error).
smtp_error_text = mail_delivery.error_text
