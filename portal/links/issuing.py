"""The firm's link use cases: issue a link for a client by external id (and email it), and
revoke one. Each commits; the API and the console call the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.billing import services as billing
from portal.db import db
from portal.links import sending
from portal.links import services as links
from portal.links.lines import LineRequest, attach_lines, check_lines
from portal.links.models import DeliveryOrigin, Link


@dataclass(frozen=True)
class SendRequest:
    """Email the new link: to `email` (else the client's address on file), with `message`."""

    email: str | None = None
    message: str | None = None


def create_link(
    *,
    firm_id: int,
    client: str,
    matters: Sequence[str],
    expires_in: int | None,
    send: SendRequest | None = None,
    ar_note: str | None = None,
    lines: Sequence[LineRequest] = (),
    origin: DeliveryOrigin = DeliveryOrigin.API,
    once: str | None = None,
) -> Link:
    """Issue a link for the firm's client `client`, limited to `matters` if any (commits).

    With `lines` the link carries that allocation (portal.links.lines): the client pays those
    lines and nothing else, and the link sees their matters (and `matters`, if any).

    With `send`, the link, its delivery record and the email commit together; the outbox then
    sends it and records the answer on the delivery: a refused email still leaves a working
    link (and tells the firm with a `link.delivery_failed` posting). `origin` says who asked
    for the email: the API (the default) or a staff user in the console.

    With `once` (a console form's one-time token), the same token again answers the link the
    first call issued and issues and emails nothing (a double click, a reload).
    """
    if once is not None and (made := made_by(firm_id, once)) is not None:
        return made
    owner = billing.referenced_client(firm_id=firm_id, external_id=client, pointer="/client")
    scope = billing.referenced_matters(client=owner, external_ids=matters, pointer="/matters")
    checked = check_lines(owner, lines) if lines else []
    to = sending.recipient_for(owner.email, send.email) if send is not None else None
    try:
        with db.transaction():
            link = links.issue_link(
                firm_id=firm_id, client=owner, matters=scope, expires_in=expires_in, ar_note=ar_note
            )
            link.creation_token = once
            if checked:
                attach_lines(link, checked)
                link.matters = list({m.id: m for m in [*scope, *link.matters]}.values())
            if send is not None and to is not None:
                sending.queue_link_email(link, to=to, message=send.message, origin=origin)
    except IntegrityError:
        # The same form sent twice at once: the other request issued the link first.
        made = made_by(firm_id, once) if once is not None else None
        if made is None:
            raise
        return made
    return link


def made_by(firm_id: int, once: str) -> Link | None:
    """The firm's link a console form's one-time token issued, if any."""
    return db.session.scalar(
        select(Link).where(Link.firm_id == firm_id, Link.creation_token == once)
    )


def revoke(*, firm_id: int, public_id: str) -> Link:
    """Revoke the firm's link now; revoking it again keeps the first time (commits)."""
    link = links.link_for_firm(firm_id, public_id)
    if link.revoked_at is None:
        with db.transaction():
            links.revoke_link(link)
    return link
