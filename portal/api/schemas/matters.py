"""Matters: a client's case, its currency and its trust minimum."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from portal.api.schemas.common import (
    NEXT_CURSOR,
    Amount,
    Currency,
    ExternalId,
    Input,
    Number,
    Output,
    Title,
)
from portal.backoffice.records import MatterRecord
from portal.billing.models import Matter


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


class MatterPage(Output):
    data: list[MatterOut]
    next_cursor: str | None = NEXT_CURSOR
