"""Saved payers and methods: the use cases the client's pages, the console and the API call.

Commits: `add_payer`, `payer_once`, `attach_payer`, `save_method` and `remove_method` own their
transactions, committing around each processor call, never across one; a removal with an
`actor` is audited. The rest read, or (`client_payer`) write inside the caller's transaction.

A client's payers are the ones that belong to it and the ones attached to it; a payer's
methods pay only for those clients. Every lookup is scoped to one firm and one client, and a
method of another firm or client is "not found", never "forbidden".
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.orm import selectinload

from portal import clock, gateways
from portal.audit import services as audit
from portal.billing.models import Client
from portal.db import db
from portal.errors import NotFound, PortalError
from portal.firms.models import MerchantAccount
from portal.gateways.base import Instrument, SavedRef, SaveRefused, SaveRequest
from portal.ids import new_public_id
from portal.payers.models import (
    Consent,
    ConsentHow,
    ConsentScope,
    MethodKind,
    Payer,
    PayerClient,
    SavedMethod,
    SavedToken,
)

log = logging.getLogger(__name__)

#: A card whose last valid day is this close (or closer) is flagged to the client and staff.
EXPIRING_DAYS = 30


class MethodNotSaved(PortalError):
    """The processor would not keep the method (a number it does not take, an expired card)."""

    status = 422
    code = "method-not-saved"
    title = "The payment method could not be saved"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, errors=[{"pointer": "/payment_method", "detail": detail}])
        self.reason = reason


@dataclass(frozen=True)
class ConsentGiven:
    """The payer's agreement, as it was given: the exact words, how, for what, and by whom."""

    words: str
    how: ConsentHow
    scope: ConsentScope
    staff_user_id: int | None = None
    ip: str | None = None


# -- payers ---------------------------------------------------------------------------------


def _for_client(firm_id: int, client_id: int) -> ColumnElement[bool]:
    """The condition "this payer may pay for this client": its own, or attached to it."""
    attached = exists().where(
        PayerClient.payer_id == Payer.id,
        PayerClient.client_id == client_id,
        PayerClient.firm_id == firm_id,
    )
    return (Payer.firm_id == firm_id) & or_(Payer.client_id == client_id, attached)


def list_payers(firm_id: int, client_id: int) -> list[Payer]:
    """The client's payers (its own and those attached to it), with their methods loaded."""
    return list(
        db.session.scalars(
            select(Payer)
            .options(selectinload(Payer.methods).selectinload(SavedMethod.consents))
            .where(_for_client(firm_id, client_id))
            .order_by(Payer.is_client.desc(), Payer.name, Payer.id)
        )
    )


def payer_for_client(firm_id: int, client_id: int, public_id: str) -> Payer:
    """A payer who may pay for this client; NotFound for anyone else's."""
    payer = db.session.scalar(
        select(Payer).where(Payer.public_id == public_id, _for_client(firm_id, client_id))
    )
    if payer is None:
        raise NotFound("no such payer")
    return payer


def add_payer(*, firm_id: int, client: Client, name: str, email: str | None) -> Payer:
    """A new payer for the firm's client, e.g. a parent or an employer (commits)."""
    if client.firm_id != firm_id:
        raise NotFound("no such client")
    with db.transaction():
        payer = _new_payer(firm_id, client, name, email)
    return payer


def payer_once(*, firm_id: int, client: Client, name: str, email: str | None) -> Payer:
    """The client's payer with this name and address, added when there is none (commits).

    A "Save payer" form sent twice, even twice at once, keeps one payer: the client's row is
    locked (`SELECT ... FOR UPDATE`) before looking, so the second request waits for the first
    to commit and then finds its payer. (SQLite takes its write lock when the transaction
    begins, which serialises the two the same way.)
    """
    if client.firm_id != firm_id:
        raise NotFound("no such client")
    with db.transaction():
        db.session.execute(select(Client.id).where(Client.id == client.id).with_for_update())
        payer = same_payer(firm_id, client.id, name, email)
        if payer is None:
            payer = _new_payer(firm_id, client, name, email)
    return payer


