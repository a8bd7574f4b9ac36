"""Issue, open, check and revoke client links.

A link's token is an itsdangerous signature (HMAC-SHA256, salted for this one purpose) over
the link's random `public_id` and nothing else: no name, email or amount ever rides in a URL.
Expiry and revocation live in the row too, so a firm can kill a link before its signature runs
out, and the signature's own age check caps every link at 24 hours whatever the row says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence

from flask import current_app
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from portal import clock
from portal.billing.models import Client, Matter
from portal.db import db
from portal.errors import LinkExpired, LinkInvalid, LinkRevoked, NotFound, ValidationFailed
from portal.links.models import Link

LINK_SALT = "matterpay.client-link.v1"


class _ClockSigner(TimestampSigner):
    """A timestamp signer that reads time through `portal.clock`, like the rest of the app."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    # SHA-256 rather than itsdangerous' default SHA-1, for both key derivation and the MAC.
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"],
        salt=LINK_SALT,
        signer=_ClockSigner,
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def token_for(link: Link) -> str:
    """Sign the link's public id into a URL-safe token."""
    return _serializer().dumps(link.public_id)


def url_for_link(link: Link) -> str:
    """The absolute URL a client opens, built from the configured public base URL."""
    return f"{current_app.config['BASE_URL']}/l/{token_for(link)}"


def issue_link(
    *,
    firm_id: int,
    client: Client,
    matters: Sequence[Matter] = (),
    expires_in: int | None = None,
    ar_note: str | None = None,
) -> Link:
    """Create a link for `client`, optionally limited to some of its matters (not committed).

    `ar_note` is the firm's note for the A/R message of payments made through the link.
    """
    max_age = int(current_app.config["LINK_MAX_AGE_SECONDS"])
    seconds = max_age if expires_in is None else expires_in
    if not 60 <= seconds <= max_age:
        raise ValidationFailed(
            errors=[
                {"pointer": "/expires_in", "detail": f"must be between 60 and {max_age} seconds"}
            ]
        )
    for matter in matters:
        if matter.client_id != client.id or matter.firm_id != firm_id:
            raise ValidationFailed(
                errors=[{"pointer": "/matters", "detail": "every matter must be the client's"}]
            )
    now = clock.now()
    link = Link(
        public_id=secrets.token_urlsafe(16),
        firm_id=firm_id,
        client_id=client.id,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=seconds),
        open_count=0,
        ar_note=(ar_note or "").strip()[:200] or None,
    )
    link.matters = list(matters)
    db.session.add(link)
    db.session.flush()
    return link


def check_live(link: Link) -> Link:
    """Return `link` if it may still be used now; else raise why not."""
    state = link.state(clock.now())
    if state == "revoked":
        raise LinkRevoked()
    if state == "expired":
        raise LinkExpired()
    return link


def open_link(token: str) -> Link:
    """Return the live link behind `token` and record that it was opened (commits).

    Tampered or unknown tokens raise LinkInvalid (a bare 404); expired ones LinkExpired and
    revoked ones LinkRevoked (both 410), so the client can be told to ask for a new link.
    """
    try:
        public_id = _serializer().loads(token, max_age=current_app.config["LINK_MAX_AGE_SECONDS"])
    except SignatureExpired:
        raise LinkExpired() from None
    except BadData:
        raise LinkInvalid() from None
    if not isinstance(public_id, str):
        raise LinkInvalid()
    link = db.session.scalar(select(Link).where(Link.public_id == public_id))
    if link is None:
        raise LinkInvalid()
    check_live(link)
    now = clock.now()
    link.first_opened_at = link.first_opened_at or now
    link.last_opened_at = now
    link.open_count += 1
    db.session.commit()
    return link


def link_for_firm(firm_id: int, public_id: str) -> Link:
    """A firm's link by its public id; another firm's is 'not found'."""
    link = db.session.scalar(
        select(Link).where(Link.public_id == public_id, Link.firm_id == firm_id)
    )
    if link is None:
        raise NotFound("no such link")
    return link


def revoke_link(link: Link) -> Link:
    """Revoke `link` now; revoking twice keeps the first time (not committed)."""
    if link.revoked_at is None:
        link.revoked_at = clock.now()
    return link


def visible_matter_ids(link: Link) -> list[int]:
    """Ids of the matters this link may see: its scope, else all of its client's matters."""
    if link.matters:
        return [m.id for m in link.matters]
    return list(
        db.session.scalars(
            select(Matter.id)
            .where(Matter.firm_id == link.firm_id, Matter.client_id == link.client_id)
            .order_by(Matter.id)
        )
    )
