"""The firm as its clients see it: contact details, time zone, sender identity, and the one
template family of its emails.

Client pages show the contact details in their footer (`page_context`, wired by create_app,
read by templates/base.html). Every email a firm's client (or the firm) gets is rendered from
`templates/email/<name>/` (subject.txt, body.txt, body.html), whose bodies extend the shared
layouts `templates/email/_layout.html` and `_layout.txt`: the firm's logo (an absolute address
on the portal's logo route), its colour (the portal's when it has none; the text on it black
or white, whichever contrasts more), its name and its contact details. Times in it read in the
firm's time zone (`page_zone`, see portal.templating). It goes out From
`"<Firm> via <portal name>" <MAIL_FROM's address>`, with Reply-To the firm's contact address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from flask import render_template

from portal import colors, mail
from portal.firms import branding
from portal.firms.models import Firm
from portal.firms.services import firm_zone
from portal.templating import locale_scope
from portal.text import one_line

#: The portal's own colour (static/css/portal.css --brand), for firms without one.
DEFAULT_BRAND = "#1f3a5f"
_WEB_ADDRESS = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)


@dataclass(frozen=True)
class Contact:
    """How a client reaches the firm, as every page footer and email shows it."""

    email: str | None = None
    phone: str | None = None
    #: The postal address's lines, blank ones left out.
    address: tuple[str, ...] = ()
    website: str | None = None

    @property
    def phone_uri(self) -> str | None:
        """A tel: address for the phone number (digits and a leading +), or None."""
        if not self.phone:
            return None
        digits = re.sub(r"[^\d+]", "", self.phone)
        return f"tel:{digits}" if digits.strip("+") else None

    @property
    def website_url(self) -> str | None:
        """The website as a link target when it is an http(s) address; None otherwise (shown
        as text only, never as a link to something else)."""
        site = self.website or ""
        return site if _WEB_ADDRESS.fullmatch(site) else None

    def __bool__(self) -> bool:
        return bool(self.email or self.phone or self.address or self.website)

    def reach(self) -> str:
        """The shortest way to say how to reach the firm: its phone and email, or ""."""
        return ", ".join(part for part in (self.phone, self.email) if part)


def contact_of(firm: Firm | None) -> Contact:
    """The firm's contact details (empty for no firm)."""
    if firm is None:
        return Contact()
    address = tuple(
        line for line in (one_line(x) for x in (firm.postal_address or "").splitlines()) if line
    )
    return Contact(
        email=one_line(firm.contact_email or "") or None,
        phone=one_line(firm.contact_phone or "") or None,
        address=address,
        website=one_line(firm.website or "") or None,
    )


def sender_name(firm: Firm) -> str:
    """The From name of the firm's emails: "<Firm name> via <portal name>"."""
    return f"{one_line(firm.name)} via {mail.portal_name()}"


def layout_context(firm: Firm) -> dict[str, Any]:
    """What the shared layouts read: the firm's name, colour, logo, contact details and zone."""
    brand = colors.brand_hex(firm.brand_colour) or DEFAULT_BRAND[1:]
    return {
        "firm_name": firm.name,
        "brand": f"#{brand}",
        "brand_ink": colors.ink_on(brand),
        "logo_url": branding.email_logo_url(firm),
        "contact": contact_of(firm),
        "page_zone": firm_zone(firm),
        "portal_name": mail.portal_name(),
    }


def page_context(firm: Firm | None) -> dict[str, Any]:
    """What every page's layout reads of the firm it shows: its contact details (the footer)
    and its time zone (`page_zone`, for |local_datetime); nothing for a page with no firm."""
    if firm is None:
        return {}
    return {"firm_contact": contact_of(firm), "page_zone": firm_zone(firm)}


def compose_email(
    firm: Firm, template: str, *, to: str, locale: str | None, **context: Any
) -> EmailMessage:
    """Render `templates/email/<template>/` for `firm` in `locale` and build the email, from
    the firm's sender identity with Reply-To its contact address (nothing queued)."""
    values = {**layout_context(firm), **context}
    with locale_scope(locale):
        subject = render_template(f"email/{template}/subject.txt", **values).strip()
        text = render_template(f"email/{template}/body.txt", **values)
        html = render_template(f"email/{template}/body.html", **values)
    return mail.compose(
        to=to,
        subject=subject,
        text=text,
        html=html,
        sender_name=sender_name(firm),
        reply_to=firm.contact_email,
    )