def _new_payer(firm_id: int, client: Client, name: str, email: str | None) -> Payer:
    payer = Payer(
        public_id=new_public_id(12),
        firm_id=firm_id,
        client_id=client.id,
        name=name[:200],
        email=email,
        created_at=clock.now(),
    )
    db.session.add(payer)
    db.session.flush()
    return payer


def same_payer(firm_id: int, client_id: int, name: str, email: str | None) -> Payer | None:
    """The client's own payer (not the client itself) with this name and address, if any: a
    form sent twice saves one payer, not two."""
    return db.session.scalar(
        select(Payer)
        .where(
            Payer.firm_id == firm_id,
            Payer.client_id == client_id,
            Payer.is_client.is_(False),
            Payer.name == name[:200],
            Payer.email.is_(None) if email is None else Payer.email == email,
        )
        .order_by(Payer.id)
        .limit(1)
    )


def attach_payer(*, firm_id: int, payer: Payer, client: Client) -> None:
    """Let `payer` pay for another client of the same firm too (commits; twice is once)."""
    if payer.firm_id != firm_id or client.firm_id != firm_id:
        raise NotFound("no such payer")
    if payer.client_id == client.id:
        return
    with db.transaction():
        if (
            db.session.scalar(
                select(PayerClient.id).where(
                    PayerClient.payer_id == payer.id, PayerClient.client_id == client.id
                )
            )
            is None
        ):
            db.session.add(PayerClient(firm_id=firm_id, payer_id=payer.id, client_id=client.id))


def client_payer(client: Client) -> Payer:
    """The client as a payer for themself, made on first use (in the caller's transaction)."""
    payer = db.session.scalar(
        select(Payer).where(
            Payer.firm_id == client.firm_id, Payer.client_id == client.id, Payer.is_client
        )
    )
    if payer is None:
        payer = Payer(
            public_id=new_public_id(12),
            firm_id=client.firm_id,
            client_id=client.id,
            name=client.name,
            email=client.email,
            is_client=True,
            created_at=clock.now(),
        )
        db.session.add(payer)
        db.session.flush()
    return payer


# -- methods --------------------------------------------------------------------------------


def active_methods(firm_id: int, client_id: int) -> list[SavedMethod]:
    """The saved methods that may pay for this client, oldest first, none removed."""
    return list(
        db.session.scalars(
            select(SavedMethod)
            .join(Payer, Payer.id == SavedMethod.payer_id)
            .options(selectinload(SavedMethod.consents), selectinload(SavedMethod.tokens))
            .where(_for_client(firm_id, client_id), SavedMethod.removed_at.is_(None))
            .order_by(SavedMethod.id)
        )
    )


def method_for_client(
    firm_id: int, client_id: int, public_id: str, *, payer: Payer | None = None
) -> SavedMethod:
    """A saved method that may pay for this client (of `payer`, when given); NotFound else."""
    query = (
        select(SavedMethod)
        .join(Payer, Payer.id == SavedMethod.payer_id)
        .where(
            SavedMethod.public_id == public_id,
            SavedMethod.removed_at.is_(None),
            _for_client(firm_id, client_id),
        )
    )
    if payer is not None:
        query = query.where(SavedMethod.payer_id == payer.id)
    method = db.session.scalar(query)
    if method is None:
        raise NotFound("no such payment method")
    return method


def instrument_for(
    method: SavedMethod, *, off_session: bool, setup_future: bool = False
) -> Instrument:
    """What a charge with this saved method hands the gateway: its tokens, no numbers.

    `setup_future`: the first charge of a method just kept with consent to payments the firm
    starts (the processor sets it up for them); only when the method has that consent."""
    scope = ConsentScope.FUTURE_FIRM_INITIATED
    setup_future = setup_future and not off_session and covering_consent(method, scope) is not None
    return Instrument(
        saved=tuple(
            SavedRef(t.merchant_account_id, t.customer_ref, t.method_ref) for t in method.tokens
        ),
        off_session=off_session,
        setup_future=setup_future,
    )


def _accounts_for(firm_id: int, kind: MethodKind, currency: str) -> list[MerchantAccount]:
    """The firm's merchant accounts a method of `kind` in `currency` could be charged at."""
    accounts = db.session.scalars(
        select(MerchantAccount)
        .where(MerchantAccount.firm_id == firm_id, MerchantAccount.currency == currency)
        .order_by(MerchantAccount.id)
    )
    return [a for a in accounts if (a.accepts_card if kind is MethodKind.CARD else a.accepts_ach)]


