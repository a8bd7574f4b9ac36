"""Client links: issuing, sending and reading them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, EmailStr, Field, StringConstraints

from portal import clock
from portal.api.schemas.common import (
    NEXT_CURSOR,
    ExternalId,
    Input,
    ListQuery,
    Output,
    link_lifetime,
)
from portal.config import MAX_LINK_SECONDS
from portal.links.models import Link, LinkDelivery, LinkLine
from portal.links.services import LinkFilters
from portal.money import MAX_MINOR
from portal.text import pydantic_text


class LinkPath(BaseModel):
    id: str = Field(min_length=1, max_length=64, description="The link's public id.")


# Links


EmailText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2000), pydantic_text(multiline=True)
]
Signature = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=1000), pydantic_text(multiline=True)
]


class LinkSendIn(Input):
    """Email the new link to the client now."""

    email: EmailStr | None = Field(
        default=None, description="Where to send it; null means the client's email on file."
    )
    message: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
            pydantic_text(multiline=True),
        ]
        | None
    ) = Field(
        default=None,
        description="Plain text shown above the link in place of the firm's default message.",
    )


MinorAmount = Annotated[int, Field(strict=True, ge=1, le=MAX_MINOR)]


class LinkLineIn(Input):
    """One line of the allocation the link carries: an invoice and the amount to pay on it,
    or a matter and a trust deposit into it."""

    invoice: ExternalId | None = Field(
        default=None, description="External id of one of the client's open invoices."
    )
    amount: MinorAmount | None = Field(
        default=None,
        description="With `invoice`: what to pay on it, in minor units, at most what is left.",
    )
    matter: ExternalId | None = Field(
        default=None, description="External id of one of the client's matters."
    )
    trust_amount: MinorAmount | None = Field(
        default=None, description="With `matter`: the trust deposit, in minor units."
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
            AfterValidator(link_lifetime),
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

    lines: list[LinkLineIn] = Field(
        default=[],
        max_length=500,
        description="Send for payment: the allocation the link carries, e.g. "
        '`[{"invoice": "INV-1", "amount": 25000}, {"matter": "M-1", "trust_amount": 50000}]`. '
        "The client's pay page opens with exactly these lines and amounts; the client may "
        "lower an amount only where the firm allows partial payments, never raise one or add "
        "a line. Each invoice must be the client's, open, and the amount at most what is left "
        "on it; each line names an invoice or a matter, once; all in one currency. A bad "
        "line is a 422 naming it (`/lines/<i>/...`). The link is limited to the lines' "
        "matters (and `matters`, if any).",
    )
    ar_note: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), pydantic_text()]
        | None
    ) = Field(
        default=None,
        description="The firm's note for the A/R message of payments made through this "
        "link; postings carry the firm's A/R message followed by it. Never shown to the "
        "client.",
    )


class LinkDeliveryOut(Output):
    """One email that carried the link, and how far it got."""

    id: str
    origin: Literal["api", "console", "fresh_link"] = Field(
        description="api: sent at the firm's request through the API; console: sent by a staff "
        "user from the console; fresh_link: the client asked for a fresh link from an expired "
        "or revoked link's page."
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
            origin=delivery.origin.value,
            to=delivery.recipient,
            state=delivery.state.value,
            error=delivery.error,
            created_at=delivery.created_at,
            sent_at=delivery.sent_at,
            failed_at=delivery.failed_at,
            opened_at=delivery.opened_at,
            paid_at=delivery.paid_at,
        )


class LinkLineOut(Output):
    invoice: str | None = Field(description="The invoice's external id; null for a deposit.")
    amount: int | None = Field(description="What to pay on the invoice, in minor units.")
    matter: str = Field(description="The matter's external id (the invoice's, or the deposit's).")
    trust_amount: int | None = Field(description="The trust deposit, in minor units.")

    @classmethod
    def of(cls, line: LinkLine) -> LinkLineOut:
        invoice = line.invoice
        return cls(
            invoice=invoice.external_id if invoice is not None else None,
            amount=line.amount_minor if invoice is not None else None,
            matter=line.matter.external_id,
            trust_amount=None if invoice is not None else line.amount_minor,
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
    lines: list[LinkLineOut] = Field(
        description="The allocation the link carries (send for payment); empty for none."
    )
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
            "lines": [LinkLineOut.of(line) for line in link.lines],
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


class LinkListQuery(ListQuery):
    """Query parameters of GET /links: the page, and conditions that must all hold."""

    client: ExternalId | None = Field(
        default=None, description="Links of this client (external id)."
    )
    matter: ExternalId | None = Field(
        default=None,
        description="Links that can see this matter (external id): those limited to it, and "
        "its client's links limited to no matter.",
    )
    state: Literal["active", "expired", "revoked"] | None = Field(
        default=None, description="Links in this `state` now."
    )

    def filters(self) -> LinkFilters:
        return LinkFilters(client=self.client, matter=self.matter, state=self.state)


class LinkPage(Output):
    data: list[LinkOut]
    next_cursor: str | None = NEXT_CURSOR
