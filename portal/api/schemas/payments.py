"""Payments, their charges and allocations, and refunds."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from portal.api.schemas.common import (
    NEXT_CURSOR,
    ExternalId,
    Input,
    Output,
    PaymentId,
)
from portal.firms.models import MerchantAccountKind
from portal.money import MAX_MINOR
from portal.payments.models import (
    Allocation,
    AllocationKind,
    Charge,
    ChargeEvent,
    ChargeStatus,
    PaymentFlag,
    PaymentMethod,
    PaymentSource,
    Refund,
)
from portal.payments.queries import PaymentStatus, PaymentView
from portal.text import pydantic_text


class PaymentPath(BaseModel):
    id: PaymentId


class IdempotencyKeyHeader(BaseModel):
    """The header that makes a POST safe to retry."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: str = Field(
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        pattern=r"^[\x20-\x7e]+$",
        description="A key of your choosing (1-100 printable ASCII characters, e.g. a UUID), "
        "unique per refund request. Sending the same key again returns the refunds the first "
        "request made (200) instead of refunding twice.",
    )


# Payments


class MandateOut(Output):
    """The payer's ACH debit authorization."""

    accepted_at: dt.datetime
    ip: str | None


class MerchantAccountOut(Output):
    kind: MerchantAccountKind = Field(description="Invoices go to operating, deposits to trust.")
    label: str


class InstrumentOut(Output):
    """What may be shown of the card or bank account: brand or bank, and four digits."""

    brand: str | None
    last4: str | None


class ChargeEventOut(Output):
    """One change of a charge's status. The history is append-only, oldest first."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    from_status: ChargeStatus | None = Field(
        serialization_alias="from", description="Null for the first event."
    )
    to_status: ChargeStatus = Field(serialization_alias="to")
    source: str = Field(description='Who said so: "portal", "gateway" or "api".')
    source_ref: str | None = Field(
        description="The processor's event id, or the refund, behind the change."
    )
    reason: str
    amount: int | None
    recorded_at: dt.datetime

    @classmethod
    def of(cls, event: ChargeEvent) -> ChargeEventOut:
        return cls(
            from_status=event.from_status,
            to_status=event.to_status,
            source=event.source,
            source_ref=event.source_ref,
            reason=event.reason,
            amount=event.amount_minor,
            recorded_at=event.recorded_at,
        )


class ChargeOut(Output):
    """The part of a payment charged to one merchant account."""

    id: str
    merchant_account: MerchantAccountOut
    amount: int
    status: ChargeStatus
    gateway: str
    gateway_ref: str | None = Field(description="The processor's id for the charge.")
    instrument: InstrumentOut
    fee: int | None = Field(description="Processing fee, borne by operating; null until known.")
    refunded: int
    failure_code: str | None
    failure_message: str | None
    succeeded_at: dt.datetime | None
    settled_on: dt.date | None = Field(description="The day the money reached the bank.")
    events: list[ChargeEventOut]

    @classmethod
    def of(cls, charge: Charge) -> ChargeOut:
        return cls(
            id=charge.public_id,
            merchant_account=MerchantAccountOut(
                kind=charge.account_kind, label=charge.merchant_account.label
            ),
            amount=charge.amount_minor,
            status=charge.status,
            gateway=charge.gateway,
            gateway_ref=charge.gateway_ref,
            instrument=InstrumentOut(brand=charge.instrument_brand, last4=charge.instrument_last4),
            fee=charge.fee_minor,
            refunded=charge.refunded_minor,
            failure_code=charge.failure_code,
            failure_message=charge.failure_message,
            succeeded_at=charge.succeeded_at,
            settled_on=charge.settled_on,
            events=[ChargeEventOut.of(event) for event in charge.events],
        )


class AllocationOut(Output):
    """How much of a charge pays one invoice or goes into one matter's trust."""

    id: int = Field(description="Name it as `allocation` in a refund request.")
    charge: str = Field(description="The id of the charge it belongs to.")
    kind: AllocationKind
    invoice: str | None = Field(description="The invoice's external id; null for trust.")
    matter: str
    amount: int
    refunded: int
    acknowledged_at: dt.datetime | None = Field(
        description="Since when the back office lists this payment in the invoice's "
        "`portal_payments` (its balance already reflects it); null if it does not."
    )
    trust_request: str | None = Field(
        default=None,
        description="The id of the trust request this trust deposit pays; null for none.",
    )

    @classmethod
    def of(cls, line: Allocation, charge: Charge, view: PaymentView) -> AllocationOut:
        return cls(
            id=line.id,
            charge=charge.public_id,
            kind=line.kind,
            invoice=None if line.invoice_id is None else view.invoices[line.invoice_id],
            matter=view.matters[line.matter_id],
            amount=line.amount_minor,
            refunded=line.refunded_minor,
            acknowledged_at=line.acknowledged_at,
            trust_request=(
                None
                if line.trust_request_id is None
                else view.trust_requests[line.trust_request_id]
            ),
        )


