"""Create firms and their merchant accounts; issue, check and revoke API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.errors import NotFound, Unauthorized
from portal.firms.models import APIKey, Firm, MerchantAccount, MerchantAccountKind
from portal.text import text_problem

#: Every key starts with this, so secret scanners and people can recognise one.
KEY_PREFIX = "mp_"


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: `secret` is shown once and never stored."""

    api_key: APIKey
    secret: str


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:48] or "firm"


def _unique_slug(name: str) -> str:
    base = slugify(name)
    slug, n = base, 1
    while db.session.scalar(select(Firm.id).where(Firm.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_firm(name: str, *, currency: str = "USD", gateway: str = "sandbox") -> Firm:
    """Create a firm with one operating and one trust merchant account (not committed)."""
    problem = text_problem(name)
    if problem is not None:
        raise ValueError(f"the firm's name {problem}")
    name = name.strip()
    if not name:
        raise ValueError("a firm needs a name")
    firm = Firm(name=name, slug=_unique_slug(name))
    db.session.add(firm)
    for kind, label, ledger in (
        (MerchantAccountKind.OPERATING, "Operating account", "1000"),
        (MerchantAccountKind.TRUST, "Trust account (IOLTA)", "1010"),
    ):
        firm.merchant_accounts.append(
            MerchantAccount(
                kind=kind,
                label=label,
                currency=currency,
                gateway=gateway,
                ledger_code=ledger,
                transaction_type="Payment" if kind is MerchantAccountKind.OPERATING else "Deposit",
                bank_account_code=kind.value.upper(),
            )
        )
    db.session.flush()
    return firm


def firm_by_id(firm_id: int) -> Firm:
    firm = db.session.get(Firm, firm_id)
    if firm is None:
        raise NotFound(f"no firm with id {firm_id}")
    return firm


def firm_zone(firm: Firm) -> dt.tzinfo:
    """The time zone in which `firm`'s days and times are shown and counted."""
    name = firm.time_zone or str(current_app.config.get("DEFAULT_TIME_ZONE") or "UTC")
    return clock.zone_named(name)


def firm_period(
    firm_id: int, first: dt.date | None, last: dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The UTC instants [low, high) from the start of the firm's day `first` to the end of its
    day `last` (both inclusive, in its time zone); None for an end not given."""
    zone = firm_zone(firm_by_id(firm_id))
    low = clock.day_bounds(first, zone)[0] if first is not None else None
    high = clock.day_bounds(last, zone)[1] if last is not None else None
    return low, high


def firm_today(firm: Firm) -> dt.date:
    """Today's date where `firm` is: the day its due dates, caps and reports count from."""
    return clock.today_in(firm_zone(firm))


def firm_currencies(firm_id: int) -> set[str]:
    """The currencies a firm takes: those of its merchant accounts."""
    return set(
        db.session.scalars(
            select(MerchantAccount.currency).where(MerchantAccount.firm_id == firm_id)
        )
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(firm: Firm, *, label: str = "") -> IssuedKey:
    """Issue a new random API key for `firm`; only its hash is kept (not committed)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = APIKey(firm_id=firm.id, prefix=secret[:10], key_hash=_hash(secret), label=label)
    db.session.add(api_key)
    db.session.flush()
    return IssuedKey(api_key=api_key, secret=secret)


def authenticate(secret: str) -> APIKey:
    """Return the live key for a presented secret, or raise Unauthorized."""
    if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise Unauthorized()
    api_key = db.session.scalar(select(APIKey).where(APIKey.key_hash == _hash(secret)))
    if api_key is None or api_key.revoked_at is not None:
        raise Unauthorized()
    return api_key


def revoke_api_key(api_key: APIKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = clock.now()


#: `APIKey.last_used_at` is kept to this resolution, so busy keys do not write on every request.
KEY_USE_RESOLUTION = dt.timedelta(minutes=1)


def record_key_use(api_key: APIKey) -> None:
    """Note that `api_key` was used, unless that was already noted within the last minute."""
    now = clock.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < KEY_USE_RESOLUTION:
        return
    # End the read transaction before writing. A SQLite transaction that has already read
    # cannot queue for the write lock (it fails at once with "database is locked"), while one
    # whose first statement writes waits on busy_timeout like any other writer.
    db.session.commit()
    api_key.last_used_at = now
    db.session.commit()


def set_email_settings(firm_id: int, changes: Mapping[str, str | None]) -> Firm:
    """Set the firm's email message and signature from `changes` (commits).

    Only the names given change; None or blank text clears a setting.
    """
    firm = firm_by_id(firm_id)
    with db.transaction():
        for name in ("email_message", "email_signature"):
            if name in changes:
                setattr(firm, name, (changes[name] or "").strip() or None)
    return firm
