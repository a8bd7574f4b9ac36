"""The API's request and response shapes as pydantic models.

The same classes validate requests and describe them in the OpenAPI document. Request models
are strict: an amount is a JSON integer of minor units (10.0, "100" and true are refused), a
date is a "YYYY-MM-DD" string, and a field the model does not name is an error rather than
silently dropped. Checks that need the calling firm (its currencies, its link lifetime, the
sync cap) read them from the validation context the route registry passes in.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

from babel import Locale, UnknownLocaleError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from portal import clock
from portal.backoffice.records import (
    KINDS,
    ClientRecord,
    InvoiceRecord,
    MatterRecord,
    SyncBatch,
    SyncResult,
)
from portal.backoffice.services import TrustEntryRow
from portal.billing.models import Client, Invoice, Matter
from portal.config import MAX_LINK_SECONDS
from portal.firms.models import Firm, MerchantAccountKind
from portal.ledger.models import TrustEntry
from portal.ledger.services import TrustEntryRecord
from portal.links.models import Link, LinkDelivery
from portal.money import MAX_MINOR, is_currency
from portal.payments.models import (
    Allocation,
    AllocationKind,
    Charge,
    ChargeEvent,
    ChargeStatus,
    PaymentFlag,
    PaymentMethod,
    Refund,
)
from portal.payments.queries import PaymentFilters, PaymentStatus, PaymentView, StatusFilter

#: Most items one list endpoint returns per page.
MAX_PAGE_SIZE = 500


# Field types shared by several models.


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    # Only the calendar-date form: Python would also take "20240115" or "2024-W03-1".
    if isinstance(value, str):
        if not _ISO_DATE.fullmatch(value):
            raise PydanticCustomError("date_format", "must be a date written YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "date_format", "must be a real calendar date written YYYY-MM-DD"
            ) from None
    return value  # Anything else fails the strict date check with "date_type".


def _firm_currency(value: str, info: ValidationInfo) -> str:
    if not is_currency(value):
        raise PydanticCustomError(
            "currency_unknown", "must be an ISO 4217 currency code, not {value}", {"value": value}
        )
    allowed = (info.context or {}).get("currencies")
    if allowed is not None and value not in allowed:
        raise PydanticCustomError(
            "currency_not_used",
            "must be a currency this firm takes ({allowed}), not {value}",
            {"value": value, "allowed": ", ".join(sorted(allowed)) or "none"},
        )
    return value


@lru_cache(maxsize=1024)
def _locale(value: str) -> str:
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        raise PydanticCustomError(
            "locale_unknown",
            "must be a known locale such as en_US or es-US, not {value!r}",
            {"value": value},
        ) from None


def _not_zero(value: int) -> int:
    if value == 0:
        raise PydanticCustomError("amount_zero", "must not be zero")
    return value


def _link_lifetime(value: int, info: ValidationInfo) -> int:
    most = (info.context or {}).get("link_max_age", MAX_LINK_SECONDS)
    if value > most:
        raise PydanticCustomError("link_too_long", "must be at most {most} seconds", {"most": most})
    return value


ExternalId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[^/\x00-\x1f\x7f]+$"),
    Field(
        description="The back office's own id for the record, unique within the firm "
        "(1-100 characters, no '/').",
        examples=["C-1042"],
    ),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_firm_currency),
    Field(description="ISO 4217 code of a currency the firm takes.", examples=["USD"]),
]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
LocaleName = Annotated[
    str,
    StringConstraints(min_length=2, max_length=16),
    AfterValidator(_locale),
    Field(description="CLDR locale; es-US is read as es_US.", examples=["es_US"]),
]
Amount = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=MAX_MINOR,
        description="A JSON integer of minor units (12050 is 120.50 USD).",
        examples=[125000],
    ),
]
SignedAmount = Annotated[
    int,
    Field(
        strict=True,
        ge=-MAX_MINOR,
        le=MAX_MINOR,
        description="A non-zero JSON integer of minor units: deposits positive, "
        "disbursements negative.",
        examples=[250000, -40000],
    ),
    AfterValidator(_not_zero),
]
PaymentId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$"),
    Field(
        description="A portal payment's public id (`id` in /payments).",
        examples=["k3Jd9QpW2xZr7TfA"],
    ),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Number = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]


class Input(BaseModel):
    """A request body: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Output(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


# Clients


class ClientIn(Input):
    """A client, as the back office describes it."""

    name: Name
    email: EmailStr | None = None
    locale: LocaleName | None = Field(
        default=None, description="CLDR locale such as es_US; null means the firm's default."
    )

    def record(self, external_id: str) -> ClientRecord:
        return ClientRecord(
            external_id=external_id, name=self.name, email=self.email, locale=self.locale
        )


class ClientSyncIn(ClientIn):
    """A client inside a bulk sync."""

    external_id: ExternalId


class ClientOut(Output):
    external_id: str
    name: str
    email: str | None
    locale: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, client: Client) -> ClientOut:
        return cls(
            external_id=client.external_id,
            name=client.name,
            email=client.email,
            locale=client.locale,
            created_at=client.created_at,
            updated_at=client.updated_at,
        )


