"""Issue, open, check and revoke client links.

A link's token is an itsdangerous signature (HMAC-SHA256, salted for this one purpose) over
the link's random `public_id` and nothing else: no name, email or amount ever rides in a URL.
Expiry and revocation live in the row too, so a firm can kill a link before its signature runs
out, and the signature's own age check caps every link at 24 hours whatever the row says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.orm import selectinload

from portal import clock
from portal.billing.models import Client, Matter
from portal.db import db
from portal.errors import LinkExpired, LinkInvalid, LinkRevoked, NotFound, ValidationFailed
from portal.firms.models import Firm
from portal.ids import new_public_id
from portal.links.models import DeliveryState, Link, LinkDelivery, link_matters

LINK_SALT = "matterpay.client-link.v1"
#: Tokens are about 70 characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 200
#: The longest text the check page reads as a pasted link.
MAX_PASTE_LENGTH = 2000


class ClockSigner(TimestampSigner):
    """A timestamp signer that reads time through `portal.clock`, like the rest of the app."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    # SHA-256 rather than itsdangerous' default SHA-1, for both key derivation and the MAC.
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"],
        salt=LINK_SALT,
        signer=ClockSigner,
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
        public_id=new_public_id(16),
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
        raise LinkRevoked(public_id=link.public_id)
    if state == "expired":
        raise LinkExpired(public_id=link.public_id)
    return link


def _public_id_of(token: str) -> tuple[str | None, bool]:
    """The public id signed into `token` and whether the signature is still within its age.

    (None, False) for a token that is not ours: tampered, malformed or signed with another key.
    An expired signature was still verified before itsdangerous refused its age, so the id it
    carries is genuine.
    """
    serializer = _serializer()
    try:
        public_id = serializer.loads(token, max_age=current_app.config["LINK_MAX_AGE_SECONDS"])
        fresh = True
    except SignatureExpired as exc:
        # The exception holds the payload still encoded; it was signed by us, so decode it.
        try:
            public_id, fresh = serializer.load_payload(exc.payload or b""), False
        except BadData:
            return None, False
    except BadData:
        return None, False
    if not isinstance(public_id, str):
        return None, False
    return public_id, fresh


def open_link(token: str) -> Link:
    """Return the live link behind `token` and record that it was opened (commits).

    Tampered or unknown tokens raise LinkInvalid (a bare 404); expired ones LinkExpired and
    revoked ones LinkRevoked (both 410), so the client can be told to ask for a new link.
    """
    public_id, fresh = _public_id_of(token)
    if public_id is None:
        raise LinkInvalid()
    if not fresh:
        raise LinkExpired(public_id=public_id)
    link = db.session.scalar(select(Link).where(Link.public_id == public_id))
    if link is None:
        raise LinkInvalid()
    check_live(link)
    now = clock.now()
    link.first_opened_at = link.first_opened_at or now
    link.last_opened_at = now
    link.open_count += 1
    _mark_opened(link, now)
    db.session.commit()
    return link


def _mark_opened(link: Link, now: dt.datetime) -> None:
    """Note on each email that carried `link` that the client opened it (first time kept)."""
    for delivery in link.deliveries:
        if delivery.opened_at is None:
            delivery.opened_at = now
        if delivery.state in (DeliveryState.QUEUED, DeliveryState.SENT, DeliveryState.FAILED):
            delivery.state = DeliveryState.OPENED


def mark_paid(link_id: int) -> None:
    """Note on the emails that carried link `link_id` that a payment from it succeeded.

    Called in the payment's own transaction (never commits); the first time is kept.
    """
    db.session.execute(
        update(LinkDelivery)
        .where(LinkDelivery.link_id == link_id, LinkDelivery.paid_at.is_(None))
        .values(state=DeliveryState.PAID, paid_at=clock.now())
    )


@dataclass(frozen=True)
class LinkCheck:
    """What the public check page may say about a pasted link: no account data at all."""

    #: "live", "expired", "revoked", or "not_ours" (not signed by this portal, or unknown).
    verdict: str
    firm_name: str | None = None
    #: The genuine link's public id (never shown: the page wears its firm's colours with it).
    public_id: str | None = None


