"""Payers, their saved methods and the consent under which each method was kept.

A payer belongs to one client of one firm (the client itself, or a parent or employer who
pays for them) and may be attached to further clients of the same firm. A saved method holds
only the processor's tokens, one set per merchant account it can be charged at (a Stripe
Customer and PaymentMethod live on one account), with the brand or bank, the last four and the
expiry the payer reads: never a card or account number.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.db import Base, str_enum


class ConsentHow(enum.StrEnum):
    """How the payer agreed: ticking the box on the client's pay page, or by phone to staff."""

    CLIENT_PAY_PAGE = "client_pay_page"
    STAFF_PHONE = "staff_phone"


class ConsentScope(enum.StrEnum):
    """What the payer agreed to: this payment only, or future payments the firm starts."""

    THIS_PAYMENT = "this_payment"
    FUTURE_FIRM_INITIATED = "future_firm_initiated"


class MethodKind(enum.StrEnum):
    CARD = "card"
    BANK = "bank"


class Payer(Base):
    """Someone who pays for a client: the client, a parent, an employer."""

    __tablename__ = "payers"
    __table_args__ = (Index("ix_payers_firm_client", "firm_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random public id: the API's `payer`.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: The client this payer belongs to.
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    #: True for the client paying for themself (the pay page's saved cards).
    is_client: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    methods: Mapped[list[SavedMethod]] = relationship(
        back_populates="payer", order_by="SavedMethod.id"
    )


class PayerClient(Base):
    """A payer attached to another client of the same firm (a parent paying for two children)."""

    __tablename__ = "payer_clients"
    __table_args__ = (UniqueConstraint("payer_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    payer_id: Mapped[int] = mapped_column(ForeignKey("payers.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class SavedMethod(Base):
    """A card or bank account kept for later, as the processor's tokens and what people read."""

    __tablename__ = "saved_methods"
    __table_args__ = (Index("ix_saved_methods_firm_payer", "firm_id", "payer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random public id: the API's `payment_method`.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    payer_id: Mapped[int] = mapped_column(ForeignKey("payers.id", ondelete="CASCADE"))
    kind: Mapped[MethodKind] = mapped_column(str_enum(MethodKind, "saved_method_kind"))
    #: The card's brand ("visa") or the bank's name, as the processor reports it.
    brand: Mapped[str] = mapped_column(String(60), default="")
    last4: Mapped[str] = mapped_column(String(4))
    #: Cards only.
    exp_month: Mapped[int | None]
    exp_year: Mapped[int | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    removed_at: Mapped[dt.datetime | None]

    payer: Mapped[Payer] = relationship(back_populates="methods")
    tokens: Mapped[list[SavedToken]] = relationship(
        order_by="SavedToken.id", cascade="all, delete-orphan"
    )
    consents: Mapped[list[Consent]] = relationship(
        order_by="Consent.id", cascade="all, delete-orphan"
    )

    @property
    def consent(self) -> Consent | None:
        """The latest consent given for this method."""
        return self.consents[-1] if self.consents else None


class SavedToken(Base):
    """The processor's tokens for a saved method at one merchant account."""

    __tablename__ = "saved_tokens"
    __table_args__ = (UniqueConstraint("saved_method_id", "merchant_account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    saved_method_id: Mapped[int] = mapped_column(ForeignKey("saved_methods.id", ondelete="CASCADE"))
    merchant_account_id: Mapped[int] = mapped_column(ForeignKey("merchant_accounts.id"))
    #: A Stripe Customer id (cus_...) or the sandbox's.
    customer_ref: Mapped[str] = mapped_column(String(100))
    #: A Stripe PaymentMethod id (pm_...) or the sandbox's token.
    method_ref: Mapped[str] = mapped_column(String(100))


class Consent(Base):
    """The payer's agreement to keep a method: the exact words, when, how, for what, by whom."""

    __tablename__ = "payer_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    saved_method_id: Mapped[int] = mapped_column(ForeignKey("saved_methods.id", ondelete="CASCADE"))
    #: The words shown to (or read to) the payer, exactly as they were.
    words: Mapped[str] = mapped_column(Text)
    given_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    how: Mapped[ConsentHow] = mapped_column(str_enum(ConsentHow, "consent_how"))
    scope: Mapped[ConsentScope] = mapped_column(str_enum(ConsentScope, "consent_scope"))
    #: The staff user who took it by phone (None on the pay page).
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    #: Where the payer was, on the pay page.
    ip: Mapped[str | None] = mapped_column(String(64))
