"""The firm's public face through the API: branding, logo, and the pay button's website origins.

GET/PUT /firm/branding (name, colour, public trust deposits), PUT/DELETE /firm/logo (the PNG or
JPEG file itself as the body), PUT /firm/origins. Each answers with the whole `FirmBrandingOut`,
which also carries the exact pay button snippet for the firm's website.
"""

from __future__ import annotations

from typing import Annotated

from flask import g, request
from pydantic import Field, StringConstraints

from portal.api.auth import actor
from portal.api.schemas import Input, Output
from portal.api.views import api
from portal.firms import branding, scopes
from portal.firms.embed import embed_snippet, logo_url, public_url
from portal.firms.models import Firm
from portal.firms.services import firm_by_id
from portal.text import pydantic_text


class BrandingIn(Input):
    """What every client page and email shows of the firm."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200), pydantic_text()] = Field(
        description="The firm's name as shown, on one line."
    )
    brand_colour: str | None = Field(
        description="#rrggbb; white text on it must have a WCAG contrast of at least 4.5:1. "
        "null for the portal's own colour.",
    )
    public_trust_deposits: bool = Field(
        description='Offer "Deposit to trust" on the pay button and /pay/<slug> (the payer '
        "must type a matter number)."
    )


class OriginsIn(Input):
    origins: list[Annotated[str, pydantic_text()]] = Field(
        max_length=branding.MAX_ORIGINS,
        description="The firm's website origins, each exactly https://host[:port] (no path). "
        "Only pages on these origins get the pay button and its completion message.",
    )


class FirmBrandingOut(Output):
    slug: str = Field(description="The firm's public id: /pay/<slug> and data-firm.")
    name: str
    brand_colour: str | None
    public_trust_deposits: bool
    logo_url: str | None = Field(description="The logo's cacheable URL; null without a logo.")
    website_origins: list[str]
    pay_url: str = Field(description="The hosted payment page, usable as a plain link.")
    embed_snippet: str = Field(description="The exact tag to paste on the firm's website.")


def _firm() -> Firm:
    return firm_by_id(g.firm_id)


def _out(firm: Firm) -> FirmBrandingOut:
    return FirmBrandingOut(
        slug=firm.slug,
        name=firm.name,
        brand_colour=firm.brand_colour,
        public_trust_deposits=firm.public_trust_deposits,
        logo_url=logo_url(firm),
        website_origins=list(firm.website_origins or []),
        pay_url=public_url("paybutton.start", slug=firm.slug),
        embed_snippet=embed_snippet(firm),
    )


@api.route(
    "GET",
    "/firm/branding",
    scope=scopes.SETTINGS,
    summary="Read the firm's branding and pay button settings",
    tag="firm",
    responses={200: FirmBrandingOut},
)
def get_branding() -> FirmBrandingOut:
    return _out(_firm())


@api.route(
    "PUT",
    "/firm/branding",
    scope=scopes.SETTINGS,
    summary="Set the firm's name, brand colour and public trust deposits",
    tag="firm",
    body=BrandingIn,
    responses={200: FirmBrandingOut},
)
def put_branding(body: BrandingIn) -> FirmBrandingOut:
    """A colour too light for white text (contrast below 4.5:1) is refused with 422."""
    firm = _firm()
    branding.set_branding(
        firm,
        name=body.name,
        brand_colour=body.brand_colour,
        public_trust_deposits=body.public_trust_deposits,
        actor=actor(),
    )
    return _out(firm)


@api.route(
    "PUT",
    "/firm/logo",
    scope=scopes.SETTINGS,
    summary="Upload the firm's logo (the PNG or JPEG file as the body)",
    tag="firm",
    responses={200: FirmBrandingOut},
    errors=(422,),
    raw_body=("image/png", "image/jpeg"),
)
def put_logo() -> FirmBrandingOut:
    """At most 1 MB, 16 to 4096 pixels a side. The file's own bytes decide its type, and it
    must decode completely; anything else is refused with 422."""
    firm = _firm()
    data = request.get_data(cache=False)[: branding.MAX_LOGO_BYTES + 1]
    branding.set_logo(firm, data, actor=actor())
    return _out(firm)


@api.route(
    "DELETE",
    "/firm/logo",
    scope=scopes.SETTINGS,
    summary="Remove the firm's logo",
    tag="firm",
    responses={200: FirmBrandingOut},
)
def delete_logo() -> FirmBrandingOut:
    firm = _firm()
    branding.remove_logo(firm, actor=actor())
    return _out(firm)


@api.route(
    "PUT",
    "/firm/origins",
    scope=scopes.SETTINGS,
    summary="Set the website origins of the firm's pay button",
    tag="firm",
    body=OriginsIn,
    responses={200: FirmBrandingOut},
)
def put_origins(body: OriginsIn) -> FirmBrandingOut:
    """Replaces the list. An origin with a path, a query, user info, or plain http (outside
    development) is refused with 422 and nothing is saved."""
    firm = _firm()
    branding.set_origins(firm, body.origins, actor=actor())
    return _out(firm)
