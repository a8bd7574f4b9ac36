"""The query of the payment list (GET /api/v1/payments): the Payment Manager's filters, sort
and CSV switch, checked here and handed to `portal.payments.filters.PaymentFilters`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from portal.api.schemas.common import (
    ExternalId,
    IsoDate,
    ListQuery,
)
from portal.firms.models import MerchantAccountKind
from portal.money import MAX_MINOR
from portal.payments.filters import Sort
from portal.payments.models import (
    PaymentMethod,
    PaymentSource,
)
from portal.payments.numbers import read_payment_number
from portal.payments.queries import PaymentFilters, StatusFilter


def _not_before_created_from(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    start = info.data.get("created_from")
    if value is not None and start is not None and value < start:
        raise PydanticCustomError(
            "date_order",
            "must not be before created_from ({start})",
            {"start": start.isoformat()},
        )
    return value


def _not_below_amount_min(value: int | None, info: ValidationInfo) -> int | None:
    low = info.data.get("amount_min")
    if value is not None and low is not None and value < low:
        raise PydanticCustomError(
            "amount_order", "must not be less than amount_min ({low})", {"low": low}
        )
    return value


#: A query-string amount in minor units (text in the URL, so not strict).
QueryAmount = Annotated[int, Field(ge=0, le=MAX_MINOR)]


def _payment_number(value: str | None) -> str | None:
    if value is None:
        return None
    number = read_payment_number(value)
    if number is None:
        raise PydanticCustomError(
            "payment_number", "must be a payment number such as P-7K3Q-9M2X", {}
        )
    return number


class PaymentListQuery(ListQuery):
    """Query parameters of GET /payments: the page, its order, and conditions that must all
    hold."""

    status: StatusFilter | None = Field(
        default=None,
        description='A payment\'s `status`; or "canceled", for payments with a canceled charge.',
    )
    created_from: IsoDate | None = Field(
        default=None,
        description="Payments created on or after this day (YYYY-MM-DD) in the firm's time zone.",
    )
    created_to: Annotated[IsoDate | None, AfterValidator(_not_before_created_from)] = Field(
        default=None,
        description="Payments created on or before this day (YYYY-MM-DD) in the firm's time zone.",
    )
    matter: ExternalId | None = Field(
        default=None, description="Payments with an allocation to this matter (external id)."
    )
    client: ExternalId | None = Field(
        default=None, description="Payments made through links of this client (external id)."
    )
    invoice: ExternalId | None = Field(
        default=None, description="Payments with an allocation to this invoice (external id)."
    )
    unmatched: bool | None = Field(
        default=None,
        description="true: only payments from the public pay page whose reference matched "
        "nothing and that nobody has applied yet (`POST /payments/{id}/apply`); false: only "
        "the others.",
    )
    method: PaymentMethod | None = Field(default=None, description="card or ach.")
    account_kind: MerchantAccountKind | None = Field(
        default=None, description="Payments with a charge to this kind of merchant account."
    )
    source: PaymentSource | None = Field(
        default=None,
        description="Where the payment was started: a client's link, the pay button (the "
        "firm's public pay page) or the firm's staff.",
    )
    amount_min: QueryAmount | None = Field(
        default=None, description="Payments whose total is at least this (minor units)."
    )
    amount_max: Annotated[QueryAmount | None, AfterValidator(_not_below_amount_min)] = Field(
        default=None, description="Payments whose total is at most this (minor units)."
    )
    declines: bool = Field(
        default=True,
        description="false leaves out declined payments (every charge failed or was canceled).",
    )
    sort: Sort = Field(
        default=Sort.DATE,
        description='"date" (oldest first, the default), "-date" (newest first), "amount" '
        '(smallest first) or "-amount" (largest first); equal values keep the id order.',
    )
    format: Literal["json", "csv"] | None = Field(
        default=None,
        description='"csv" for text/csv (as does `Accept: text/csv`): the same payments in the '
        "same order, one row each; JSON otherwise.",
    )
    number: Annotated[
        str | None,
        StringConstraints(max_length=40),
        AfterValidator(_payment_number),
    ] = Field(
        default=None,
        description="The payment with this payment number (as the receipt shows it, "
        'e.g. "P-7K3Q-9M2X"; case, spaces and dashes do not matter).',
    )

    def filters(self, zone: dt.tzinfo) -> PaymentFilters:
        """The conditions, with dates read as days of `zone` (the firm's time zone)."""
        return PaymentFilters(
            status=self.status,
            created_from=self.created_from,
            created_to=self.created_to,
            zone=zone,
            matter=self.matter,
            client=self.client,
            invoice=self.invoice,
            unmatched=self.unmatched,
            method=self.method,
            account_kind=self.account_kind,
            source=self.source,
            amount_min=self.amount_min,
            amount_max=self.amount_max,
            declines=self.declines,
            number=self.number,
        )