class PaymentFlagOut(Output):
    """Something the firm must look at, such as a return that took trust below zero."""

    code: str
    detail: str
    charge: str | None
    matter: str | None
    created_at: dt.datetime
    resolved_at: dt.datetime | None = Field(
        default=None,
        description="When a person dealt with it (an unmatched payment applied); null while "
        "it still needs one.",
    )

    @classmethod
    def of(cls, flag: PaymentFlag, charges: dict[int, str], view: PaymentView) -> PaymentFlagOut:
        return cls(
            code=flag.code,
            detail=flag.detail,
            charge=None if flag.charge_id is None else charges.get(flag.charge_id),
            matter=None if flag.matter_id is None else view.matters[flag.matter_id],
            created_at=flag.created_at,
            resolved_at=flag.resolved_at,
        )


class PaymentOut(Output):
    """One submission by a payer, with its charges, allocations, history and flags."""

    id: str
    number: str = Field(
        description='The payment number the receipt shows first ("P-7K3Q-9M2X"): short, '
        "random and unique within the firm; quote it to the client."
    )
    status: PaymentStatus = Field(
        description="One word for the whole payment, from its charges' statuses."
    )
    method: PaymentMethod
    source: PaymentSource = Field(
        description="Where it was started: a client's link, the pay button, or staff."
    )
    currency: str
    total: int
    payer_name: str
    payer_email: str | None
    client: str | None = Field(
        description="The client's external id; null for a payment through the firm's public "
        "pay page whose reference matched no invoice or matter."
    )
    payer_reference: str | None = Field(
        description="What the payer typed as the reference on the public pay page (invoice "
        "or matter number); null for payments through client links."
    )
    mandate: MandateOut | None = Field(description="The ACH authorization; null for cards.")
    created_at: dt.datetime
    charges: list[ChargeOut]
    allocations: list[AllocationOut]
    flags: list[PaymentFlagOut]

    @classmethod
    def of(cls, view: PaymentView) -> PaymentOut:
        payment = view.payment
        mandate = None
        if payment.mandate_accepted_at is not None:
            mandate = MandateOut(accepted_at=payment.mandate_accepted_at, ip=payment.mandate_ip)
        charges = {charge.id: charge.public_id for charge in payment.charges}
        return cls(
            id=payment.public_id,
            number=payment.number,
            status=view.status,  # type: ignore[arg-type]  # a PaymentStatus word
            method=payment.method,
            source=payment.source,
            currency=payment.currency,
            total=payment.total_minor,
            payer_name=payment.payer_name,
            payer_email=payment.payer_email,
            client=view.client,
            payer_reference=payment.payer_reference,
            mandate=mandate,
            created_at=payment.created_at,
            charges=[ChargeOut.of(charge) for charge in payment.charges],
            allocations=[
                AllocationOut.of(line, charge, view)
                for charge in payment.charges
                for line in charge.allocations
            ],
            flags=[PaymentFlagOut.of(flag, charges, view) for flag in payment.flags],
        )


class PaymentPage(Output):
    data: list[PaymentOut]
    next_cursor: str | None = NEXT_CURSOR


# Applying an unmatched payment


class ApplyIn(Input):
    """Where to apply an unmatched payment: an invoice, or a matter's trust (one of the two)."""

    invoice: ExternalId | None = Field(
        default=None, description="The external id of the invoice to pay with it."
    )
    matter: ExternalId | None = Field(
        default=None, description="The external id of the matter whose trust receives it."
    )

    @model_validator(mode="after")
    def _one_target(self) -> ApplyIn:
        if (self.invoice is None) == (self.matter is None):
            raise PydanticCustomError(
                "apply_target", "must name either an invoice or a matter, not both or neither"
            )
        return self


# Refunds


class RefundLineIn(Input):
    """How much to give back from one allocation."""

    allocation: int = Field(
        strict=True, ge=1, description="An allocation's `id`, from the payment's `allocations`."
    )
    amount: Annotated[
        int,
        Field(
            strict=True,
            ge=1,
            le=MAX_MINOR,
            description="Minor units, at most what is left to refund on the allocation.",
        ),
    ]


class RefundIn(Input):
    """What to refund. Without allocations, everything left to refund on the payment."""

    allocations: list[RefundLineIn] = Field(
        default=[],
        max_length=100,
        description="Empty or left out: refund what is left of every allocation. A trust "
        "refund may not exceed the matter's trust balance.",
    )
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=300), pydantic_text()
    ] = Field(default="", description="Kept in the charge's history (one line).")

    @field_validator("allocations")
    @classmethod
    def _each_once(cls, lines: list[RefundLineIn]) -> list[RefundLineIn]:
        seen: set[int] = set()
        for line in lines:
            if line.allocation in seen:
                raise PydanticCustomError(
                    "allocation_twice",
                    "must name each allocation once; {allocation} is named twice",
                    {"allocation": line.allocation},
                )
            seen.add(line.allocation)
        return lines


class RefundOut(Output):
    id: str
    allocation: int
    amount: int
    status: Literal["pending", "succeeded", "failed"] = Field(
        description="What the processor answered."
    )
    reason: str
    created_at: dt.datetime

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(
            id=refund.public_id,
            allocation=refund.allocation_id,
            amount=refund.amount_minor,
            status=refund.status,  # type: ignore[arg-type]  # the service writes these three
            reason=refund.reason,
            created_at=refund.created_at,
        )


class RefundsOut(Output):
    """The refunds the request made (or made the first time, on a replay), and the payment."""

    refunds: list[RefundOut]
    payment: PaymentOut
