"""The one interface every payment processor adapter implements, and the data it speaks in.

The charge status vocabulary lives here, below both the gateways (which report statuses) and
payments (which records them): `portal.payments.models` re-exports it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class ChargeStatus(enum.StrEnum):
    CREATED = "created"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    RETURNED = "returned"
    DISPUTED = "disputed"


#: Charges whose money is on its way: their allocations hold a reservation on invoices.
IN_FLIGHT = frozenset({ChargeStatus.CREATED, ChargeStatus.PROCESSING})
#: Charges whose money the firm holds (less any part refunded). A disputed charge is not
#: one of them: the processor takes the money back when the dispute opens.
SETTLED = frozenset({ChargeStatus.SUCCEEDED, ChargeStatus.PARTIALLY_REFUNDED})


class BadSignature(Exception):
    """A processor event's signature did not verify; nothing in it may be trusted."""


@dataclass(frozen=True)
class SavedRef:
    """A saved method's tokens at one merchant account: the processor's customer and method."""

    merchant_account_id: int
    customer_ref: str
    method_ref: str


@dataclass(frozen=True)
class Instrument:
    """What the payer entered. The sandbox reads test numbers; Stripe gets a PaymentMethod id.

    Full numbers live only in this object for the length of one call; nothing stores them.
    """

    card_number: str | None = None
    card_expiry: str | None = None
    card_cvc: str | None = None
    card_holder: str | None = None
    routing_number: str | None = None
    account_number: str | None = None
    account_holder: str | None = None
    #: "checking" or "savings".
    account_type: str | None = None
    #: A Stripe PaymentMethod id (pm_...) collected by the Payment Element.
    payment_method_id: str | None = None
    #: A saved method's tokens, one per merchant account it was saved at (portal.payers).
    saved: tuple[SavedRef, ...] = ()
    #: True when the payer is not there to answer their bank (a charge the firm starts).
    off_session: bool = False
    #: True for a card the payer read to staff by phone or mail (a MOTO payment): set only by
    #: the console's manual entry (portal.payments.staff_payments); Stripe exempts it from SCA.
    moto: bool = False
    #: True for a bank debit the payer authorised to staff by a recorded call or in writing,
    #: on no page of ours (the console's manual entry): Stripe records the mandate as offline
    #: acceptance, and verifies typed account numbers by micro-deposits.
    offline_mandate: bool = False
    #: The account holder's email, where the processor sends what the payer must do (Stripe's
    #: micro-deposit instructions for a bank account typed by staff).
    holder_email: str | None = None
    #: True for the first charge of a method just kept with the payer's consent to payments
    #: the firm starts: the processor sets the method up for those later off-session charges
    #: (Stripe's setup_future_usage "off_session"). Never for "this payment only" consent.
    setup_future: bool = False

    def saved_at(self, merchant_account_id: int) -> SavedRef | None:
        """The saved method's tokens at this merchant account, if it was saved there."""
        return next((r for r in self.saved if r.merchant_account_id == merchant_account_id), None)

    def __repr__(self) -> str:  # Never let a card or account number reach a log or traceback.
        return "Instrument(<redacted>)"


@dataclass(frozen=True)
class ChargeRequest:
    """Charge `amount_minor` of `currency` to one merchant account, once."""

    charge_ref: str
    merchant_account_id: int
    amount_minor: int
    currency: str
    method: str
    instrument: Instrument
    description: str
    payer_email: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    mandate_ip: str | None = None
    mandate_user_agent: str | None = None


@dataclass(frozen=True)
class SaveRequest:
    """Keep a card or bank account at one merchant account, for later charges."""

    merchant_account_id: int
    #: "card" or "ach".
    method: str
    instrument: Instrument
    payer_name: str
    payer_email: str | None = None
    #: The processor's customer this payer already has at the account, if any.
    customer_ref: str | None = None
    #: Makes the processor calls idempotent (a retried save creates one customer, attaches
    #: once): set when the save is a step of a payment, derived from the payment's key.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SavedInstrument:
    """What the processor kept: its tokens, and what the payer reads about the method."""

    customer_ref: str
    method_ref: str
    brand: str
    last4: str
    exp_month: int | None = None
    exp_year: int | None = None


