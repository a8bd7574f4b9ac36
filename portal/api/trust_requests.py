"""The trust request endpoints: create, list, read and cancel requests, the evergreen setting,
and two reports (unpaid requests with their age; payments made through requests), JSON or CSV.

The rules live in `portal.trust_requests.services`; this module declares the routes and their
models (which the OpenAPI document shows). Every lookup is scoped to the calling firm.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from flask import Response, current_app, g
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo
from pydantic_core import PydanticCustomError

from portal.api import csvout
from portal.api.auth import actor
from portal.api.schemas import (
    Currency,
    ExternalId,
    Input,
    IsoDate,
    ListQuery,
    Output,
    encode_cursor,
)
from portal.api.views import api, page_size
from portal.backoffice import reports
from portal.firms import scopes
from portal.firms.models import EvergreenMode, Firm
from portal.firms.services import firm_by_id
from portal.money import MAX_MINOR
from portal.text import pydantic_text
from portal.trust_requests import services
from portal.trust_requests.models import (
    TrustRequest,
    TrustRequestKind,
    TrustRequestSource,
    TrustRequestStatus,
)

KindWord = Literal["retainer", "replenishment"]
StatusWord = Literal["open", "partially_paid", "paid", "canceled"]
ModeWord = Literal["off", "create", "create_and_email"]


class TrustRequestIn(Input):
    """A request for money into a matter's trust account."""

    matter: ExternalId = Field(description="External id of the matter the money is for.")
    amount: int = Field(
        strict=True,
        ge=1,
        le=MAX_MINOR,
        description="What is asked: a positive JSON integer of minor units (250000 is 2,500.00).",
        examples=[250000],
    )
    currency: Currency = Field(
        description="The matter's trust currency; the firm must have a trust account in it."
    )
    kind: KindWord = Field(
        description='"retainer" (a first deposit) or "replenishment" (a top-up).'
    )
    due_on: IsoDate | None = Field(default=None, description="Due date (YYYY-MM-DD), or null.")
    memo: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=500), pydantic_text(multiline=True)
    ] = Field(
        default="", description="Shown to the client with the request, and named on postings."
    )
    send: bool = Field(
        default=False,
        description="Email the client a 24-hour link to the request (in their language). "
        "A replayed request is not emailed again.",
    )

    def new(self) -> services.NewRequest:
        return services.NewRequest(
            matter=self.matter,
            amount_minor=self.amount,
            currency=self.currency,
            kind=TrustRequestKind(self.kind),
            due_on=self.due_on,
            memo=self.memo,
        )