# Matters


class MatterIn(Input):
    """A matter, as the back office describes it."""

    client: ExternalId = Field(description="External id of the matter's client.")
    number: Number
    title: Title
    trust_minimum: Amount | None = Field(
        default=None, description="Evergreen retainer floor in minor units, or null for none."
    )
    currency: Currency | None = Field(
        default=None,
        description="Currency of the matter's trust money; defaults to the currency of the "
        "firm's trust merchant account.",
    )

    def record(self, external_id: str) -> MatterRecord:
        return MatterRecord(
            external_id=external_id,
            client=self.client,
            number=self.number,
            title=self.title,
            trust_minimum_minor=self.trust_minimum,
            currency=self.currency,
        )


class MatterSyncIn(MatterIn):
    """A matter inside a bulk sync."""

    external_id: ExternalId


class MatterOut(Output):
    external_id: str
    client: str
    number: str
    title: str
    trust_minimum: int | None
    currency: str
    trust_balance: int = Field(
        description="The matter's trust balance in minor units: the sum of its trust entries "
        "that count. A portal deposit that a back-office entry records (its `portal_payment`) "
        "counts once, through the back-office entry."
    )
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, matter: Matter, trust_balance: int) -> MatterOut:
        return cls(
            external_id=matter.external_id,
            client=matter.client.external_id,
            number=matter.number,
            title=matter.title,
            trust_minimum=matter.trust_minimum_minor,
            currency=matter.currency,
            trust_balance=trust_balance,
            created_at=matter.created_at,
            updated_at=matter.updated_at,
        )


# Invoices


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


class TrustEntryIn(Input):
    """A trust ledger entry. Once recorded it can be sent again unchanged, never changed."""

    matter: ExternalId = Field(description="External id of the entry's matter.")
    posted_on: IsoDate
    amount: SignedAmount
    currency: Currency = Field(description="Must be the matter's currency.")
    description: Description = ""
    portal_payment: PaymentId | None = Field(
        default=None,
        description="The echo of a portal payment: the id of the payment taken through this "
        "portal whose trust deposit this entry records. The portal's own ledger entry for that "
        "deposit then stops counting and this entry counts instead, so the money is in the "
        "trust balance once, whichever arrives first (if the deposit is still processing, "
        "the portal's entry is superseded when it settles). Only a positive entry can name a "
        "payment; it must be a payment of this firm with a trust deposit to this entry's "
        "matter, and each deposit can be recorded by one entry only. Part of the recorded "
        "entry: it cannot be added or changed later.",
    )

    def record(self, external_id: str) -> TrustEntryRecord:
        return TrustEntryRecord(
            external_id=external_id,
            matter=self.matter,
            posted_on=self.posted_on,
            amount_minor=self.amount,
            currency=self.currency,
            description=self.description,
            portal_payment=self.portal_payment,
        )


class TrustEntrySyncIn(TrustEntryIn):
    """A trust entry inside a bulk sync."""

    external_id: ExternalId


class TrustEntryOut(Output):
    external_id: str | None = Field(description="Null for entries the portal itself appended.")
    matter: str
    posted_on: dt.date
    amount: int
    currency: str
    description: str
    source: Literal["back_office", "portal"] = Field(
        description='"back_office" for entries sent through this API, "portal" for payments, '
        "refunds and reversals the portal appended itself."
    )
    portal_payment: str | None = Field(
        description="The portal payment this entry records (back office) or comes from (portal)."
    )
    superseded_by: str | None = Field(
        description="On a portal deposit: the external id of the back-office entry that "
        "records the same money. A superseded entry does not count in the trust balance."
    )
    created_at: dt.datetime

    @classmethod
    def of(
        cls,
        entry: TrustEntry,
        matter_external_id: str,
        portal_payment: str | None = None,
        superseded_by: str | None = None,
    ) -> TrustEntryOut:
        return cls(
            external_id=entry.external_id,
            matter=matter_external_id,
            posted_on=entry.posted_on,
            amount=entry.amount_minor,
            currency=entry.currency,
            description=entry.description,
            source="portal" if entry.source == "portal" else "back_office",
            portal_payment=portal_payment,
            superseded_by=superseded_by,
            created_at=entry.created_at,
        )

    @classmethod
    def of_row(cls, row: TrustEntryRow) -> TrustEntryOut:
        return cls.of(row.entry, row.matter, row.portal_payment, row.superseded_by)