class SaveRefused(Exception):
    """The processor would not keep the method (a number it does not take, an expired card)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class GatewayEvent:
    """A verified processor event, translated into what the portal acts on."""

    event_id: str
    type: str
    gateway_ref: str | None
    #: Our charge's public id, from the processor object's metadata.
    charge_ref: str | None
    #: The charge status this event implies, or None when it implies none.
    status: ChargeStatus | None
    occurred_at: dt.datetime
    amount_minor: int | None = None
    brand: str | None = None
    last4: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    fee_minor: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ChargeResult:
    """What the processor answered: its id for the charge and where the charge now stands."""

    gateway_ref: str
    status: ChargeStatus
    brand: str | None = None
    last4: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    fee_minor: int | None = None
    #: For processors that need the browser to finish (3-D Secure): the client secret.
    client_secret: str | None = None
    #: Events the processor produced during the call and hands back instead of delivering
    #: them to the hook (the sandbox): the caller applies them as received events, after
    #: recording this result.
    events: tuple[GatewayEvent, ...] = ()


@dataclass(frozen=True)
class RefundResult:
    gateway_ref: str
    status: str
    #: As on ChargeResult: events handed back to the caller, applied after the result.
    events: tuple[GatewayEvent, ...] = ()


class Gateway(Protocol):
    """A payment processor as the payment services see it."""

    name: str

    def charge(self, request: ChargeRequest, *, idempotency_key: str) -> ChargeResult:
        """Create and confirm one charge. The same key never charges twice."""
        ...

    def refund(self, gateway_ref: str, amount_minor: int, *, idempotency_key: str) -> RefundResult:
        """Give back part or all of a charge. The same key returns the first refund again."""
        ...

    def fetch(self, gateway_ref: str) -> ChargeResult:
        """Ask the processor where a charge stands now."""
        ...

    def find_charge(self, charge_ref: str, *, idempotency_key: str) -> ChargeResult | None:
        """Find the charge a create call that got no answer may have made, by our own
        reference and key; None when the processor never received it."""
        ...

    def fetch_refund(self, refund_ref: str) -> RefundResult:
        """Ask the processor where a refund stands now (a pending one settles later)."""
        ...

    def authenticate(self, gateway_ref: str, *, approved: bool) -> ChargeResult:
        """Finish a charge waiting for the payer's bank (3-D Secure) with the bank's answer.

        The sandbox's test bank page gives the answer; where the processor's own browser
        script talks to the bank (Stripe.js), this only asks where the charge stands.
        """
        ...

    def cancel(self, gateway_ref: str, *, idempotency_key: str) -> ChargeResult:
        """Cancel a charge still waiting for the payer's bank (3-D Secure never finished).

        Nothing was charged. A charge that has moved on meanwhile (the payer finished just
        now) is not canceled: the answer says where it stands.
        """
        ...

    def save_method(self, request: SaveRequest) -> SavedInstrument:
        """Keep a card or bank account for later charges (a Customer with the method attached).

        Raises SaveRefused when the processor will not keep it.
        """
        ...

    def remove_method(self, customer_ref: str, method_ref: str) -> None:
        """Forget a saved method at the processor (detach it); removing it again is no error."""
        ...

    def parse_event(self, body: bytes, signature: str | None) -> GatewayEvent:
        """Verify a delivered event's signature with this account's secret, then translate it.

        Raises BadSignature when the signature (or the body) cannot be trusted.
        """
        ...

    def publishable_key(self) -> str:
        """The key the browser's payment form needs for this account ("" when none is needed)."""
        ...

    def vault(self) -> str:
        """Where this account keeps customers and saved methods at the processor.

        Accounts with the same vault are one processor account (e.g. an operating account and
        a trust account charged through the same Stripe platform): a method kept there serves
        them all, through one customer. A method made or kept in one vault cannot be used in
        another. The value names the place without revealing any key.
        """
        ...