class OptionalIdempotencyKey(BaseModel):
    """The header that makes creating a request safe to retry."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: str | None = Field(
        default=None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        pattern=r"^[\x20-\x7e]+$",
        description="Optional key of your choosing (1-100 printable ASCII characters). "
        "Sending the same key again answers 200 with the request the first call created "
        "(409 if the body differs) instead of creating a second one.",
    )


class TrustRequestOut(Output):
    id: str
    matter: str = Field(description="The matter's external id.")
    kind: TrustRequestKind
    status: TrustRequestStatus
    source: TrustRequestSource = Field(
        description='"api", or "evergreen" when the portal created it after a sync.'
    )
    currency: str
    amount: int
    paid: int = Field(
        description="What settled trust deposits allocated to the request hold, less refunds; "
        "it goes down again when a payment is refunded or returned."
    )
    remaining: int
    due_on: dt.date | None
    memo: str
    created_at: dt.datetime
    paid_at: dt.datetime | None
    canceled_at: dt.datetime | None
    emailed_at: dt.datetime | None = Field(
        description="When the client was last emailed a link to it."
    )

    @classmethod
    def of(cls, request: TrustRequest, matter: str) -> TrustRequestOut:
        return cls(
            id=request.public_id,
            matter=matter,
            kind=request.kind,
            status=request.status,
            source=request.source,
            currency=request.currency,
            amount=request.amount_minor,
            paid=request.paid_minor,
            remaining=request.remaining_minor,
            due_on=request.due_on,
            memo=request.memo,
            created_at=request.created_at,
            paid_at=request.paid_at,
            canceled_at=request.canceled_at,
            emailed_at=request.emailed_at,
        )


def _out(request: TrustRequest) -> TrustRequestOut:
    return TrustRequestOut.of(request, services.matter_external_ids([request])[request.matter_id])


class TrustRequestPage(Output):
    data: list[TrustRequestOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class TrustRequestListQuery(ListQuery):
    """Query parameters of GET /trust-requests: the page, and conditions that must all hold."""

    status: StatusWord | None = None
    matter: ExternalId | None = Field(default=None, description="A matter's external id.")
    kind: KindWord | None = None
    due_before: IsoDate | None = Field(default=None, description="Due strictly before this day.")
    due_after: IsoDate | None = Field(default=None, description="Due strictly after this day.")

    def filters(self) -> services.Filters:
        return services.Filters(
            status=None if self.status is None else TrustRequestStatus(self.status),
            matter=self.matter,
            kind=None if self.kind is None else TrustRequestKind(self.kind),
            due_before=self.due_before,
            due_after=self.due_after,
        )


class TrustRequestPath(BaseModel):
    id: Annotated[
        str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    ] = Field(description="The request's public id (`id`).")


@api.route(
    "POST",
    "/trust-requests",
    scope=scopes.LINKS,
    summary="Ask a client for money into trust",
    tag="trust requests",
    headers=OptionalIdempotencyKey,
    body=TrustRequestIn,
    responses={200: TrustRequestOut, 201: TrustRequestOut},
    errors=(404, 409),
)
def create_trust_request(
    headers: OptionalIdempotencyKey, body: TrustRequestIn
) -> tuple[TrustRequestOut, int]:
    """201 with the new request (status "open"). The client sees it on the matter's page with
    a "Pay this request" action; the payment is a trust deposit allocated to the request,
    never more than what is left, never to operating. 404 for a matter the firm does not have;
    422 for an amount below 1 or a currency other than the matter's trust currency. With an
    Idempotency-Key, a retry answers 200 with the same request."""
    request_, created = services.create_request(
        firm_id=g.firm_id, new=body.new(), idempotency_key=headers.idempotency_key, send=body.send
    )
    return _out(request_), 201 if created else 200


@api.route(
    "GET",
    "/trust-requests",
    scope=scopes.LINKS,
    summary="List trust requests",
    tag="trust requests",
    query=TrustRequestListQuery,
    responses={200: TrustRequestPage},
)
def list_trust_requests(query: TrustRequestListQuery) -> TrustRequestPage:
    """Oldest first; follow `next_cursor` until it is null. Every filter given must hold."""
    page = services.requests_page(
        firm_id=g.firm_id, filters=query.filters(), after_id=query.after_id, limit=page_size(query)
    )
    matters = services.matter_external_ids(page.items)
    return TrustRequestPage(
        data=[TrustRequestOut.of(item, matters[item.matter_id]) for item in page.items],
        next_cursor=encode_cursor(page.last_id),
    )


@api.route(
    "GET",
    "/trust-requests/<id>",
    scope=scopes.LINKS,
    summary="Read a trust request",
    tag="trust requests",
    path=TrustRequestPath,
    responses={200: TrustRequestOut},
    errors=(404,),
)
def get_trust_request(id: str) -> TrustRequestOut:
    return _out(services.request_for_firm(g.firm_id, id))


@api.route(
    "POST",
    "/trust-requests/<id>/cancel",
    scope=scopes.LINKS,
    summary="Cancel a trust request",
    tag="trust requests",
    path=TrustRequestPath,
    responses={200: TrustRequestOut},
    errors=(404, 409),
)
def cancel_trust_request(id: str) -> TrustRequestOut:
    """The client can no longer pay it; what was already paid stays in trust. Canceling again
    answers 200 with the first cancellation. 409 for a paid request, or while a payment on
    it is still processing."""
    return _out(services.cancel(firm_id=g.firm_id, public_id=id))


@api.route(
    "POST",
    "/trust-requests/<id>/send",
    scope=scopes.LINKS,
    summary="Email a trust request to the client",
    tag="trust requests",
    path=TrustRequestPath,
    responses={200: TrustRequestOut},
    errors=(404, 409),
)
def send_trust_request(id: str) -> TrustRequestOut:
    """Emails the client a fresh 24-hour link to the request, in their language. 409 when the
    request is no longer open or the client has no email address."""
    return _out(services.resend(firm_id=g.firm_id, public_id=id))


# The evergreen setting


class EvergreenIn(Input):
    mode: ModeWord = Field(
        description='"off"; "create": after a sync leaves a matter\'s trust balance below its '
        "`trust_minimum`, create a replenishment request for the shortfall; "
        '"create_and_email": create it and email it to the client.'
    )


class EvergreenOut(Output):
    mode: EvergreenMode
    due_days: int = Field(
        description="Days after its creation an evergreen request is due "
        "(setting TRUST_REQUEST_EVERGREEN_DUE_DAYS)."
    )

    @classmethod
    def of(cls, firm: Firm) -> EvergreenOut:
        return cls(
            mode=firm.evergreen_mode,
            due_days=int(current_app.config["TRUST_REQUEST_EVERGREEN_DUE_DAYS"]),
        )


@api.route(
    "GET",
    "/firm/evergreen",
    scope=scopes.SETTINGS,
    summary="Read the evergreen retainer setting",
    tag="trust requests",
    responses={200: EvergreenOut},
)
def get_evergreen() -> EvergreenOut:
    return EvergreenOut.of(firm_by_id(g.firm_id))


@api.route(
    "PUT",
    "/firm/evergreen",
    scope=scopes.SETTINGS,
    summary="Set the evergreen retainer setting",
    tag="trust requests",
    body=EvergreenIn,
    responses={200: EvergreenOut},
)
def put_evergreen(body: EvergreenIn) -> EvergreenOut:
    """At most one unpaid replenishment request per matter exists at a time: a sync that
    finds one already open creates no other."""
    return EvergreenOut.of(
        services.set_evergreen_mode(g.firm_id, EvergreenMode(body.mode), actor=actor())
    )


# Reports


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "csv"] | None = Field(
        default=None,
        description='"csv" for text/csv (as does `Accept: text/csv`); JSON otherwise.',
    )


def _not_before_start(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    start = info.data.get("start")
    if value is not None and start is not None and value < start:
        raise PydanticCustomError(
            "date_order", "must not be before from ({start})", {"start": start.isoformat()}
        )
    return value


class PaymentsReportQuery(ReportQuery):
    start: IsoDate | None = Field(
        None, alias="from", description="Payments made from this day on, in the firm's time zone."
    )
    to: Annotated[IsoDate | None, AfterValidator(_not_before_start)] = Field(
        None, description="Payments made up to this day (included), in the firm's time zone."
    )


class UnpaidRowOut(Output):
    id: str
    matter: str
    matter_number: str
    client: str
    kind: TrustRequestKind
    status: TrustRequestStatus
    source: TrustRequestSource
    currency: str
    amount: int
    paid: int
    remaining: int
    due_on: dt.date | None
    memo: str
    created_at: dt.datetime
    age_days: int = Field(description="Whole days since the request was created (UTC).")
    overdue: bool


class UnpaidReportOut(Output):
    """Every open or partly paid request, oldest first."""

    data: list[UnpaidRowOut]


class RequestPaymentOut(Output):
    trust_request: str
    kind: TrustRequestKind
    matter: str
    payment: str
    charge: str
    charge_status: str
    currency: str
    amount: int
    refunded: int
    created_at: dt.datetime
    succeeded_at: dt.datetime | None


class RequestPaymentsReportOut(Output):
    """Every payment allocation made to a trust request, oldest first, whatever its outcome
    (`charge_status` says whether the money arrived, failed or went back)."""

    data: list[RequestPaymentOut]


def _unpaid_rows() -> list[UnpaidRowOut]:
    return [
        UnpaidRowOut(
            id=row.request.public_id,
            matter=row.matter,
            matter_number=row.matter_number,
            client=row.client,
            kind=row.request.kind,
            status=row.request.status,
            source=row.request.source,
            currency=row.request.currency,
            amount=row.request.amount_minor,
            paid=row.request.paid_minor,
            remaining=row.request.remaining_minor,
            due_on=row.request.due_on,
            memo=row.request.memo,
            created_at=row.request.created_at,
            age_days=row.age_days,
            overdue=row.is_overdue,
        )
        for row in services.unpaid_report(g.firm_id)
    ]


def _csv_content(model: type[Output]) -> dict[str, Any]:
    """How the document describes a report's text/csv form: the model's fields as columns."""
    return {
        "schema": {
            "type": "string",
            "description": "RFC 4180 CSV, CRLF line ends, one header row: "
            + ", ".join(model.model_fields)
            + ". A text cell starting with = + - or @ is prefixed with ' so spreadsheets do "
            "not read it as a formula.",
        }
    }


@api.route(
    "GET",
    "/trust-request-reports/unpaid",
    scope=scopes.LINKS,
    summary="Report unpaid trust requests",
    tag="trust requests",
    query=ReportQuery,
    responses={200: UnpaidReportOut},
    alternatives={200: {csvout.CSV_TYPE: _csv_content(UnpaidRowOut)}},
)
def unpaid_trust_requests(query: ReportQuery) -> UnpaidReportOut | Response:
    """Open and partly paid requests with their age in days, oldest first. With `format=csv`
    or `Accept: text/csv`, the same rows as text/csv under one header row."""
    rows = _unpaid_rows()
    if csvout.wants_csv(query.format):
        return csvout.models_attachment(rows, UnpaidRowOut, "unpaid-trust-requests.csv")
    return UnpaidReportOut(data=rows)


@api.route(
    "GET",
    "/trust-request-reports/payments",
    scope=scopes.LINKS,
    summary="Report payments made through trust requests",
    tag="trust requests",
    query=PaymentsReportQuery,
    responses={200: RequestPaymentsReportOut},
    alternatives={200: {csvout.CSV_TYPE: _csv_content(RequestPaymentOut)}},
)
def trust_request_payments(query: PaymentsReportQuery) -> RequestPaymentsReportOut | Response:
    """Each trust deposit allocated to a request, with its payment and charge, oldest first;
    `from`/`to` limit it to payments made on those days of the firm's time zone (inclusive;
    `time_zone` on GET /firm). With `format=csv` or
    `Accept: text/csv`, the same rows as text/csv under one header row."""
    rows = [
        RequestPaymentOut(
            trust_request=row.request_id,
            kind=row.kind,
            matter=row.matter,
            payment=row.payment_id,
            charge=row.charge_id,
            charge_status=row.charge_status,
            currency=row.currency,
            amount=row.amount_minor,
            refunded=row.refunded_minor,
            created_at=row.created_at,
            succeeded_at=row.succeeded_at,
        )
        for row in reports.payments_report(g.firm_id, query.start, query.to)
    ]
    if csvout.wants_csv(query.format):
        return csvout.models_attachment(rows, RequestPaymentOut, "trust-request-payments.csv")
    return RequestPaymentsReportOut(data=rows)