# Lists


_NEXT_CURSOR = Field(description="Pass as `cursor` for the next page; null on the last page.")


class ClientPage(Output):
    data: list[ClientOut]
    next_cursor: str | None = _NEXT_CURSOR


class MatterPage(Output):
    data: list[MatterOut]
    next_cursor: str | None = _NEXT_CURSOR


class InvoicePage(Output):
    data: list[InvoiceOut]
    next_cursor: str | None = _NEXT_CURSOR


class TrustEntryPage(Output):
    data: list[TrustEntryOut]
    next_cursor: str | None = _NEXT_CURSOR


_CURSOR_PREFIX = "after:"


def encode_cursor(last_id: int | None) -> str | None:
    """An opaque cursor for "the rows after `last_id`" (None when there are no more)."""
    if last_id is None:
        return None
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues after; ValueError if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("cursor is not a cursor this API returned") from None
    number = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > 18:
        raise ValueError("cursor is not a cursor this API returned")
    return int(number)


def _check_cursor(value: str) -> str:
    try:
        decode_cursor(value)
    except ValueError:
        raise PydanticCustomError(
            "cursor_invalid", "is not a cursor this API returned; start without one"
        ) from None
    return value


Cursor = Annotated[str, StringConstraints(max_length=200), AfterValidator(_check_cursor)]


class ListQuery(BaseModel):
    """Query parameters of every list endpoint (query strings are text, so not strict)."""

    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Items per page, 1-500; the server's API_PAGE_SIZE (100) when left out.",
    )
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the previous page.")

    @property
    def after_id(self) -> int | None:
        return None if self.cursor is None else decode_cursor(self.cursor)


class ExternalIdPath(BaseModel):
    external_id: ExternalId


