"""A client's saved payment methods, and a payment the firm starts with one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from portal.api.schemas.common import Amount, ExternalId, Input, Output
from portal.payers.models import SavedMethod

PublicId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$"),
]


class ClientMethodPath(BaseModel):
    external_id: ExternalId
    id: PublicId


class PayerOut(Output):
    id: str = Field(description="The payer's id (`payer` in POST /payments).")
    name: str
    email: str | None
    is_client: bool = Field(description="True when the client pays for themself.")


class ConsentOut(Output):
    scope: Literal["this_payment", "future_firm_initiated"] = Field(
        description="`future_firm_initiated`: the payer agreed to payments the firm starts "
        "(POST /payments); `this_payment`: only the payment it was given with."
    )
    how: Literal["client_pay_page", "staff_phone"]
    given_at: dt.datetime
    words: str = Field(description="The exact words the payer agreed to.")


class PaymentMethodOut(Output):
    id: str = Field(description="The saved method's id (`payment_method` in POST /payments).")
    payer: PayerOut
    kind: Literal["card", "bank"]
    brand: str = Field(description='The card brand ("visa") or the name of the bank.')
    last4: str
    exp_month: int | None
    exp_year: int | None
    expiring: bool = Field(description="A card that stops working within 30 days (or has).")
    consent: ConsentOut | None
    created_at: dt.datetime

    @classmethod
    def of(cls, method: SavedMethod, *, expiring: bool) -> PaymentMethodOut:
        consent = method.consent
        return cls(
            id=method.public_id,
            payer=PayerOut(
                id=method.payer.public_id,
                name=method.payer.name,
                email=method.payer.email,
                is_client=method.payer.is_client,
            ),
            kind=method.kind.value,
            brand=method.brand,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
            expiring=expiring,
            consent=None
            if consent is None
            else ConsentOut(
                scope=consent.scope.value,
                how=consent.how.value,
                given_at=consent.given_at,
                words=consent.words,
            ),
            created_at=method.created_at,
        )


class PaymentMethodList(Output):
    data: list[PaymentMethodOut]


class ChargeLineIn(Input):
    """`{"invoice": ..., "amount": ...}` pays an invoice; `{"matter": ..., "trust_amount": ...}`
    deposits into the matter's trust."""

    invoice: ExternalId | None = None
    amount: Amount | None = None
    matter: ExternalId | None = None
    trust_amount: Amount | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ChargeLineIn:
        invoice = self.invoice is not None and self.amount is not None
        deposit = self.matter is not None and self.trust_amount is not None
        given = [
            v for v in (self.invoice, self.amount, self.matter, self.trust_amount) if v is not None
        ]
        if invoice == deposit or len(given) != 2:
            raise PydanticCustomError(
                "line_kind",
                "a line is either {invoice, amount} or {matter, trust_amount}",
            )
        return self


class FirmPaymentIn(Input):
    """A payment the firm starts with a payer's saved method (off-session)."""

    client: ExternalId = Field(description="The client's external id.")
    payer: PublicId = Field(description="A payer of the client (`payer.id` in payment-methods).")
    payment_method: PublicId = Field(description="One of that payer's saved methods.")
    lines: list[ChargeLineIn] = Field(min_length=1, max_length=100)
    ar_note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        Field(default=None, description="For the payment's postings; never shown to the payer.")
    )


class ChargeKeyHeader(BaseModel):
    """The header that makes a payment safe to retry."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: str = Field(
        alias="Idempotency-Key",
        min_length=1,
        max_length=90,
        pattern=r"^[\x20-\x7e]+$",
        description="A key of your choosing (1-90 printable ASCII characters, e.g. a UUID), "
        "one per payment. Sending the same key again returns the first payment (200) and "
        "charges nothing.",
    )