def check_token(token: str) -> LinkCheck:
    """Say whether `token` is one of this portal's links and whether it still works.

    Unlike `open_link` it records nothing: checking a link is not opening it.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return LinkCheck("not_ours")
    public_id, fresh = _public_id_of(token)
    if public_id is None:
        return LinkCheck("not_ours")
    found = db.session.execute(
        select(Link, Firm.name)
        .join(Firm, Firm.id == Link.firm_id)
        .where(Link.public_id == public_id)
    ).first()
    if found is None:
        return LinkCheck("not_ours")
    link, firm_name = found
    state = link.state(clock.now())
    if state == "active" and not fresh:
        state = "expired"
    return LinkCheck("live" if state == "active" else state, firm_name, public_id)


def token_in(pasted: str) -> str | None:
    """The token inside a pasted link, or None when the text is not a link to this portal.

    Accepts the whole URL as emailed (BASE_URL/l/<token>), with or without the scheme, or the
    bare token. A URL on any other host is not ours, whatever its path looks like.
    """
    text = pasted.strip()
    if not text or len(text) > MAX_PASTE_LENGTH:
        return None
    if "/" not in text:
        return text
    base = urlsplit(current_app.config["BASE_URL"])
    url = urlsplit(text if "://" in text else f"{base.scheme}://{text}")
    if url.scheme not in ("http", "https") or url.netloc.lower() != base.netloc.lower():
        return None
    prefix = base.path.rstrip("/") + "/l/"
    if not url.path.startswith(prefix):
        return None
    token = url.path[len(prefix) :]
    return token if token and "/" not in token else None


def link_for_firm(firm_id: int, public_id: str) -> Link:
    """A firm's link by its public id; another firm's is 'not found'."""
    link = db.session.scalar(
        select(Link).where(Link.public_id == public_id, Link.firm_id == firm_id)
    )
    if link is None:
        raise NotFound("no such link")
    return link


@dataclass(frozen=True)
class LinkFilters:
    """What a link list is narrowed to; None means no condition."""

    #: External ids, within the firm (another firm's matches nothing).
    client: str | None = None
    #: Links that can see this matter: limited to it, or to none of its client's matters.
    matter: str | None = None
    #: "active", "expired" or "revoked", as `Link.state` says now.
    state: str | None = None


@dataclass(frozen=True)
class LinkPage:
    """A page of links, newest first; `last_id` is where the next page starts after."""

    items: list[Link]
    last_id: int | None


def links_page(*, firm_id: int, filters: LinkFilters, after_id: int | None, limit: int) -> LinkPage:
    """A page of the firm's links matching `filters`, newest first, after `after_id`.

    Each link comes with its client, matters and deliveries loaded (one query each).
    """
    statement = (
        select(Link)
        .where(Link.firm_id == firm_id, *_link_conditions(firm_id, filters))
        .options(
            selectinload(Link.client),
            selectinload(Link.matters),
            selectinload(Link.deliveries).selectinload(LinkDelivery.replaces),
        )
    )
    if after_id is not None:
        statement = statement.where(Link.id < after_id)
    rows = list(db.session.scalars(statement.order_by(Link.id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return LinkPage(rows, None)
    rows = rows[:limit]
    return LinkPage(rows, rows[-1].id)


def _link_conditions(firm_id: int, filters: LinkFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.client is not None:
        conditions.append(
            Link.client_id
            == select(Client.id)
            .where(Client.firm_id == firm_id, Client.external_id == filters.client)
            .scalar_subquery()
        )
    if filters.matter is not None:
        named = (Matter.firm_id == firm_id, Matter.external_id == filters.matter)
        matter_id = select(Matter.id).where(*named).scalar_subquery()
        matter_client_id = select(Matter.client_id).where(*named).scalar_subquery()
        in_scope = exists().where(
            link_matters.c.link_id == Link.id, link_matters.c.matter_id == matter_id
        )
        unscoped = ~exists().where(link_matters.c.link_id == Link.id)
        conditions.append(in_scope | (unscoped & (Link.client_id == matter_client_id)))
    if filters.state is not None:
        now = clock.now()
        if filters.state == "revoked":
            conditions.append(Link.revoked_at.is_not(None))
        elif filters.state == "expired":
            conditions.append(Link.revoked_at.is_(None) & (Link.expires_at <= now))
        elif filters.state == "active":
            conditions.append(Link.revoked_at.is_(None) & (Link.expires_at > now))
        else:
            raise ValueError(f"not a link state: {filters.state!r}")
    return conditions


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