def _not_before_created_from(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    start = info.data.get("created_from")
    if value is not None and start is not None and value < start:
        raise PydanticCustomError(
            "date_order",
            "must not be before created_from ({start})",
            {"start": start.isoformat()},
        )
    return value


class PaymentListQuery(ListQuery):
    """Query parameters of GET /payments: the page, and conditions that must all hold."""

    status: StatusFilter | None = Field(
        default=None,
        description='A payment\'s `status`; or "canceled", for payments with a canceled charge.',
    )
    created_from: IsoDate | None = Field(
        default=None, description="Payments created on or after this UTC date (YYYY-MM-DD)."
    )
    created_to: Annotated[IsoDate | None, AfterValidator(_not_before_created_from)] = Field(
        default=None, description="Payments created on or before this UTC date (YYYY-MM-DD)."
    )
    matter: ExternalId | None = Field(
        default=None, description="Payments with an allocation to this matter (external id)."
    )
    client: ExternalId | None = Field(
        default=None, description="Payments made through links of this client (external id)."
    )

    def filters(self) -> PaymentFilters:
        return PaymentFilters(
            status=self.status,
            created_from=self.created_from,
            created_to=self.created_to,
            matter=self.matter,
            client=self.client,
        )


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


class LinkPath(BaseModel):
    id: str = Field(min_length=1, max_length=64, description="The link's public id.")


# Bulk sync


def _records_in(data: Mapping[str, Any]) -> int:
    return sum(len(items) for kind in KINDS if isinstance(items := data.get(kind), list))


class SyncIn(Input):
    """Records to upsert in one transaction: all of them, or none if any is refused."""

    clients: list[ClientSyncIn] = Field(default=[], description="Applied first.")
    matters: list[MatterSyncIn] = Field(default=[], description="Applied after clients.")
    invoices: list[InvoiceSyncIn] = Field(default=[], description="Applied after matters.")
    trust_entries: list[TrustEntrySyncIn] = Field(default=[], description="Applied last.")

    @model_validator(mode="before")
    @classmethod
    def _not_too_many(cls, data: Any, info: ValidationInfo) -> Any:
        # Counted before any record is validated, so an oversized batch costs little.
        most = (info.context or {}).get("max_records")
        if isinstance(data, Mapping) and most is not None and _records_in(data) > most:
            raise PydanticCustomError(
                "too_many_records",
                "a sync may carry at most {most} records; this one has {count}",
                {"most": most, "count": _records_in(data)},
            )
        return data

    def batch(self) -> SyncBatch:
        return SyncBatch(
            clients=[r.record(r.external_id) for r in self.clients],
            matters=[r.record(r.external_id) for r in self.matters],
            invoices=[r.record(r.external_id) for r in self.invoices],
            trust_entries=[r.record(r.external_id) for r in self.trust_entries],
        )


_SYNC_ITEMS: dict[str, type[Any]] = {
    "clients": ClientSyncIn,
    "matters": MatterSyncIn,
    "invoices": InvoiceSyncIn,
    "trust_entries": TrustEntrySyncIn,
}


def valid_part_of_sync(
    data: Mapping[str, Any], refused: set[tuple[str, int]], context: Mapping[str, Any]
) -> SyncBatch:
    """The records of a refused sync body that are valid on their own, with the rest as None.

    Lets the reference checks run on the good records too, so one answer lists every bad one.
    The refused records' external ids are passed on so references to them are not reported
    a second time.
    """
    lists: dict[str, list[Any]] = {}
    refused_ids: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for kind in KINDS:
        items = data.get(kind)
        lists[kind] = []
        for i, item in enumerate(items if isinstance(items, list) else []):
            record = None
            if (kind, i) not in refused:
                try:
                    parsed = _SYNC_ITEMS[kind].model_validate(item, context=context)
                    record = parsed.record(parsed.external_id)
                except ValidationError:
                    record = None
            if record is None and isinstance(item, Mapping):
                external_id = item.get("external_id")
                if isinstance(external_id, str):
                    refused_ids[kind].add(external_id)
            lists[kind].append(record)
    return SyncBatch(
        clients=lists["clients"],
        matters=lists["matters"],
        invoices=lists["invoices"],
        trust_entries=lists["trust_entries"],
        refused={kind: frozenset(ids) for kind, ids in refused_ids.items()},
    )


class RecordOutcome(Output):
    external_id: str
    outcome: Literal["created", "updated", "unchanged"]


class SyncResults(Output):
    clients: list[RecordOutcome]
    matters: list[RecordOutcome]
    invoices: list[RecordOutcome]
    trust_entries: list[RecordOutcome]


class OutcomeCounts(Output):
    created: int
    updated: int
    unchanged: int


class SyncCounts(Output):
    clients: OutcomeCounts
    matters: OutcomeCounts
    invoices: OutcomeCounts
    trust_entries: OutcomeCounts


class SyncOut(Output):
    """What happened to each record, in the order sent, and how many of each outcome."""

    results: SyncResults
    counts: SyncCounts

    @classmethod
    def of(cls, result: SyncResult) -> SyncOut:
        return cls.model_validate(
            {
                "results": {
                    kind: [
                        {"external_id": external_id, "outcome": outcome}
                        for external_id, outcome in result.outcomes[kind]
                    ]
                    for kind in KINDS
                },
                "counts": result.counts(),
            }
        )


# Links


EmailText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Signature = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class LinkSendIn(Input):
    """Email the new link to the client now."""

    email: EmailStr | None = Field(
        default=None, description="Where to send it; null means the client's email on file."
    )
    message: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
        | None
    ) = Field(
        default=None,
        description="Plain text shown above the link in place of the firm's default message.",
    )


class LinkIn(Input):
    """A request for a client link."""

    client: ExternalId = Field(description="External id of the client the link opens for.")
    matters: list[ExternalId] = Field(
        default=[],
        max_length=500,
        description="External ids of some of the client's matters to limit the link to; "
        "empty means all of them.",
    )
    expires_in: (
        Annotated[
            int,
            Field(strict=True, ge=60, le=MAX_LINK_SECONDS),
            AfterValidator(_link_lifetime),
        ]
        | None
    ) = Field(
        default=None,
        description="Seconds until the link expires, from 60 up to the server's "
        "LINK_MAX_AGE_SECONDS (86400), which is also the default.",
    )
    send: LinkSendIn | None = Field(
        default=None,
        description="Email the link to the client (text and HTML, in the client's locale, with "
        "the firm's name, colour, default message and signature). The email goes out once the "
        "link is saved; `deliveries` in the answer says whether the mail server took it.",
    )

    ar_note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        Field(
            default=None,
            description="The firm's note for the A/R message of payments made through this "
            "link; postings carry the firm's A/R message followed by it. Never shown to the "
            "client.",
        )
    )


