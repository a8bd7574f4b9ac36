"""Reviewed baskets kept server-side: the grace after a link expires, and the fresh link's basket.

A client who reviewed a basket while the link was live may still confirm that very basket, at
the same amounts, for `GRACE` after the link expires: long enough to find a card and type it
(and pass a bank's 3-D Secure step), short enough that a link stays a short-lived key. The
basket is never carried in a URL; a fresh link sent from the expired page reopens the last
basket its dead link reviewed and did not pay.

Commits: `keep_review` (the review page's one write).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select

from portal import clock
from portal.db import db
from portal.links.models import Link, LinkDelivery
from portal.payments.models import Payment, ReviewedBasket

#: How long after its link expires a reviewed basket may still be confirmed. Fifteen minutes
#: covers finding a card, typing it and a bank's confirmation step (Stripe's own 3-D Secure
#: sessions last about ten), and keeps a dead link from paying anything new.
GRACE = dt.timedelta(minutes=15)
#: Reviews kept per link: enough for a client changing their mind, never an unbounded log.
KEPT_PER_LINK = 20

Fields = list[tuple[str, str]]


def keep_review(
    link: Link,
    idempotency_key: str,
    fields: Sequence[tuple[str, str]],
    total_minor: int,
    currency: str,
    *,
    reviewed_at: dt.datetime | None = None,
) -> None:
    """Keep the basket a review page shows under the key its confirm form pays with (commits).

    `reviewed_at` carries the first review's time over to the review shown again after a
    decline, so the same basket may still be retried within the grace.
    """
    kept = db.session.scalars(
        select(ReviewedBasket.id)
        .where(ReviewedBasket.link_id == link.id)
        .order_by(ReviewedBasket.id.desc())
        .offset(KEPT_PER_LINK - 1)
    ).all()
    if kept:
        db.session.execute(delete(ReviewedBasket).where(ReviewedBasket.id.in_(kept)))
    db.session.add(
        ReviewedBasket(
            firm_id=link.firm_id,
            link_id=link.id,
            idempotency_key=idempotency_key,
            fields=[list(pair) for pair in fields],
            total_minor=total_minor,
            currency=currency,
            created_at=reviewed_at or clock.now(),
        )
    )
    db.session.commit()


def reviewed_at(link: Link, idempotency_key: str) -> dt.datetime | None:
    """When the basket paid under `idempotency_key` was first reviewed, if it was kept."""
    kept = _kept(link.id, idempotency_key)
    return kept.created_at if kept else None


def in_grace(link: Link, now: dt.datetime | None = None) -> bool:
    """True while `link` has expired (not been revoked) less than `GRACE` ago."""
    now = now or clock.now()
    return (
        link.state(now) == "expired" and link.revoked_at is None and now < link.expires_at + GRACE
    )


def grace_ends_at(link: Link) -> dt.datetime:
    return link.expires_at + GRACE


def may_confirm_in_grace(
    link: Link, idempotency_key: str, fields: Sequence[tuple[str, str]]
) -> bool:
    """True when an expired link's confirm form carries, within the grace, exactly the basket a
    review showed while the link was live."""
    if not in_grace(link):
        return False
    kept = _kept(link.id, idempotency_key)
    return (
        kept is not None
        and kept.created_at < link.expires_at
        and sorted(tuple(pair) for pair in kept.fields) == sorted(fields)
    )


def paid_in_grace(link: Link, public_id: str) -> bool:
    """True when an expired link, within its grace, asks for a payment made through it."""
    return in_grace(link) and (
        db.session.scalar(
            select(Payment.id).where(Payment.link_id == link.id, Payment.public_id == public_id)
        )
        is not None
    )


def unpaid_basket(link: Link) -> ReviewedBasket | None:
    """The last basket `link` reviewed and did not pay, or None."""
    paid = select(Payment.id).where(
        Payment.firm_id == ReviewedBasket.firm_id,
        Payment.idempotency_key == ReviewedBasket.idempotency_key,
    )
    return db.session.scalar(
        select(ReviewedBasket)
        .where(ReviewedBasket.link_id == link.id, ~paid.exists())
        .order_by(ReviewedBasket.id.desc())
        .limit(1)
    )


def basket_for_fresh_link(link: Link) -> Fields | None:
    """The basket the dead link this fresh `link` replaces reviewed and did not pay, or None."""
    dead = db.session.scalar(
        select(Link)
        .join(LinkDelivery, LinkDelivery.replaces_link_id == Link.id)
        .where(LinkDelivery.link_id == link.id, Link.firm_id == link.firm_id)
        .order_by(LinkDelivery.id.desc())
        .limit(1)
    )
    if dead is None or dead.client_id != link.client_id:
        return None
    kept = unpaid_basket(dead)
    return [(str(name), str(value)) for name, value in kept.fields] if kept else None


def _kept(link_id: int, idempotency_key: str) -> ReviewedBasket | None:
    return db.session.scalar(
        select(ReviewedBasket).where(
            ReviewedBasket.link_id == link_id, ReviewedBasket.idempotency_key == idempotency_key
        )
    )
