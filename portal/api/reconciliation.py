"""The reconciliation report under /api/v1: per merchant account and day, JSON or CSV.

The figures come from `portal.payments.reconciliation`; this module declares the route, its
query and answer models (which the OpenAPI document shows), and writes the CSV form.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from flask import Response, g
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from portal.api import csvout
from portal.api.schemas import IsoDate, Output
from portal.api.views import api
from portal.firms import scopes
from portal.firms.models import MerchantAccountKind
from portal.payments import reconciliation, reconciliation_export
from portal.payments.models import ChargeStatus
from portal.payments.queries import PaymentStatus
from portal.payments.reconciliation_export import CSV_HEADER


def _period(value: dt.date, info: ValidationInfo) -> dt.date:
    start = info.data.get("start")
    if start is None:
        return value
    if value < start:
        raise PydanticCustomError(
            "date_order", "must not be before from ({start})", {"start": start.isoformat()}
        )
    if (value - start).days + 1 > reconciliation.MAX_DAYS:
        raise PydanticCustomError(
            "date_order",
            "must be at most {most} days from from ({start}), both included",
            {"most": reconciliation.MAX_DAYS, "start": start.isoformat()},
        )
    return value


class ReconciliationQuery(BaseModel):
    """Query parameters of GET /reconciliation (query strings are text, so not strict)."""

    model_config = ConfigDict(extra="forbid")

    start: IsoDate = Field(
        alias="from", description="First day of the report (YYYY-MM-DD), in the firm's time zone."
    )
    to: Annotated[IsoDate, AfterValidator(_period)] = Field(
        description="Last day of the report (YYYY-MM-DD, the firm's time zone), inclusive: "
        "not before `from`, at most 366 days in all."
    )
    account: str | None = Field(
        default=None,
        max_length=40,
        description="Only this merchant account (its id): its lines and total, and the "
        "payments with activity on it (a trust charge's fee counts on operating). 404 if the "
        "firm has no such account.",
    )
    format: Literal["json", "csv"] | None = Field(
        default=None,
        description='"csv" for text/csv (as does `Accept: text/csv`); JSON otherwise.',
    )


class Figures(Output):
    """Integer minor units; net = gross - fees - refunds - returns - disputes."""

    gross: int = Field(description="Charges that succeeded (money received) that day.")
    fees: int = Field(
        description="Processing fees: always 0 on trust; a trust charge's fee is on operating."
    )
    refunds: int = Field(description="Succeeded refunds recorded that day.")
    returns: int = Field(description="What ACH returns took back that day.")
    disputes: int = Field(
        description="What disputes opened that day took back, less what disputes won gave back."
    )
    net: int

    @classmethod
    def fields_of(cls, amounts: reconciliation.Amounts) -> dict[str, int]:
        return {
            "gross": amounts.gross,
            "fees": amounts.fees,
            "refunds": amounts.refunds,
            "returns": amounts.returns,
            "disputes": amounts.disputes,
            "net": amounts.net,
        }


class ReconciliationLineOut(Figures):
    """One merchant account on one day (the firm's time zone) with activity."""

    kind: MerchantAccountKind
    label: str
    currency: str
    day: dt.date

    @classmethod
    def of(cls, line: reconciliation.Line) -> ReconciliationLineOut:
        account = line.account
        return cls(
            kind=account.kind,
            label=account.label,
            currency=account.currency,
            day=line.day,
            **cls.fields_of(line.amounts),
        )


class ReconciliationTotalOut(Figures):
    """One merchant account over the whole period: the sum of its lines."""

    kind: MerchantAccountKind
    label: str
    currency: str

    @classmethod
    def of(cls, total: reconciliation.AccountTotal) -> ReconciliationTotalOut:
        account = total.account
        return cls(
            kind=account.kind,
            label=account.label,
            currency=account.currency,
            **cls.fields_of(total.amounts),
        )


class ReconciledChargeOut(Output):
    id: str
    kind: MerchantAccountKind
    status: ChargeStatus
    amount: int
    fee: int = Field(description="Processing fee (0 until known), borne by operating.")
    refunded: int
    reversed: int = Field(
        description="What a return or dispute still holds back; 0 unless returned or disputed."
    )


class ReconciledPaymentOut(Output):
    id: str
    status: PaymentStatus
    currency: str
    created_at: dt.datetime
    charges: list[ReconciledChargeOut]

    @classmethod
    def of(cls, row: reconciliation.PaymentRow) -> ReconciledPaymentOut:
        return cls(
            id=row.public_id,
            status=row.status,  # type: ignore[arg-type]  # a PaymentStatus word
            currency=row.currency,
            created_at=row.created_at,
            charges=[
                ReconciledChargeOut(
                    id=charge.public_id,
                    kind=charge.kind,
                    status=charge.status,
                    amount=charge.amount,
                    fee=charge.fee,
                    refunded=charge.refunded,
                    reversed=charge.reversed,
                )
                for charge in row.charges
            ],
        )


class ReconciliationOut(Output):
    """The firm's money per merchant account and day (in its time zone), its totals, and the
    payments."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    start: dt.date = Field(serialization_alias="from")
    to: dt.date
    time_zone: str = Field(
        description="The IANA time zone whose days `from`, `to` and each line's `day` are: "
        "the firm's (midnight to midnight there)."
    )
    lines: list[ReconciliationLineOut] = Field(
        description="Per merchant account, per day with activity, oldest first."
    )
    totals: list[ReconciliationTotalOut] = Field(description="Per merchant account.")
    payments: list[ReconciledPaymentOut] = Field(
        description="Payments with a charge that succeeded, was refunded, returned or "
        "disputed in the period, oldest first."
    )

    @classmethod
    def of(cls, report: reconciliation.Report) -> ReconciliationOut:
        return cls(
            start=report.start,
            to=report.end,
            time_zone=report.time_zone,
            lines=[ReconciliationLineOut.of(line) for line in report.lines],
            totals=[ReconciliationTotalOut.of(total) for total in report.totals],
            payments=[ReconciledPaymentOut.of(row) for row in report.payments],
        )


#: How the document describes the text/csv form of the answer.
CSV_CONTENT = {
    "schema": {
        "type": "string",
        "description": "RFC 4180 CSV, CRLF line ends, one header row: "
        + ", ".join(CSV_HEADER)
        + ". `record` is day (one account's day), total (one account's period) or charge "
        "(one charge of a payment); amounts are integers of minor units of `currency`; cells "
        "a row kind does not use are empty. A text cell starting with = + - or @ is prefixed "
        "with ' so spreadsheets do not read it as a formula.",
    },
    "example": ",".join(CSV_HEADER)
    + "\r\nday,operating,Operating account,USD,2026-11-02,120000,3510,0,0,0,116490"
    + ",,,,,,,,\r\n",
}


@api.route(
    "GET",
    "/reconciliation",
    scope=scopes.PAYMENTS_READ,
    summary="Reconcile payments, fees, refunds and returns",
    tag="reconciliation",
    query=ReconciliationQuery,
    responses={200: ReconciliationOut},
    alternatives={200: {csvout.CSV_TYPE: CSV_CONTENT}},
    errors=(404,),
)
def get_reconciliation(query: ReconciliationQuery) -> ReconciliationOut | Response:
    """Per merchant account and day (the firm's time zone) from `from` to `to` (both inclusive,
    at most 366 days): gross receipts, processing fees (borne by operating: a trust line's fee
    is always 0), refunds, ACH returns and disputes, and net, in integer minor units; totals
    per account; and the payments involved, with each charge's amount, fee and refund. With
    `format=csv` or `Accept: text/csv`, the same as text/csv: one row per line ("day"), per
    account total ("total") and per charge ("charge"), under one header row."""
    report = reconciliation.report(g.firm_id, query.start, query.to, query.account)
    if csvout.wants_csv(query.format):
        return csvout.attachment(
            CSV_HEADER,
            reconciliation_export.rows(report),
            f"reconciliation-{query.start.isoformat()}-{query.to.isoformat()}.csv",
        )
    return ReconciliationOut.of(report)
