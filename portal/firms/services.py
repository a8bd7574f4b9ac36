"""Create firms and their merchant accounts; issue, check and revoke API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal import clock
from portal.audit import services as audit
from portal.audit.services import Actor
from portal.db import db
from portal.errors import NotFound, Unauthorized
from portal.firms.models import APIKey, Firm, MerchantAccount, MerchantAccountKind
from portal.firms.scopes import checked_scopes
from portal.i18n import SUPPORTED_LOCALES, current_locale
from portal.text import text_problem

#: Every key starts with this, so secret scanners and people can recognise one.
KEY_PREFIX = "mp_"


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: `secret` is shown once and never stored."""

    api_key: APIKey
    secret: str


#: The labels a new firm's accounts get in each language besides English (the `label`), so a
#: Spanish page never shows an English account name. The firm may change them.
SEED_LABELS: Mapping[MerchantAccountKind, Mapping[str, str]] = {
    MerchantAccountKind.OPERATING: {"es": "Cuenta operativa", "fr": "Compte d\u2019exploitation"},
    MerchantAccountKind.TRUST: {
        "es": "Cuenta fiduciaria (IOLTA)",
        "fr": "Compte en fidéicommis (IOLTA)",
    },
}


def supported_languages() -> tuple[str, ...]:
    """The languages a client page can render in ("en", "es"): the keys `labels` may use."""
    return tuple(dict.fromkeys(locale.split("_", 1)[0] for locale in SUPPORTED_LOCALES))


def label_in(label: str, labels: Mapping[str, str] | None, locale: str | None) -> str:
    """The label for `locale`'s language from `labels`, else `label` (the default)."""
    language = (locale or "").replace("-", "_").split("_", 1)[0].lower()
    return (labels or {}).get(language) or label


def account_label(account: MerchantAccount, locale: str | None = None) -> str:
    """The name a client sees for `account`, in `locale` (default: what is being rendered).

    Every page, email and receipt that shows an account to a client goes through here.
    """
    return label_in(account.label, account.labels, locale or current_locale())


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
                labels=dict(SEED_LABELS[kind]),
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


def default_time_zone() -> str:
    """The zone of a firm with no time zone of its own (PORTAL_DEFAULT_TIME_ZONE)."""
    return str(current_app.config.get("DEFAULT_TIME_ZONE") or "UTC")


def firm_zone(firm: Firm) -> dt.tzinfo:
    """The time zone in which `firm`'s days and times are shown and counted."""
    return clock.zone_named(firm.time_zone or default_time_zone())


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


def firm_currency(firm_id: int) -> str:
    """The firm's own currency: its operating account's (the first by code), else any of its
    accounts', else USD (a firm with no account yet, as `create_firm`'s default)."""
    rows = db.session.execute(
        select(MerchantAccount.kind, MerchantAccount.currency).where(
            MerchantAccount.firm_id == firm_id
        )
    ).all()
    operating = sorted(c for kind, c in rows if kind == MerchantAccountKind.OPERATING)
    others = sorted(c for _, c in rows)
    return (operating or others or ["USD"])[0]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(
    firm: Firm, *, label: str = "", scopes: Iterable[str] | None = None, actor: Actor
) -> IssuedKey:
    """Issue a new random API key for `firm`; only its hash is kept (not committed).

    `scopes` limits what the key may do (`portal.firms.scopes.SCOPES`; UnknownScope for any
    other word); None gives it every scope. The audit log says who issued it, with its shown
    prefix, label and scopes (never the key).
    """
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = APIKey(
        firm_id=firm.id,
        prefix=secret[:10],
        key_hash=_hash(secret),
        label=label,
        scopes=checked_scopes(scopes),
    )
    db.session.add(api_key)
    db.session.flush()
    _record_key(
        api_key,
        actor,
        "issued",
        after={"prefix": api_key.prefix, "label": label, "scopes": api_key.scopes},
    )
    return IssuedKey(api_key=api_key, secret=secret)


def authenticate(secret: str) -> APIKey:
    """Return the live key for a presented secret, or raise Unauthorized."""
    if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise Unauthorized()
    api_key = db.session.scalar(select(APIKey).where(APIKey.key_hash == _hash(secret)))
    if api_key is None or api_key.revoked_at is not None:
        raise Unauthorized()
    return api_key


def revoke_api_key(api_key: APIKey, *, actor: Actor) -> None:
    """Revoke `api_key` and audit it, unless it is revoked already (not committed)."""
    if api_key.revoked_at is not None:
        return
    api_key.revoked_at = clock.now()
    _record_key(api_key, actor, "revoked", field="revoked_at", after=api_key.revoked_at.isoformat())


def _record_key(api_key: APIKey, actor: Actor, verb: str, **change: Any) -> None:
    """Append "api_key.<verb>" for `api_key` (its id and prefix only: never the key)."""
    audit.record(
        api_key.firm_id,
        actor,
        action=f"api_key.{verb}",
        entity="api_key",
        entity_id=api_key.id,
        **change,
    )


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


def record_firm_changes(
    firm: Firm,
    values: Mapping[str, Any],
    actor: Actor,
    *,
    action: str = "firm.updated",
    reason: str | None = None,
) -> None:
    """Set `values` on `firm` and audit each that changed (not committed)."""
    before = {name: getattr(firm, name) for name in values}
    for name, value in values.items():
        if before[name] != value:
            setattr(firm, name, value)
    audit.record_changes(
        firm.id,
        actor,
        action=action,
        entity="firm",
        entity_id=firm.slug,
        before={name: _shown(value) for name, value in before.items()},
        after={name: _shown(value) for name, value in values.items()},
        reason=reason,
    )


def _shown(value: Any) -> Any:
    """A setting's value as JSON (an enum as its value)."""
    return getattr(value, "value", value)


def merchant_accounts_of(firm_id: int) -> list[MerchantAccount]:
    """The firm's merchant accounts, oldest first."""
    return list(
        db.session.scalars(
            select(MerchantAccount)
            .where(MerchantAccount.firm_id == firm_id)
            .order_by(MerchantAccount.id)
        )
    )


def merchant_account_for_firm(firm_id: int, public_id: str) -> MerchantAccount:
    """The firm's merchant account `public_id`, or NotFound (another firm's is not found either)."""
    account = db.session.scalar(
        select(MerchantAccount).where(
            MerchantAccount.firm_id == firm_id, MerchantAccount.public_id == public_id
        )
    )
    if account is None:
        raise NotFound(f"no merchant account {public_id}")
    return account


def merchant_account_id_for(public_id: str) -> int:
    """The number of the merchant account `public_id` (any firm's), or NotFound."""
    account_id = db.session.scalar(
        select(MerchantAccount.id).where(MerchantAccount.public_id == public_id)
    )
    if account_id is None:
        raise NotFound(f"no merchant account {public_id}")
    return account_id
