"""Trust entries: the back office's trust ledger, echoed and synced."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from portal.api.schemas.common import (
    NEXT_CURSOR,
    Currency,
    Description,
    ExternalId,
    Input,
    IsoDate,
    ListQuery,
    Output,
    PaymentId,
    SignedAmount,
)
from portal.backoffice.services import TrustEntryRow
from portal.ledger.models import TrustEntry
from portal.ledger.services import TrustEntryRecord


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


class TrustEntryPage(Output):
    data: list[TrustEntryOut]
    next_cursor: str | None = NEXT_CURSOR


class TrustEntryListQuery(ListQuery):
    """Query parameters of GET /trust-entries: the page, and an optional matter."""

    matter: ExternalId | None = Field(
        default=None,
        description="Only this matter's entries (external id; another firm's matches nothing).",
    )
