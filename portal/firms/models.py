"""Firms (tenants) and their posting settings, merchant accounts with posting defaults, API keys."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.db import Base, str_enum
from portal.ids import new_public_id


class MerchantAccountKind(enum.StrEnum):
    OPERATING = "operating"
    TRUST = "trust"


class AutoApplyOrder(enum.StrEnum):
    """The order in which a typed total is applied to open invoices (console and client)."""

    #: Oldest due date first (no due date last), then oldest issued.
    OLDEST_DUE = "oldest_due"
    #: Oldest issue date first.
    OLDEST_ISSUED = "oldest_issued"
    #: Smallest amount payable first, so as many invoices as possible are paid off.
    SMALLEST_FIRST = "smallest_first"


class EvergreenMode(enum.StrEnum):
    """What the portal does when a sync leaves a matter's trust below its minimum."""

    OFF = "off"
    #: Create a replenishment request for the shortfall.
    CREATE = "create"
    #: Create it and email the client a link to it.
    CREATE_AND_EMAIL = "create_and_email"


class Firm(Base):
    """A law firm; every other record belongs to exactly one."""

    __tablename__ = "firms"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: URL-safe short name, used in public URLs such as /pay/<slug>.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Brand colour as #rrggbb, shown on every client page; None means the portal's own.
    brand_colour: Mapped[str | None] = mapped_column(String(7))
    #: Where the portal writes when something needs a person, e.g. a webhook endpoint it
    #: had to disable. None means nobody is told by email (the endpoint.disabled event still is).
    notify_email: Mapped[str | None] = mapped_column(String(254))
    #: Post each payment to the back office as soon as it happens. When off, payment postings
    #: wait as "ready to post" until the firm releases them.
    auto_post: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: Postings carry the posted date (the day the money reached the bank) as their posting
    #: date instead of the transaction date (the day the payer paid).
    use_posted_date: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The A/R message on every posting; None means the WEBHOOK_DEFAULT_AR_MESSAGE setting.
    #: The back office sees it, the client never does.
    ar_message: Mapped[str | None] = mapped_column(String(200))
    #: The firm's website origins ("https://host[:port]") that may show the pay button and
    #: receive the hosted page's completion message. A JSON list of strings.
    website_origins: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    #: Whether the pay button and /pay/<slug> offer "Deposit to trust" to anyone who knows a
    #: matter number.
    public_trust_deposits: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    #: Hex SHA-256 of the firm's logo (stored in firm_logos); it names the logo's URL, so the
    #: URL changes whenever the logo does and browsers may cache it for good. None: no logo.
    logo_digest: Mapped[str | None] = mapped_column(String(64))
    #: Evergreen retainers: after a back-office sync leaves a matter's trust balance below its
    #: minimum, create (and perhaps email) a replenishment request for the shortfall.
    evergreen_mode: Mapped[EvergreenMode] = mapped_column(
        str_enum(EvergreenMode, "evergreen_mode"),
        default=EvergreenMode.OFF,
        server_default=EvergreenMode.OFF.value,
    )
    #: The firm's default words in every link email (plain text, shown above the link);
    #: a message given with one send replaces it. None means a short built-in sentence.
    email_message: Mapped[str | None] = mapped_column(Text)
    #: Plain-text signature closing every link email (name, phone, address); None for none.
    email_signature: Mapped[str | None] = mapped_column(Text)
    #: Refunds of more than this many minor units (of the firm's currency,
    #: `firms.services.firm_currency`) ask the staff user for their password again in the
    #: console; None: never. A refund in another currency always asks while it is set.
    refund_reauth_above_minor: Mapped[int | None] = mapped_column(BigInteger)
    #: IANA time zone (e.g. "America/New_York") in which the firm's days and times are shown
    #: and counted; None means the PORTAL_DEFAULT_TIME_ZONE setting. Stored times stay UTC.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    #: How clients reach the firm: shown in the footer of every client page and email, and the
    #: Reply-To of every email. All optional.
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    postal_address: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(String(300))
    #: How a typed total is applied to open invoices (console's step 3, client's "pay a total").
    #: No CHECK constraint (adding one would rebuild `firms` on SQLite under the audit
    #: triggers); the setting's rule (portal.firms.settings) is the only writer.
    auto_apply_order: Mapped[AutoApplyOrder] = mapped_column(
        Enum(
            AutoApplyOrder,
            native_enum=False,
            create_constraint=False,
            length=24,
            values_callable=lambda members: [m.value for m in members],
        ),
        default=AutoApplyOrder.OLDEST_DUE,
        server_default=AutoApplyOrder.OLDEST_DUE.value,
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    merchant_accounts: Mapped[list[MerchantAccount]] = relationship(
        back_populates="firm", order_by="MerchantAccount.id"
    )


def new_public_id_for_account() -> str:
    """A fresh public id for a merchant account."""
    return new_public_id(12, "ma_")


class MerchantAccount(Base):
    """A processor account that settles into one bank account (operating or trust)."""

    __tablename__ = "merchant_accounts"
    __table_args__ = (UniqueConstraint("firm_id", "kind", "currency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The id the API shows ("ma_…"): random, so it tells nothing of how many accounts exist.
    public_id: Mapped[str] = mapped_column(
        String(32), unique=True, default=new_public_id_for_account
    )
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    kind: Mapped[MerchantAccountKind] = mapped_column(
        str_enum(MerchantAccountKind, "merchant_account_kind")
    )
    label: Mapped[str] = mapped_column(String(100))
    #: The label per language ({"es": "Cuenta operativa"}), shown to a client in their
    #: language; a language without one falls back to `label`.
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    #: ISO 4217 code of the money this account takes.
    currency: Mapped[str] = mapped_column(String(3))
    #: Which gateway charges for this account: "sandbox" or "stripe".
    gateway: Mapped[str] = mapped_column(String(20), default="sandbox")
    #: The Stripe connected account (acct_…) this account charges into through the
    #: platform's key, set when the firm goes live; None on the sandbox. Never a secret.
    stripe_account: Mapped[str | None] = mapped_column(String(64))
    #: Posting defaults sent to the back office with every payment to this account.
    ledger_code: Mapped[str | None] = mapped_column(String(64))
    transaction_type: Mapped[str | None] = mapped_column(String(64))
    bank_account_code: Mapped[str | None] = mapped_column(String(64))
    accepts_card: Mapped[bool] = mapped_column(Boolean, default=True)
    accepts_ach: Mapped[bool] = mapped_column(Boolean, default=True)

    firm: Mapped[Firm] = relationship(back_populates="merchant_accounts")


class APIKey(Base):
    """A firm's API key. Only its SHA-256 is stored; the key is shown once when issued."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_firm_id", "firm_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: The first characters of the key, safe to show so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    #: Hex SHA-256 of the whole key. The key has 256 bits of entropy, so a fast hash is enough.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    #: The scopes this key may use (`portal.firms.scopes.SCOPES`); None is every scope, as
    #: keys issued before scopes existed keep.
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    #: The one-time token of the console form that created the key: that form sent again (a
    #: reload, a double click) finds this key instead of making another. Not a secret.
    creation_token: Mapped[str | None] = mapped_column(String(64), unique=True)

    firm: Mapped[Firm] = relationship()


class FirmLogo(Base):
    """A firm's logo: a PNG or JPEG checked by its bytes and decoded size, kept in the database."""

    __tablename__ = "firm_logos"

    firm_id: Mapped[int] = mapped_column(
        ForeignKey("firms.id", ondelete="CASCADE"), primary_key=True
    )
    #: "image/png" or "image/jpeg", from the file's own magic bytes (never the upload's word).
    content_type: Mapped[str] = mapped_column(String(20))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class BackOfficeList(Base):
    """One of the back office's lists (bank accounts, ledger codes, transaction types), as it
    last synced it: the values a merchant account's posting defaults may take.

    A list that was never synced (no row) checks nothing; see `portal.firms.account_lists`.
    """

    __tablename__ = "back_office_lists"
    __table_args__ = (UniqueConstraint("firm_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: "bank_accounts", "ledger_codes" or "transaction_types".
    name: Mapped[str] = mapped_column(String(32))
    #: [{"code": "1010", "name": "IOLTA trust"}, ...] in the back office's order; codes unique.
    entries: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now, onupdate=clock.now)