def save_method(
    *,
    payer: Payer,
    kind: MethodKind,
    instrument: Instrument,
    currency: str,
    consent: ConsentGiven,
    home: MerchantAccount | None = None,
) -> SavedMethod:
    """Keep a card or bank account for `payer` at each of the firm's accounts that take it
    (commits before and after the processor calls).

    The processor keeps the method as tokens; we keep those, what the payer reads (brand, last
    four, expiry) and the consent. Accounts that share a vault at the processor (one Stripe
    account behind operating and trust) share one customer and one kept method: it is kept
    once there, and each of them gets its token. `home` is the account whose browser key made
    the instrument (a Stripe PaymentMethod): it can be kept only in that account's vault, so
    the other accounts are left out. The same card saved again replaces the older copy.
    Raises MethodNotSaved when no account would keep it.
    """
    db.session.commit()  # no transaction held across the processor calls
    customers: dict[str, str] = {}
    known = {t.merchant_account_id: t.customer_ref for m in payer.methods for t in m.tokens}
    vaults: dict[str, list[MerchantAccount]] = {}
    only = gateways.for_account(home).vault() if home is not None else None
    for account in _accounts_for(payer.firm_id, kind, currency):
        try:
            vault = gateways.for_account(account).vault()
        except gateways.StripeConfigurationError:
            log.warning("merchant account %s cannot reach Stripe: not kept there", account.id)
            continue
        if only is None or vault == only:
            vaults.setdefault(vault, []).append(account)
            if account.id in known:
                customers.setdefault(vault, known[account.id])
    kept = []
    refused: SaveRefused | None = None
    for vault, sharing in vaults.items():
        request = SaveRequest(
            merchant_account_id=sharing[0].id,
            method="card" if kind is MethodKind.CARD else "ach",
            instrument=instrument,
            payer_name=payer.name,
            payer_email=payer.email,
            customer_ref=customers.get(vault),
        )
        try:
            saved = gateways.for_account(sharing[0]).save_method(request)
        except SaveRefused as exc:
            refused = exc
            continue
        kept += [(account, saved) for account in sharing]
    if not kept:
        db.session.rollback()
        reason = refused.code if refused else "no_account"
        detail = refused.message if refused else "No account of the firm takes this method."
        raise MethodNotSaved(detail, reason=reason)
    first = kept[0][1]
    now = clock.now()
    method = SavedMethod(
        public_id=new_public_id(12),
        firm_id=payer.firm_id,
        payer=payer,  # in payer.methods at once: the older copies are found below
        kind=kind,
        brand=first.brand[:60],
        last4=first.last4[-4:],
        exp_month=first.exp_month,
        exp_year=first.exp_year,
        created_at=now,
    )
    for account, saved in kept:
        method.tokens.append(
            SavedToken(
                merchant_account_id=account.id,
                customer_ref=saved.customer_ref,
                method_ref=saved.method_ref,
            )
        )
    method.consents.append(
        Consent(
            firm_id=payer.firm_id,
            words=consent.words,
            given_at=now,
            how=consent.how,
            scope=consent.scope,
            staff_user_id=consent.staff_user_id,
            ip=(consent.ip or None) and str(consent.ip)[:64],
        )
    )
    db.session.add(method)
    db.session.commit()
    refs = {t.method_ref for t in method.tokens}
    for older in list(payer.methods):
        if older.id != method.id and older.removed_at is None and _same(older, method):
            # The same processor method kept again (a form sent twice) stays attached.
            detach = not refs & {t.method_ref for t in older.tokens}
            _remove(older, audit.SYSTEM, detach=detach, reason=REPLACED)
    return method


def record_consent(method: SavedMethod, consent: ConsentGiven) -> Consent:
    """Keep one more consent for a saved method, e.g. "this payment only" given by phone to
    staff before they charge it (commits)."""
    row = Consent(
        firm_id=method.firm_id,
        saved_method_id=method.id,
        words=consent.words,
        given_at=clock.now(),
        how=consent.how,
        scope=consent.scope,
        staff_user_id=consent.staff_user_id,
        ip=(consent.ip or None) and str(consent.ip)[:64],
    )
    with db.transaction():
        db.session.add(row)
    return row


