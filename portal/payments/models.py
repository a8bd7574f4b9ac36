"""Payments, one charge per merchant account, allocations, and the append-only charge history.

A payment is what the payer submitted once. It becomes one charge per merchant account
(invoice allocations to operating, trust deposits to trust), so client money and the firm's
money never ride in one charge. Each charge moves through `ALLOWED` only, and every move is
a `ChargeEvent` row: the history is never overwritten.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.db import Base, str_enum
from portal.firms.models import MerchantAccount, MerchantAccountKind

# The status vocabulary lives below payments and gateways (gateways/base.py); re-exported.
from portal.gateways.base import IN_FLIGHT as IN_FLIGHT
from portal.gateways.base import SETTLED as SETTLED
from portal.gateways.base import ChargeStatus as ChargeStatus
from portal.payments import numbers


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    ACH = "ach"


S = ChargeStatus
#: The only moves a charge may make. Anything else is refused (and, from a gateway, ignored
#: as out-of-order news, e.g. "processing" arriving after "succeeded").
ALLOWED: dict[ChargeStatus, frozenset[ChargeStatus]] = {
    S.CREATED: frozenset({S.PROCESSING, S.SUCCEEDED, S.FAILED, S.CANCELED}),
    S.PROCESSING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELED}),
    S.SUCCEEDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.RETURNED, S.DISPUTED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED}),
    S.DISPUTED: frozenset({S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.REFUNDED: frozenset(),
    S.RETURNED: frozenset(),
}


class PaymentSource(enum.StrEnum):
    """Where a payment was started: a client's link, the firm's pay button (its public pay
    page), or the firm's own staff."""

    LINK = "link"
    PAY_BUTTON = "pay_button"
    STAFF = "staff"


class AllocationKind(enum.StrEnum):
    INVOICE = "invoice"
    TRUST_DEPOSIT = "trust_deposit"


class Payment(Base):
    """One submission by a payer: a basket split into one charge per merchant account."""

    __tablename__ = "payments"
    __table_args__ = (
        # A double click, a second tab or a retried post carries the same key: one payment.
        UniqueConstraint("firm_id", "idempotency_key"),
        # The number people read is unique per firm (portal.payments.numbers draws again).
        UniqueConstraint("firm_id", "number"),
        Index("ix_payments_firm_created", "firm_id", "created_at"),
        Index("ix_payments_client_id", "client_id"),
        Index("ix_payments_firm_source", "firm_id", "source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random public id: the receipt's address and the API's id.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: The payment number people read ("P-7K3Q-9M2X"), random and unique within the firm
    #: (portal.payments.numbers); shown first on receipts, with the processor's references
    #: after it.
    number: Mapped[str] = mapped_column(String(16), default=lambda: numbers.new_payment_number())
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: None for a payment through the firm's public pay page whose reference matched nothing.
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="SET NULL"))
    #: The reference an anonymous payer typed on the public pay page (invoice or matter
    #: number), as typed; None for payments through a client link.
    payer_reference: Mapped[str | None] = mapped_column(String(64))
    #: The amount that payer typed (minor units), when the server charged less (capped at an
    #: invoice's balance) or not at all yet: shown back instead of `total_minor` until the
    #: payment succeeds, so a stranger's declined probe never learns a balance.
    payer_typed_minor: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    #: Where the payment was started (link, pay button, staff); the Payment Manager filters on it.
    source: Mapped[PaymentSource] = mapped_column(
        str_enum(PaymentSource, "payment_source"), default=PaymentSource.LINK
    )
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod, "payment_method"))
    currency: Mapped[str] = mapped_column(String(3))
    #: Sum of the charges, in minor units of `currency`.
    total_minor: Mapped[int] = mapped_column(BigInteger)
    payer_name: Mapped[str] = mapped_column(String(200), default="")
    #: The payer's own address, one address or None: what postings (`payer.email`), the
    #: Payment Manager's CSV and the processor are given. For a payment staff took in the
    #: console it is the payer's when staff gave one (a saved payer's, the new payer's
    #: "Payer's email"), else None: the Receipts field may name anybody (staff themselves).
    payer_email: Mapped[str | None] = mapped_column(String(254))
    #: Where the receipt emails go when staff typed the addresses (source "staff"): a JSON
    #: list, each one address, maybe empty (none typed: no receipt). None for every other
    #: payment, whose receipts go to `payer_email`. See `receipt_to`.
    receipt_emails: Mapped[list[str] | None] = mapped_column(JSON)
    #: The locale of the page the payer paid on ("es_US"): their receipt emails are in it.
    #: None for payments made before it was kept: the client's record decides.
    payer_locale: Mapped[str | None] = mapped_column(String(16))
    #: ACH authorization (NACHA mandate): when, from where, and which text was accepted.
    mandate_accepted_at: Mapped[dt.datetime | None]
    mandate_ip: Mapped[str | None] = mapped_column(String(64))
    mandate_user_agent: Mapped[str | None] = mapped_column(String(400))
    mandate_text: Mapped[str | None] = mapped_column(Text)
    #: The A/R note for this payment's postings, copied from its link when it started (so
    #: later edits of the link do not change it); back office only, never shown to the payer.
    ar_note: Mapped[str | None] = mapped_column(String(200))
    #: The staff user who took the payment in the console (source "staff"); None otherwise,
    #: and once that user is removed.
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    charges: Mapped[list[Charge]] = relationship(
        back_populates="payment", order_by="Charge.id", cascade="all, delete-orphan"
    )
    flags: Mapped[list[PaymentFlag]] = relationship(
        back_populates="payment", order_by="PaymentFlag.id"
    )

    @property
    def receipt_to(self) -> list[str]:
        """Every address a receipt email goes to: the ones staff typed, else the payer's."""
        if self.receipt_emails is not None:
            return list(self.receipt_emails)
        return [self.payer_email] if self.payer_email else []


