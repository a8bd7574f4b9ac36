"""The firm's own settings (GET and PATCH /firm)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from portal.api.schemas.common import AuditReason, Input, Output, audit_reason
from portal.firms import settings
from portal.firms.models import AutoApplyOrder, Firm
from portal.firms.services import default_time_zone, firm_currency
from portal.money import MAX_MINOR


def _rule(name: str) -> AfterValidator:
    """The firm's own rule for setting `name` (`portal.firms.settings`), as a validator."""

    def check(value: Any) -> Any:
        try:
            return settings.normal_setting(name, value)
        except settings.SettingProblem as exc:
            raise PydanticCustomError(settings.CODE, "{problem}", {"problem": str(exc)}) from None

    return AfterValidator(check)


def _limit(most: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, max_length=most)


ArMessage = Annotated[str, _limit(settings.MAX_AR_MESSAGE), _rule("ar_message")]
EmailAddress = Annotated[str, _limit(settings.MAX_EMAIL), _rule("contact_email")]
TimeZone = Annotated[str, _limit(64), _rule("time_zone")]
Phone = Annotated[str, _limit(settings.MAX_PHONE), _rule("contact_phone")]
PostalAddress = Annotated[str, _limit(settings.MAX_ADDRESS), _rule("postal_address")]
Website = Annotated[str, _limit(settings.MAX_WEBSITE), _rule("website")]
EmailText = Annotated[str, _limit(settings.MAX_EMAIL_MESSAGE), _rule("email_message")]
Signature = Annotated[str, _limit(settings.MAX_EMAIL_SIGNATURE), _rule("email_signature")]
RefundThreshold = Annotated[int, Field(ge=0, le=MAX_MINOR), _rule("refund_reauth_above_minor")]


class FirmPatchIn(Input):
    """Change some of the firm's settings; a field left out is left as it is."""

    # A flag left out is None (unchanged) while a null sent fails the strict bool check: the
    # document shows a plain boolean, which a default of None does not fit the type of.
    auto_post: bool = Field(  # type: ignore[assignment]
        default=None,
        description="true: post each payment to the back office as it happens. false: new "
        "payment postings are held (GET /postings?status=held) until released with POST "
        "/postings/release. Turning it on again releases nothing: the answer's "
        "`held_postings` says how many still wait.",
    )
    use_posted_date: bool = Field(  # type: ignore[assignment]  # as auto_post
        default=None,
        description="Postings carry the posted date (the day the money reached the bank) as "
        "their posting date instead of the transaction date.",
    )
    ar_message: ArMessage | None = Field(
        default=None,
        description="The A/R message on every posting, one line of at most 200 characters. "
        "null (or blank) restores the portal's default (setting WEBHOOK_DEFAULT_AR_MESSAGE).",
    )
    auto_apply_order: Literal["oldest_due", "oldest_issued", "smallest_first"] = Field(
        default=None,  # type: ignore[arg-type]  # as auto_post: left out is None, null a 422
        description='The order in which a total typed by a client ("pay a total") or by '
        "staff (Make a payment, step 3) is applied to open invoices: `oldest_due` (oldest due "
        "date first, no due date last; the default), `oldest_issued` (oldest issue date "
        "first) or `smallest_first` (smallest amount payable first). Trust deposits are never "
        "auto-applied.",
    )
    notify_email: EmailAddress | None = Field(
        default=None,
        description="Who hears about disabled webhook endpoints and other alerts; null for nobody.",
    )
    time_zone: TimeZone | None = Field(
        default=None,
        description="IANA time zone in which the firm's days and times are shown and counted, "
        "e.g. America/New_York; null restores the portal's default "
        "(PORTAL_DEFAULT_TIME_ZONE).",
        examples=["America/New_York"],
    )
    contact_email: EmailAddress | None = Field(
        default=None, description="How clients reach the firm by email."
    )
    contact_phone: Phone | None = Field(
        default=None,
        description="Digits, spaces, + ( ) - . / and an optional extension, at most 40 characters.",
        examples=["+1 (212) 555-0100 ext. 12"],
    )
    postal_address: PostalAddress | None = Field(
        default=None,
        description="Lines separated by \\n: at most 8 lines and 500 characters, no tabs or "
        "control characters.",
    )
    website: Website | None = Field(
        default=None,
        description="The firm's website, an http:// or https:// address (stored normalised: "
        "scheme and host in lower case, no default port, no fragment).",
        examples=["https://www.example-firm.com/"],
    )
    email_message: EmailText | None = Field(
        default=None,
        description="Plain text shown above the link in every link email, unless a send gives "
        "its own message. Null or empty restores the built-in sentence.",
    )
    email_signature: Signature | None = Field(
        default=None,
        description="Plain text closing every link email. Null or empty means the firm's name.",
    )
    refund_reauth_above_minor: RefundThreshold | None = Field(
        default=None,
        description="Refunds of more than this amount (integer minor units of the firm's "
        "currency, that of its operating account) ask the console's staff user for their "
        "password again; 0 asks for every refund; null never asks. A refund in another "
        "currency asks whenever this is set. API keys with the payments:refund scope are not "
        "asked.",
        examples=[500000],
    )

    reason: AuditReason | None = audit_reason()

    def changes(self) -> dict[str, Any]:
        """The settings sent, by name (not `reason`, which says why)."""
        return {name: getattr(self, name) for name in self.model_fields_set - {"reason"}}