def covering_consent(method: SavedMethod, scope: ConsentScope) -> Consent | None:
    """The latest consent of this scope for the method, if any."""
    found = [c for c in method.consents if c.scope is scope]
    return found[-1] if found else None


def _same(a: SavedMethod, b: SavedMethod) -> bool:
    return (a.kind, a.brand, a.last4, a.exp_month, a.exp_year) == (
        b.kind,
        b.brand,
        b.last4,
        b.exp_month,
        b.exp_year,
    )


#: Why the system forgets a method (audit reasons): a card just kept whose first payment is
#: declined, and an older copy of a method saved again.
DECLINED_FIRST = "declined on its first payment"
REPLACED = "the same method was saved again"


def remove_method(
    firm_id: int,
    client_id: int,
    public_id: str,
    *,
    actor: audit.Actor | None = None,
    reason: str | None = None,
) -> SavedMethod:
    """Forget a saved method here and at the processor (commits). Gone already is NotFound.

    With `actor` (a staff user in the console, an API key, the client on its pay page, the
    system dropping a card declined on its first payment, with `reason`), the removal is
    audited in the same transaction that marks the method removed."""
    return _remove(method_for_client(firm_id, client_id, public_id), actor, reason=reason)


def _remove(
    method: SavedMethod,
    actor: audit.Actor | None = None,
    *,
    detach: bool = True,
    reason: str | None = None,
) -> SavedMethod:
    db.session.commit()  # no transaction held across the processor calls
    done: set[tuple[str, str]] = set()
    for token in method.tokens if detach else ():
        account = db.session.get(MerchantAccount, token.merchant_account_id)
        if account is None or (token.customer_ref, token.method_ref) in done:
            continue  # accounts sharing a vault share the one copy: detached once
        done.add((token.customer_ref, token.method_ref))
        try:
            gateways.for_account(account).remove_method(token.customer_ref, token.method_ref)
        except Exception:
            # Kept as removed here either way: we never charge it again, and the processor's
            # copy (a token, no number) can be detached by hand.
            db.session.rollback()
            log.exception("detaching saved method %s failed", method.public_id)
    # Conditional: of two removals at once, one marks it removed and is audited.
    marked = db.session.execute(
        update(SavedMethod)
        .where(SavedMethod.id == method.id, SavedMethod.removed_at.is_(None))
        .values(removed_at=clock.now())
    )
    if actor is not None and getattr(marked, "rowcount", 0) == 1:
        audit.record(
            method.firm_id,
            actor,
            action="saved_method.removed",
            entity="saved_method",
            entity_id=method.public_id,
            field="removed",
            before=False,
            after=True,
            reason=reason,
        )
    db.session.commit()
    db.session.refresh(method)
    return method


# -- expiry ---------------------------------------------------------------------------------


def last_valid_day(method: SavedMethod) -> dt.date | None:
    """The last day a card can be charged (the end of its expiry month); None for banks."""
    if method.exp_year is None or method.exp_month is None:
        return None
    days = calendar.monthrange(method.exp_year, method.exp_month)[1]
    return dt.date(method.exp_year, method.exp_month, days)


def is_expiring(method: SavedMethod, today: dt.date) -> bool:
    """True for a card that stops working within EXPIRING_DAYS of `today` (or already has)."""
    last = last_valid_day(method)
    return last is not None and last <= today + dt.timedelta(days=EXPIRING_DAYS)


def expiring(firm_id: int, today: dt.date) -> list[SavedMethod]:
    """The firm's saved cards that expire within EXPIRING_DAYS of `today`, soonest first (for
    the console's "needs a person" list). Cards already expired are listed too."""
    horizon = today + dt.timedelta(days=EXPIRING_DAYS)
    methods = db.session.scalars(
        select(SavedMethod)
        .options(selectinload(SavedMethod.payer))
        .where(
            SavedMethod.firm_id == firm_id,
            SavedMethod.removed_at.is_(None),
            SavedMethod.exp_year.is_not(None),
            SavedMethod.exp_year <= horizon.year,
        )
    )
    found = [m for m in methods if is_expiring(m, today)]
    return sorted(found, key=lambda m: (last_valid_day(m) or today, m.id))