class Charge(Base):
    """The part of a payment that goes to one merchant account, charged once at the gateway."""

    __tablename__ = "charges"
    __table_args__ = (
        UniqueConstraint("gateway", "gateway_ref"),
        Index("ix_charges_payment_id", "payment_id"),
        Index("ix_charges_firm_status", "firm_id", "status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refunded_within_amount"
        ),
        CheckConstraint("fee_minor IS NULL OR fee_minor >= 0", name="fee_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    merchant_account_id: Mapped[int] = mapped_column(ForeignKey("merchant_accounts.id"))
    #: Copied from the merchant account so reports can split trust from operating cheaply.
    account_kind: Mapped[MerchantAccountKind] = mapped_column(
        str_enum(MerchantAccountKind, "charge_account_kind")
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[ChargeStatus] = mapped_column(str_enum(ChargeStatus, "charge_status"))
    gateway: Mapped[str] = mapped_column(String(20))
    #: The processor's id for this charge (a PaymentIntent id), once it has one.
    gateway_ref: Mapped[str | None] = mapped_column(String(100))
    #: Sent with every create/confirm call so a retry can never charge twice.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod, "charge_method"))
    #: What the receipt may show of the instrument: brand or bank, and the last four digits.
    instrument_brand: Mapped[str | None] = mapped_column(String(40))
    instrument_last4: Mapped[str | None] = mapped_column(String(4))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    #: Processing fee in minor units, borne by operating (never trust), once known.
    fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    succeeded_at: Mapped[dt.datetime | None]
    #: The day the money reached the bank (the "posted date"), when known.
    settled_on: Mapped[dt.date | None] = mapped_column(Date)

    payment: Mapped[Payment] = relationship(back_populates="charges")
    merchant_account: Mapped[MerchantAccount] = relationship()
    allocations: Mapped[list[Allocation]] = relationship(
        back_populates="charge", order_by="Allocation.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[ChargeEvent]] = relationship(
        back_populates="charge", order_by="ChargeEvent.id", cascade="all, delete-orphan"
    )

    @property
    def unapplied_minor(self) -> int:
        """What no allocation names: money from the public pay page for the firm to apply."""
        return self.amount_minor - sum(line.amount_minor for line in self.allocations)


class Allocation(Base):
    """How much of a charge pays one invoice, or goes into one matter's trust."""

    __tablename__ = "allocations"
    __table_args__ = (
        Index("ix_allocations_charge_id", "charge_id"),
        Index("ix_allocations_invoice_id", "invoice_id"),
        Index("ix_allocations_matter_id", "matter_id"),
        Index("ix_allocations_trust_request_id", "trust_request_id"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refunded_within_amount"
        ),
        CheckConstraint(
            "(kind = 'invoice' AND invoice_id IS NOT NULL)"
            " OR (kind = 'trust_deposit' AND invoice_id IS NULL)",
            name="target_matches_kind",
        ),
        CheckConstraint(
            "trust_request_id IS NULL OR kind = 'trust_deposit'", name="request_only_on_trust"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id", ondelete="CASCADE"))
    kind: Mapped[AllocationKind] = mapped_column(str_enum(AllocationKind, "allocation_kind"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id"))
    #: The trust request a trust deposit pays (portal.trust_requests), if it pays one.
    trust_request_id: Mapped[int | None] = mapped_column(ForeignKey("trust_requests.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: When the back office said its own figures include this allocation (see the API's
    #: `portal_payments` field), so a synced balance is not reduced by it a second time.
    acknowledged_at: Mapped[dt.datetime | None]

    charge: Mapped[Charge] = relationship(back_populates="allocations")


class ChargeEvent(Base):
    """One state change of a charge: when, from what, to what, and why. Never updated."""

    __tablename__ = "charge_events"
    __table_args__ = (Index("ix_charge_events_charge_id", "charge_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id", ondelete="CASCADE"))
    from_status: Mapped[ChargeStatus | None] = mapped_column(
        str_enum(ChargeStatus, "charge_event_from")
    )
    to_status: Mapped[ChargeStatus] = mapped_column(str_enum(ChargeStatus, "charge_event_to"))
    #: Who said so: "portal", "gateway" or "api".
    source: Mapped[str] = mapped_column(String(20))
    #: The gateway event id, refund id or request that caused it, when there is one.
    source_ref: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(300), default="")
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    charge: Mapped[Charge] = relationship(back_populates="events")


class Refund(Base):
    """Money given back from one allocation of a charge, asked for through the API."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("firm_id", "idempotency_key"),
        Index("ix_refunds_charge_id", "charge_id"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id", ondelete="CASCADE"))
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    gateway_ref: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


#: The flag the public pay page puts on a payment whose reference matched nothing.
UNMATCHED = "unmatched"

#: Refund states in which the money is not (or no longer) on its way back to the payer.
NOT_REFUNDING = ("failed", "canceled")
#: The refund states the portal records; any other word from a processor (Stripe's
#: "requires_action") is kept as "pending" and asked about again later.
REFUND_STATES = ("pending", "succeeded", *NOT_REFUNDING)


class ReviewedBasket(Base):
    """A basket as its review page showed it, kept server-side (never in a URL): it lets the
    payer confirm it within a short grace after the link expires, and a fresh link reopen it.
    """

    __tablename__ = "reviewed_baskets"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_reviewed_baskets_link_id", "link_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    #: The key the review's confirm form pays under (`checkout_forms.link_idempotency_key`).
    idempotency_key: Mapped[str] = mapped_column(String(100))
    #: The confirm form's basket fields, as a JSON list of [name, value] pairs in form order.
    fields: Mapped[list[list[str]]] = mapped_column(JSON)
    #: The total the review showed, in minor units of `currency`.
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class PaymentFlag(Base):
    """A loud mark for the firm: e.g. a reversal that took a matter's trust below zero."""

    __tablename__ = "payment_flags"
    __table_args__ = (
        Index("ix_payment_flags_payment_id", "payment_id"),
        Index("ix_payment_flags_firm_code", "firm_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("charges.id", ondelete="CASCADE"))
    matter_id: Mapped[int | None] = mapped_column(ForeignKey("matters.id"))
    code: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: When a person dealt with it (an unmatched payment applied); None while it needs one.
    resolved_at: Mapped[dt.datetime | None]

    payment: Mapped[Payment] = relationship(back_populates="flags")


class FailedAttempt(Base):
    """A declined or refused payment attempt, counted per link, per IP and per firm against card
    testing."""

    __tablename__ = "failed_attempts"
    __table_args__ = (
        Index("ix_failed_attempts_link_at", "link_id", "at"),
        Index("ix_failed_attempts_ip_at", "ip", "at"),
        Index("ix_failed_attempts_firm_at", "firm_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The firm whose page the attempt was made on (None for rows recorded before it was kept).
    firm_id: Mapped[int | None] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    code: Mapped[str] = mapped_column(String(60))


def payment_status(payment: Payment) -> str:
    """One word for the whole payment, from its charges' states."""
    statuses = {charge.status for charge in payment.charges}
    if statuses & IN_FLIGHT:
        return "processing" if S.PROCESSING in statuses else "created"
    if statuses <= {S.FAILED, S.CANCELED}:
        return "failed"
    if statuses & {S.FAILED, S.CANCELED}:
        return "partially_failed"
    if len(statuses) == 1:
        return next(iter(statuses)).value
    return "succeeded"


class StaffPaymentDraft(Base):
    """One staff user's Make a payment in progress (portal.payments.drafts): the search
    criteria, whether to start from them every time, and the ticked lines, kept across
    searches and sign-ins until the payment is taken or sent."""

    __tablename__ = "staff_payment_drafts"

    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: The last search's criteria (a JSON object of strings, as typed).
    criteria: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: "Use this every time": step 1 is skipped and these criteria searched at once.
    criteria_saved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The ticked lines: ["invoice", id] and ["matter", id] pairs, in the order ticked.
    selected: Mapped[list[list[str | int]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
