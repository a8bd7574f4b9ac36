"""The firm's own settings."""

from __future__ import annotations

from pydantic import Field

from portal.api.schemas.common import Input, Output
from portal.api.schemas.links import EmailText, Signature
from portal.firms.models import Firm

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