class LinkDeliveryOut(Output):
    """One email that carried the link, and how far it got."""

    id: str
    origin: Literal["api", "fresh_link"] = Field(
        description="api: sent at the firm's request; fresh_link: the client asked for a fresh "
        "link from an expired or revoked link's page."
    )
    to: str
    state: Literal["queued", "sent", "failed", "opened", "paid"] = Field(
        description="queued until the mail server answers; then sent or failed; opened once the "
        "client opens the link; paid once a payment started from it succeeds."
    )
    error: str | None = Field(description="The mail server's answer when sending failed.")
    created_at: dt.datetime
    sent_at: dt.datetime | None
    failed_at: dt.datetime | None
    opened_at: dt.datetime | None
    paid_at: dt.datetime | None

    @classmethod
    def of(cls, delivery: LinkDelivery) -> LinkDeliveryOut:
        return cls(
            id=delivery.public_id,
            origin=delivery.origin.value,  # type: ignore[arg-type]
            to=delivery.recipient,
            state=delivery.state.value,  # type: ignore[arg-type]
            error=delivery.error,
            created_at=delivery.created_at,
            sent_at=delivery.sent_at,
            failed_at=delivery.failed_at,
            opened_at=delivery.opened_at,
            paid_at=delivery.paid_at,
        )


class LinkOut(Output):
    id: str = Field(description="The link's public id; the token is never shown again.")
    state: Literal["active", "expired", "revoked"]
    client: str
    matters: list[str] = Field(description="Matters the link is limited to; empty means all.")
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    first_opened_at: dt.datetime | None
    last_opened_at: dt.datetime | None
    open_count: int
    deliveries: list[LinkDeliveryOut] = Field(description="Emails that carried this link.")
    replaces: str | None = Field(
        description="For a fresh link the client asked for: the id of the expired or revoked "
        "link it replaces."
    )

    @classmethod
    def fields_of(cls, link: Link) -> dict[str, Any]:
        return {
            "id": link.public_id,
            "state": link.state(clock.now()),
            "client": link.client.external_id,
            "matters": [matter.external_id for matter in link.matters],
            "created_at": link.created_at,
            "expires_at": link.expires_at,
            "revoked_at": link.revoked_at,
            "first_opened_at": link.first_opened_at,
            "last_opened_at": link.last_opened_at,
            "open_count": link.open_count,
            "deliveries": [LinkDeliveryOut.of(d) for d in link.deliveries],
            "replaces": next(
                (d.replaces.public_id for d in link.deliveries if d.replaces is not None), None
            ),
        }

    @classmethod
    def of(cls, link: Link) -> LinkOut:
        return cls(**cls.fields_of(link))


class LinkCreatedOut(LinkOut):
    url: str = Field(description="The URL to send the client. Shown only in this response.")

    @classmethod
    def of_new(cls, link: Link, url: str) -> LinkCreatedOut:
        return cls(**cls.fields_of(link), url=url)


# The firm


class FirmPatchIn(Input):
    """Change some of the firm's settings; a field left out is left as it is."""

    email_message: EmailText | None = Field(
        default=None,
        description="Plain text shown above the link in every link email, unless a send gives "
        "its own message. Null or empty restores the built-in sentence.",
    )
    email_signature: Signature | None = Field(
        default=None,
        description="Plain text closing every link email. Null or empty means the firm's name.",
    )


class FirmOut(Output):
    name: str
    slug: str
    email_message: str | None
    email_signature: str | None

    @classmethod
    def of(cls, firm: Firm) -> FirmOut:
        return cls(
            name=firm.name,
            slug=firm.slug,
            email_message=firm.email_message,
            email_signature=firm.email_signature,
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

    @classmethod
    def of(cls, flag: PaymentFlag, charges: dict[int, str], view: PaymentView) -> PaymentFlagOut:
        return cls(
            code=flag.code,
            detail=flag.detail,
            charge=None if flag.charge_id is None else charges.get(flag.charge_id),
            matter=None if flag.matter_id is None else view.matters[flag.matter_id],
            created_at=flag.created_at,
        )


class PaymentOut(Output):
    """One submission by a payer, with its charges, allocations, history and flags."""

    id: str
    status: PaymentStatus = Field(
        description="One word for the whole payment, from its charges' statuses."
    )
    method: PaymentMethod
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
            status=view.status,  # type: ignore[arg-type]  # a PaymentStatus word
            method=payment.method,
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
    next_cursor: str | None = _NEXT_CURSOR


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
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = Field(
        default="", description="Kept in the charge's history."
    )

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


# Problems (RFC 9457)


class ProblemError(Output):
    pointer: str | None = Field(
        default=None, description="JSON Pointer (RFC 6901) to the offending body field."
    )
    parameter: str | None = Field(
        default=None, description="Name of the offending path or query parameter, or header."
    )
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemError] | None = None
