"""A trust request: an amount the firm asks a client to deposit into one matter's trust account.

`paid_minor` and `reserved_minor` are never added to or taken from by hand when money moves:
whenever a charge paying the request moves, the payments side reports the totals of its settled
and in-flight allocations that name the request (see `holds.recompute`), so a failed, refunded
or returned payment takes its part back by itself. Only starting a payment raises
`reserved_minor` directly (`holds.hold`), under the request's row lock.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.billing.models import Matter
from portal.db import Base, str_enum


class TrustRequestKind(enum.StrEnum):
    #: The first deposit an engagement asks for.
    RETAINER = "retainer"
    #: A top-up of trust money already spent (evergreen retainers ask for these).
    REPLENISHMENT = "replenishment"


class TrustRequestStatus(enum.StrEnum):
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    CANCELED = "canceled"


class TrustRequestSource(enum.StrEnum):
    #: Created by the back office through the API.
    API = "api"
    #: Created by the portal after a sync left trust below the matter's minimum.
    EVERGREEN = "evergreen"


#: Requests a client can still pay.
PAYABLE = frozenset({TrustRequestStatus.OPEN, TrustRequestStatus.PARTIALLY_PAID})

#: Condition of the index that allows one unpaid evergreen request per matter at a time.
_ONE_OPEN_EVERGREEN = text("source = 'evergreen' AND status IN ('open', 'partially_paid')")


class TrustRequest(Base):
    """An amount asked of a client, paid by trust deposits allocated to it."""

    __tablename__ = "trust_requests"
    __table_args__ = (
        UniqueConstraint("firm_id", "idempotency_key"),
        Index("ix_trust_requests_firm_status", "firm_id", "status"),
        Index("ix_trust_requests_matter_status", "matter_id", "status"),
        # Two syncs at once can never both create the matter's evergreen request.
        Index(
            "uq_trust_requests_open_evergreen",
            "matter_id",
            unique=True,
            sqlite_where=_ONE_OPEN_EVERGREEN,
            postgresql_where=_ONE_OPEN_EVERGREEN,
        ),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("paid_minor >= 0", name="paid_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random public reference used in the API, emails and postings.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id", ondelete="CASCADE"))
    kind: Mapped[TrustRequestKind] = mapped_column(str_enum(TrustRequestKind, "trust_request_kind"))
    status: Mapped[TrustRequestStatus] = mapped_column(
        str_enum(TrustRequestStatus, "trust_request_status")
    )
    source: Mapped[TrustRequestSource] = mapped_column(
        str_enum(TrustRequestSource, "trust_request_source")
    )
    #: What is asked, in minor units of `currency` (the matter's trust currency).
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: What settled trust deposits allocated to this request hold now, less refunds.
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: What payments still in flight (e.g. a bank debit clearing) hold on this request: raised
    #: when a payment is started (`holds.hold`) and set from the payments side's own totals
    #: whenever one of its charges moves (`holds.recompute`).
    reserved_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    #: Shown to the client with the request, and named on postings.
    memo: Mapped[str] = mapped_column(String(500), default="")
    #: The API caller's Idempotency-Key, digested (see services.key_digest); None if none sent.
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: When the paid amount first reached the amount asked (cleared if money went back).
    paid_at: Mapped[dt.datetime | None]
    canceled_at: Mapped[dt.datetime | None]
    #: When the client was last emailed a link to the request.
    emailed_at: Mapped[dt.datetime | None]

    matter: Mapped[Matter] = relationship()

    @property
    def remaining_minor(self) -> int:
        """What is still asked, ignoring payments in flight (see holds.PayableRequest)."""
        return max(self.amount_minor - self.paid_minor, 0)
