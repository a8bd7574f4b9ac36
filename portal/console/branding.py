"""Settings (admins only), the firm's public face: name and brand colour, the logo, the pay
button's website origins, and public trust deposits.

Each form calls the use case the API's route calls (`portal.firms.branding`: `set_branding` as
PUT /firm/branding, `set_logo` / `remove_logo` as PUT / DELETE /firm/logo, `set_origins` as PUT
/firm/origins), with the signed-in admin as the audit actor and the reason typed, if any, so
the same checks refuse the same values: a colour too light for white text, a logo that is not
a real PNG or JPEG of a sensible size, an origin that is not exactly https://host[:port].
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_wtf import FlaskForm

from portal.console.auth import admin_required, bp
from portal.console.settings import actor, place_problems, settings_page
from portal.console.settings_forms import (
    PREFIXES,
    BrandingForm,
    LogoForm,
    OriginForm,
    RemoveLogoForm,
    RemoveOriginForm,
    TrustDepositsForm,
    branding_message,
)
from portal.errors import ValidationFailed
from portal.firms import branding


def _back(anchor: str) -> ResponseReturnValue:
    return redirect(url_for("console.settings") + f"#{anchor}", code=303)


def _refused(key: str, form: FlaskForm) -> ResponseReturnValue:
    return settings_page(section=(key, form), status=422)


@bp.post("/settings/branding")
@admin_required
def update_branding() -> ResponseReturnValue:
    firm = g.staff.firm
    form = BrandingForm(prefix=PREFIXES[BrandingForm])
    if not form.validate_on_submit():
        return _refused("branding", form)
    colour = (form.brand_colour.data or "").strip() or None
    try:
        branding.set_branding(
            firm,
            name=form.name.data or "",
            brand_colour=colour,
            public_trust_deposits=firm.public_trust_deposits,
            actor=actor(),
            reason=form.given_reason(),
        )
    except ValidationFailed as exc:
        place_problems(form, exc.errors, branding_message)
        return _refused("branding", form)
    flash(gettext("Name and colour saved."), "info")
    return _back("branding")


@bp.post("/settings/logo")
@admin_required
def upload_logo() -> ResponseReturnValue:
    form = LogoForm(prefix=PREFIXES[LogoForm])
    if not form.validate_on_submit():
        return _refused("logo", form)
    upload = request.files.get(form.logo.name)
    # Read one byte past the limit, as the API does: the service then says "larger than 1 MB".
    data = b""
    if upload is not None:
        try:
            data = upload.stream.read(branding.MAX_LOGO_BYTES + 1)
        finally:
            upload.close()  # a large upload is spooled to a temporary file: let it go now
    try:
        branding.set_logo(g.staff.firm, data, actor=actor(), reason=form.given_reason())
    except ValidationFailed as exc:
        form.logo.errors = [*form.logo.errors, *(branding_message("logo", e) for e in exc.errors)]
        return _refused("logo", form)
    flash(gettext("Logo saved."), "info")
    return _back("logo")


@bp.post("/settings/logo/remove")
@admin_required
def remove_logo() -> ResponseReturnValue:
    form = RemoveLogoForm(prefix=PREFIXES[RemoveLogoForm])
    if not form.validate_on_submit():
        return _refused("remove_logo", form)
    branding.remove_logo(g.staff.firm, actor=actor())
    flash(gettext("Logo removed."), "info")
    return _back("logo")


@bp.post("/settings/origins")
@admin_required
def add_origin() -> ResponseReturnValue:
    """Add one origin to the list (PUT /firm/origins with the list and the new one)."""
    firm = g.staff.firm
    form = OriginForm(prefix=PREFIXES[OriginForm])
    if not form.validate_on_submit():
        return _refused("origin", form)
    typed = (form.origin.data or "").strip()
    if not typed:
        form.origin.errors = [branding_message("origin", {"code": "origin"})]
        return _refused("origin", form)
    try:
        branding.set_origins(
            firm,
            [*(firm.website_origins or []), typed],
            actor=actor(),
            reason=form.given_reason(),
        )
    except ValidationFailed as exc:
        form.origin.errors = [branding_message("origin", e) for e in exc.errors]
        return _refused("origin", form)
    flash(gettext("Website origin added."), "info")
    return _back("origins")


@bp.post("/settings/origins/remove")
@admin_required
def remove_origin() -> ResponseReturnValue:
    firm = g.staff.firm
    form = RemoveOriginForm(prefix=PREFIXES[RemoveOriginForm])
    if not form.validate_on_submit():
        return _refused("remove_origin", form)
    kept = [origin for origin in firm.website_origins or [] if origin != form.origin.data]
    branding.set_origins(firm, kept, actor=actor())
    flash(gettext("Website origin removed."), "info")
    return _back("origins")


@bp.post("/settings/trust-deposits")
@admin_required
def update_trust_deposits() -> ResponseReturnValue:
    """PUT /firm/branding's public_trust_deposits, with the name and colour left as they are."""
    firm = g.staff.firm
    form = TrustDepositsForm(prefix=PREFIXES[TrustDepositsForm])
    if not form.validate_on_submit():
        return _refused("trust_deposits", form)
    branding.set_branding(
        firm,
        name=firm.name,
        brand_colour=firm.brand_colour,
        public_trust_deposits=bool(form.public_trust_deposits.data),
        actor=actor(),
        reason=form.given_reason(),
    )
    flash(gettext("Public trust deposits saved."), "info")
    return _back("trust-deposits")
