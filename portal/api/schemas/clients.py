"""Clients: what the firm's back office sends and reads back."""

from __future__ import annotations

import datetime as dt

from pydantic import EmailStr, Field

from portal.api.schemas.common import NEXT_CURSOR, ExternalId, Input, LocaleName, Name, Output
from portal.backoffice.records import ClientRecord
from portal.billing.models import Client

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


class ClientPage(Output):
    data: list[ClientOut]
    next_cursor: str | None = NEXT_CURSOR
