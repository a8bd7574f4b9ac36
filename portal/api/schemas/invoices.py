"""Invoices: totals and balances in minor units, as the back office records them."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from portal.api.schemas.common import (
    NEXT_CURSOR,
    Amount,
    Currency,
    Description,
    ExternalId,
    Input,
    IsoDate,
    ListQuery,
    Number,
    Output,
    PaymentId,
)
from portal.backoffice.records import InvoiceRecord
from portal.billing.models import Invoice, InvoiceStatus
from portal.billing.services import InvoiceFilters


class InvoiceIn(Input):
    """An invoice, as the back office describes it."""

    matter: ExternalId = Field(description="External id of the invoice's matter.")
    number: Number
    issued_on: IsoDate
    due_on: IsoDate | None = Field(default=None, description="Not before issued_on.")
    currency: Currency
    total: Amount
    balance_due: Amount = Field(description="What is still owed: from 0 up to total.")
    description: Description = ""
    status: Literal["open", "void"] = Field(
        default="open",
        description='"void" voids the invoice; otherwise it is paid when the effective '
        "balance due is 0 and open when it is not.",
    )
    portal_payments: list[PaymentId] = Field(
        default=[],
        max_length=100,
        description="The echo of portal payments: ids of the payments taken through this "
        "portal that `balance_due` already reflects, because the back office has recorded "
        "them. List every such payment on every send; the list replaces the one sent before. "
        "The portal subtracts from `balance_due` each settled portal payment on this invoice "
        "that is NOT listed (it assumes the back office has not recorded it yet), and nothing "
        "for the listed ones, so a payment is never subtracted twice. Each id must be a "
        "payment of this firm with an allocation to this invoice.",
    )

    @field_validator("due_on")
    @classmethod
    def _due_after_issue(cls, due_on: dt.date | None, info: ValidationInfo) -> dt.date | None:
        issued_on = info.data.get("issued_on")
        if due_on is not None and issued_on is not None and due_on < issued_on:
            raise PydanticCustomError(
                "due_before_issue",
                "must not be before issued_on ({issued_on})",
                {"issued_on": issued_on.isoformat()},
            )
        return due_on

    @field_validator("balance_due")
    @classmethod
    def _within_total(cls, balance_due: int, info: ValidationInfo) -> int:
        total = info.data.get("total")
        if total is not None and balance_due > total:
            raise PydanticCustomError(
                "balance_over_total", "must not be more than total ({total})", {"total": total}
            )
        return balance_due

    def record(self, external_id: str) -> InvoiceRecord:
        return InvoiceRecord(
            external_id=external_id,
            matter=self.matter,
            number=self.number,
            issued_on=self.issued_on,
            due_on=self.due_on,
            currency=self.currency,
            total_minor=self.total,
            balance_due_minor=self.balance_due,
            description=self.description,
            is_void=self.status == "void",
            portal_payments=tuple(self.portal_payments),
        )


class InvoiceSyncIn(InvoiceIn):
    """An invoice inside a bulk sync."""

    external_id: ExternalId


class InvoiceOut(Output):
    external_id: str
    matter: str
    number: str
    issued_on: dt.date
    due_on: dt.date | None
    currency: str
    total: int
    balance_due: int = Field(
        description="What is still owed now: `synced_balance_due` less the settled portal "
        "payments on this invoice (net of refunds) that the back office has not listed in "
        "`portal_payments`; never below 0. Portal payments lower it as they settle."
    )
    synced_balance_due: int | None = Field(
        description="`balance_due` exactly as the back office last sent it; null if it was "
        "never sent through the API."
    )
    description: str
    status: Literal["open", "paid", "void"]
    paid_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceOut:
        return cls(
            external_id=invoice.external_id,
            matter=invoice.matter.external_id,
            number=invoice.number,
            issued_on=invoice.issued_on,
            due_on=invoice.due_on,
            currency=invoice.currency,
            total=invoice.total_minor,
            balance_due=invoice.balance_due_minor,
            synced_balance_due=invoice.synced_balance_minor,
            description=invoice.description,
            status=invoice.status.value,
            paid_at=invoice.paid_at,
            created_at=invoice.created_at,
            updated_at=invoice.updated_at,
        )


# Trust entries


class InvoicePage(Output):
    data: list[InvoiceOut]
    next_cursor: str | None = NEXT_CURSOR


class InvoiceListQuery(ListQuery):
    """Query parameters of GET /invoices: the page, and conditions that must all hold."""

    status: Literal["open", "paid", "void"] | None = Field(
        default=None, description="Invoices with this `status`."
    )
    client: ExternalId | None = Field(
        default=None, description="Invoices of this client's matters (external id)."
    )
    matter: ExternalId | None = Field(
        default=None, description="Invoices of this matter (external id)."
    )
    number: Number | None = Field(default=None, description="Invoices with exactly this number.")
    due_before: IsoDate | None = Field(
        default=None,
        description="Invoices due before this date (YYYY-MM-DD, not inclusive); invoices "
        "without a due date never match.",
    )
    due_after: IsoDate | None = Field(
        default=None,
        description="Invoices due after this date (YYYY-MM-DD, not inclusive); invoices "
        "without a due date never match.",
    )

    def filters(self) -> InvoiceFilters:
        return InvoiceFilters(
            status=None if self.status is None else InvoiceStatus(self.status),
            client=self.client,
            matter=self.matter,
            number=self.number,
            due_before=self.due_before,
            due_after=self.due_after,
        )
