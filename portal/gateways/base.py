"""The one interface every payment processor adapter implements, and the data it speaks in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from portal.payments.models import ChargeStatus


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


@dataclass(frozen=True)
class RefundResult:
    gateway_ref: str
    status: str


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


class Gateway(Protocol):
    """A payment processor as the payment services see it."""

    name: str

    def charge(self, request: ChargeRequest, *, idempotency_key: str) -> ChargeResult:
        """Create and confirm one charge. The same key never charges twice."""
        ...

    def refund(self, gateway_ref: str, amount_minor: int, *, idempotency_key: str) -> RefundResult:
        """Give back part or all of a charge."""
        ...

    def fetch(self, gateway_ref: str) -> ChargeResult:
        """Ask the processor where a charge stands now."""
        ...
