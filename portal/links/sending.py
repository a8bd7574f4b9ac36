"""Emailing a link to a client, and recording what became of the email.

The email is written while the link is (in the same transaction as a `LinkDelivery` row in
state "queued"), handed to SMTP only once that commits, and the mail server's answer is then
recorded in a short transaction of its own: "sent", or "failed" with the server's words and a
`link.delivery_failed` posting to the firm. Unlike receipts (`portal.mail.send_after_commit`),
a link email's outcome matters to the firm, so the hand-off here is explicit and recorded.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import string
from dataclasses import dataclass
from email.message import EmailMessage

from babel.dates import format_datetime
from flask import current_app, render_template

from portal import clock, colors, i18n, mail
from portal.db import db
from portal.errors import ValidationFailed
from portal.firms import branding
from portal.firms.services import firm_by_id
from portal.links import postings
from portal.links import services as links
from portal.links.models import DeliveryOrigin, DeliveryState, Link, LinkDelivery
from portal.templating import locale_scope

log = logging.getLogger(__name__)

#: The portal's own colour (static/css/portal.css --brand), for firms without one.
DEFAULT_BRAND = "#1f3a5f"
#: The longest mail-server answer kept on a failed delivery.
MAX_ERROR_LENGTH = 500
_ALPHABET = string.ascii_letters + string.digits
#: A brand colour as the firm stores it.


@dataclass(frozen=True)
class QueuedEmail:
    """A link email written and recorded, waiting for its transaction to commit."""

    delivery: LinkDelivery
    message: EmailMessage


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
) -> QueuedEmail:
    """Record an email carrying `link` and write it, in the caller's transaction (no commit).

    Hand the result to `hand_over` once the transaction has committed.
    """
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
    return QueuedEmail(delivery=delivery, message=compose_link_email(link, delivery))


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


def hand_over(queued: QueuedEmail) -> LinkDelivery:
    """Send a committed link email through SMTP now and record the answer (commits).

    Must be called with no transaction holding locks: a slow mail server must not hold one.
    """
    error: str | None = None
    try:
        mail.deliver(queued.message)
    except (OSError, smtplib.SMTPException) as exc:
        error = smtp_error_text(exc)
        log.warning("link email %s not sent: %s", queued.delivery.public_id, error)
    # The mail server has answered: its answer is recorded in a unit of work of its own.
    with db.transaction():
        record_outcome(queued.delivery, error)
    return queued.delivery


def record_outcome(delivery: LinkDelivery, error: str | None) -> LinkDelivery:
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


def smtp_error_text(exc: BaseException) -> str:
    """What went wrong, in the mail server's own words where it gave some.

    Only codes and server replies are kept: the exception objects of smtplib never hold the
    login password, and nothing from the configuration is added here.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = [f"{code} {_text(reply)}" for code, reply in list(exc.recipients.values())[:3]]
        return "recipient refused: " + "; ".join(replies)
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
