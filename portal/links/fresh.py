""" "Email me a fresh link": a dead link's page asks for a new one, sent to the client's email.

The page carries the dead link's public id in a signed form field (never the token itself), so
the request can be honoured without the browser holding anything that opens the portal. Every
request is answered the same way, whatever happened, so the answer tells nobody whether the
link exists, whether its client has an email address, or whether the daily cap was reached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import func, select

from portal import clock
from portal.db import db
from portal.firms.services import firm_by_id, firm_zone
from portal.links import sending
from portal.links import services as links
from portal.links.models import DeliveryOrigin, Link, LinkDelivery

log = logging.getLogger(__name__)

FORM_SALT = "matterpay.fresh-link-form.v1"
#: How long a dead link's page may sit open before its button stops working.
FORM_MAX_AGE = dt.timedelta(days=1)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"],
        salt=FORM_SALT,
        signer=links.ClockSigner,
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def form_ref(public_id: str | None) -> str:
    """The signed form value naming the dead link (an empty name when it is not known)."""
    return _serializer().dumps(public_id or "")


def public_id_in(ref: str) -> str | None:
    """The dead link's public id a (still valid) form ref names, else None."""
    return _public_id_from(ref)


def _public_id_from(ref: str) -> str | None:
    try:
        public_id = _serializer().loads(ref, max_age=int(FORM_MAX_AGE.total_seconds()))
    except BadData:
        return None
    return public_id if isinstance(public_id, str) and public_id else None


def fresh_links_today(dead: Link, now: dt.datetime) -> int:
    """How many fresh links were issued for `dead` today: since the firm's last midnight, in its
    time zone (the cap is per the firm's day, as its clients live it)."""
    zone = firm_zone(firm_by_id(dead.firm_id))
    midnight = clock.day_bounds(clock.local_day(now, zone), zone)[0]
    return int(
        db.session.scalar(
            select(func.count(LinkDelivery.id)).where(
                LinkDelivery.replaces_link_id == dead.id,
                LinkDelivery.created_at >= midnight,
            )
        )
        or 0
    )


def request_fresh_link(ref: str) -> LinkDelivery | None:
    """Issue a fresh 24-hour link for the dead link `ref` names, if allowed, and put its email
    in the outbox (commits). The email goes out from the outbox's worker, never inside the
    request, so the answer takes as long whether or not an email is sent.

    Nothing happens for a bad or stale `ref`, a link that still works, a client without an
    email address, or a link that already had its daily share of fresh links.
    """
    public_id = _public_id_from(ref)
    if public_id is None:
        return None
    # Lock the dead link's row until commit: two clicks at once must not both pass the cap.
    dead = db.session.scalar(select(Link).where(Link.public_id == public_id).with_for_update())
    now = clock.now()
    if dead is None or dead.state(now) == "active" or not dead.client.email:
        return None
    if fresh_links_today(dead, now) >= int(current_app.config["FRESH_LINKS_PER_LINK_PER_DAY"]):
        log.info("fresh link for %s refused: daily cap reached", dead.public_id)
        return None
    with db.transaction():
        fresh = links.issue_link(firm_id=dead.firm_id, client=dead.client, matters=dead.matters)
        delivery = sending.queue_link_email(
            fresh,
            to=dead.client.email,
            message=None,
            origin=DeliveryOrigin.FRESH_LINK,
            replaces=dead,
        )
    return delivery
