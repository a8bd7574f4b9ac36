"""The firm's merchant accounts (labels, posting defaults, methods, kind, gateway, Stripe) and
the back office's lists that the posting defaults are checked against."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from portal import urls
from portal.api.schemas.common import AuditReason, Input, Name, Output, audit_reason
from portal.api.schemas.webhooks import PublicId
from portal.firms.models import MerchantAccount
from portal.text import pydantic_text

# Merchant accounts

Label = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    pydantic_text(),
    Field(description="A name clients see (1-100 characters, one line).", examples=["Trust"]),
]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    pydantic_text(),
]
StripeAccountId = Annotated[
    str,
    StringConstraints(pattern=r"^acct_[A-Za-z0-9]{1,59}$"),
    Field(description="A Stripe connected account id.", examples=["acct_1Q2w3E4r5T6y7U8i"]),
]
Kind = Literal["operating", "trust"]
GatewayName = Literal["sandbox", "stripe"]


class MerchantAccountPath(BaseModel):
    id: PublicId = Field(description="The merchant account's id (ma_...).")


class MerchantAccountPatchIn(Input):
    """Change some of a merchant account's settings; a field left out is left as it is."""

    label: Label | None = Field(
        default=None, description="The account's name, and the fallback for `labels`."
    )
    labels: dict[Language, Label] | None = Field(
        default=None,
        description="The name per language a client page can show ('en', 'es'), replacing "
        "the labels there were; a language without one shows `label`. Null removes them all.",
        examples=[{"en": "Trust account", "es": "Cuenta fiduciaria"}],
    )
    ledger_code: Code | None = Field(
        default=None,
        description="Posted with every payment to this account. When the back office has "
        "synced its ledger codes, one of them.",
    )
    transaction_type: Code | None = Field(
        default=None, description="Posted with every payment; one of the synced list if any."
    )
    bank_account_code: Code | None = Field(
        default=None, description="Posted with every payment; one of the synced list if any."
    )
    accepts_card: bool | None = Field(default=None, description="Whether clients may pay by card.")
    accepts_ach: bool | None = Field(
        default=None, description="Whether clients may pay by bank debit."
    )
    kind: Kind | None = Field(
        default=None,
        description="Operating or trust. Refused (409) once the account has payments.",
    )
    gateway: GatewayName | None = Field(
        default=None,
        description="Who charges: the offline sandbox, or Stripe (needs a `stripe_account` that "
        "Stripe says can take charges). Back to the sandbox is refused (409) while Stripe "
        "payments to the account are in flight.",
    )
    stripe_account: StripeAccountId | None = Field(
        default=None,
        description="The Stripe connected account (acct_...) of the platform this account "
        "charges into; checked at Stripe when saved.",
    )

    reason: AuditReason | None = audit_reason()

    def changes(self) -> dict[str, object]:
        """The settings sent, by name (not `reason`, which says why)."""
        return {name: getattr(self, name) for name in self.model_fields_set - {"reason"}}

    @field_validator("label", "accepts_card", "accepts_ach", "kind", "gateway")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only a value sent is checked (defaults are not validated): null is refused, as these
        # settings always have a value.
        if value is None:
            raise PydanticCustomError("not_null", "must not be null")
        return value


class MerchantAccountSettingsOut(Output):
    """A merchant account and its settings; no secret is ever part of it."""

    id: str = Field(description="The merchant account's id (ma_...).")
    kind: Kind
    currency: str = Field(description="ISO 4217 code of the money it takes (read-only).")
    label: str
    labels: dict[str, str]
    ledger_code: str | None
    transaction_type: str | None
    bank_account_code: str | None
    accepts_card: bool
    accepts_ach: bool
    gateway: str
    stripe_account: str | None
    stripe_webhook_url: str = Field(
        description="Where Stripe sends this account's events (register it on the platform's "
        "webhook endpoints when going live)."
    )

    @classmethod
    def of(cls, account: MerchantAccount) -> MerchantAccountSettingsOut:
        return cls(
            id=account.public_id,
            kind=account.kind.value,
            currency=account.currency,
            label=account.label,
            labels=dict(account.labels or {}),
            ledger_code=account.ledger_code,
            transaction_type=account.transaction_type,
            bank_account_code=account.bank_account_code,
            accepts_card=account.accepts_card,
            accepts_ach=account.accepts_ach,
            gateway=account.gateway,
            stripe_account=account.stripe_account,
            stripe_webhook_url=urls.absolute(f"/hooks/stripe/{account.public_id}"),
        )


class MerchantAccountList(Output):
    data: list[MerchantAccountSettingsOut]


Address = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000, pattern=r"^https?://[^\s]+$"),
    Field(description="An absolute http(s) URL.", examples=["https://firm.example/settings"]),
]


class StripeOnboardingIn(Input):
    """Where Stripe sends the firm back to; both default to the portal's own page."""

    return_url: Address | None = Field(
        default=None, description="Where Stripe sends the firm when onboarding ends."
    )
    refresh_url: Address | None = Field(
        default=None, description="Where Stripe sends the firm when the link has expired."
    )


class StripeOnboardingOut(Output):
    url: str = Field(
        description="Stripe's onboarding page (an Account Link): open it soon, "
        "it expires within minutes and works once."
    )
    stripe_account: str = Field(description="The connected account being onboarded.")
    created: bool = Field(description="Whether this request created the connected account.")
    merchant_account: MerchantAccountSettingsOut


# The back office's lists


class ListEntry(Input):
    code: Code = Field(description="The back office's code (what postings carry).")
    name: Name = Field(description="Its display name.")


MAX_LIST_ENTRIES = 1000


def _unique_codes(entries: list[ListEntry] | None) -> list[ListEntry] | None:
    if entries is not None:
        seen: set[str] = set()
        for entry in entries:
            if entry.code in seen:
                raise PydanticCustomError(
                    "code_twice", "lists the code {code} twice", {"code": entry.code}
                )
            seen.add(entry.code)
    return entries


Entries = Annotated[
    list[ListEntry] | None,
    Field(max_length=MAX_LIST_ENTRIES),
    AfterValidator(_unique_codes),
]


class BackOfficeListsIn(Input):
    """Each list given replaces the one there was (null or [] removes it: its field is no
    longer checked); a list left out stays as it is."""

    bank_accounts: Entries = Field(
        default=None, description="Bank accounts; governs `bank_account_code`."
    )
    ledger_codes: Entries = Field(default=None, description="Ledger codes; governs `ledger_code`.")
    transaction_types: Entries = Field(
        default=None, description="Transaction types; governs `transaction_type`."
    )


class ListEntryOut(Output):
    code: str
    name: str


class BackOfficeListsOut(Output):
    """Every list; null for one the back office has not synced (its field is not checked)."""

    bank_accounts: list[ListEntryOut] | None
    ledger_codes: list[ListEntryOut] | None
    transaction_types: list[ListEntryOut] | None

    @classmethod
    def of(cls, lists: dict[str, list[dict[str, str]] | None]) -> BackOfficeListsOut:
        def entries(name: str) -> list[ListEntryOut] | None:
            found = lists.get(name)
            return None if found is None else [ListEntryOut(**entry) for entry in found]

        return cls(
            bank_accounts=entries("bank_accounts"),
            ledger_codes=entries("ledger_codes"),
            transaction_types=entries("transaction_types"),
        )