class FirmOut(Output):
    name: str
    slug: str
    auto_post: bool
    use_posted_date: bool
    ar_message: str = Field(description="The A/R message postings carry now.")
    ar_message_is_default: bool = Field(
        description="true when the firm has none of its own and the portal's default applies."
    )
    auto_apply_order: AutoApplyOrder
    notify_email: str | None
    time_zone: str = Field(description="The zone the firm's days and times are counted in now.")
    time_zone_is_default: bool = Field(
        description="true when the firm has no zone of its own and the portal's default applies."
    )
    contact_email: str | None
    contact_phone: str | None
    postal_address: str | None
    website: str | None
    email_message: str | None
    email_signature: str | None
    refund_reauth_above_minor: int | None = Field(
        description="Refunds above this many minor units ask for the password again in the "
        "console; null: never."
    )
    refund_reauth_currency: str = Field(
        description="The currency of refund_reauth_above_minor (the firm's own)."
    )
    held_postings: int = Field(
        description="Payment postings held until released (POST /postings/release)."
    )
    held_notice: str | None = Field(
        description="A sentence on what is held and how to send it; null when nothing is."
    )

    @classmethod
    def of(cls, firm: Firm, *, held_postings: int) -> FirmOut:
        return cls(
            name=firm.name,
            slug=firm.slug,
            auto_post=firm.auto_post,
            use_posted_date=firm.use_posted_date,
            ar_message=firm.ar_message or settings.default_ar_message(),
            ar_message_is_default=firm.ar_message is None,
            auto_apply_order=firm.auto_apply_order,
            notify_email=firm.notify_email,
            time_zone=firm.time_zone or default_time_zone(),
            time_zone_is_default=firm.time_zone is None,
            contact_email=firm.contact_email,
            contact_phone=firm.contact_phone,
            postal_address=firm.postal_address,
            website=firm.website,
            email_message=firm.email_message,
            email_signature=firm.email_signature,
            refund_reauth_above_minor=firm.refund_reauth_above_minor,
            refund_reauth_currency=firm_currency(firm.id),
            held_postings=held_postings,
            held_notice=_held_notice(firm, held_postings),
        )


def _held_notice(firm: Firm, held: int) -> str | None:
    if not held:
        return None
    postings = "1 payment posting is" if held == 1 else f"{held} payment postings are"
    release = "Send them with POST /api/v1/postings/release."
    if firm.auto_post:
        return f"{postings} still held: turning auto_post on does not send them. {release}"
    return f"{postings} held until released (auto_post is off). {release}"
