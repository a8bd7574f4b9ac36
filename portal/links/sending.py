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

from babel.dates import format_datetime
from flask import current_app, render_template
from sqlalchemy import select

from portal import clock, colors, i18n, mail
from portal.db import db
from portal.errors import ValidationFailed
from portal.firms import branding
from portal.firms.services import firm_by_id
from portal.links import postings
from portal.links import services as links
from portal.links.models import DeliveryOrigin, DeliveryState, Link, LinkDelivery
from portal.mail import delivery as mail_delivery
from portal.mail.models import EmailStatus
from portal.templating import locale_scope

log = logging.getLogger(__name__)
#: The outbox's name for link emails (its outcome handler is registered below).
MAIL_KIND = "link"

#: The portal's own colour (static/css/portal.css --brand), for firms without one.
DEFAULT_BRAND = "#1f3a5f"
#: The longest mail-server answer kept on a failed delivery.
MAX_ERROR_LENGTH = 500
_ALPHABET = string.ascii_letters + string.digits
#: A brand colour as the firm stores it.


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
    """The branded email (text and HTML) in the client's language, with the link and its expiry."""
    firm = firm_by_id(link.firm_id)
    brand = colors.brand_hex(firm.brand_colour)
    locale = i18n.page_locale(link.client.locale)
    with locale_scope(locale):
        context = {
            "firm_name": firm.name,
            "client_name": link.client.name,
            "message": delivery.message or firm.email_message,
            "signature": firm.email_signature,
            "url": links.url_for_link(link),
            "check_url": f"{current_app.config['BASE_URL']}/check",
            # Emails are read in many time zones and the firm has none on record: say UTC.
            "expires": format_datetime(link.expires_at, "long", tzinfo=None, locale=locale),
            "brand": f"#{brand}" if brand else DEFAULT_BRAND,
            "brand_ink": colors.ink_on(brand or DEFAULT_BRAND[1:]),
            "logo_url": branding.email_logo_url(firm),
        }
        subject = render_template("email/link/subject.txt", **context).strip()
        text = render_template("email/link/body.txt", **context)
        html = render_template("email/link/body.html", **context)
    return mail.compose(to=delivery.recipient, subject=subject, text=text, html=html)


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
