"""Settings (admins only), two of the firm's rules about money: evergreen retainers and the
amount above which a refund asks for the password again.

Evergreen calls `portal.trust_requests.services.set_evergreen_mode` (as PUT /firm/evergreen
does); the refund threshold `portal.firms.settings.update_firm_settings` (as PATCH /firm does
with `refund_reauth_above_minor`), typed as money in the staff user's locale and the firm's
currency. Both audit the signed-in admin, with the reason typed, if any.
"""

from __future__ import annotations

from flask import flash, g, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from portal.console.auth import admin_required, bp
from portal.console.settings import actor, settings_page
from portal.console.settings_forms import PREFIXES, EvergreenForm, RefundsForm
from portal.errors import ValidationFailed
from portal.firms.models import EvergreenMode
from portal.firms.services import firm_currency
from portal.firms.settings import update_firm_settings
from portal.payments.checkout_forms import MESSAGES
from portal.trust_requests import services as trust_requests


@bp.post("/settings/evergreen")
@admin_required
def update_evergreen() -> ResponseReturnValue:
    form = EvergreenForm(prefix=PREFIXES[EvergreenForm])
    if not form.validate_on_submit():
        return settings_page(section=("evergreen", form), status=422)
    trust_requests.set_evergreen_mode(
        g.staff.firm_id,
        EvergreenMode(form.mode.data),
        actor=actor(),
        reason=form.given_reason(),
    )
    flash(gettext("Evergreen retainers saved."), "info")
    return redirect(url_for("console.settings") + "#evergreen", code=303)


@bp.post("/settings/refunds")
@admin_required
def update_refunds() -> ResponseReturnValue:
    firm = g.staff.firm
    form = RefundsForm(prefix=PREFIXES[RefundsForm])
    if not form.validate_on_submit():
        return settings_page(section=("refunds", form), status=422)
    good, minor = form.threshold_minor(firm_currency(firm.id))
    if not good:
        return settings_page(section=("refunds", form), status=422)
    try:
        update_firm_settings(
            firm.id,
            {"refund_reauth_above_minor": minor},
            actor(),
            reason=form.given_reason(),
        )
    except ValidationFailed:
        form.refund_reauth_above.errors = [MESSAGES["amount_invalid"]({})]
        return settings_page(section=("refunds", form), status=422)
    flash(gettext("Refund settings saved."), "info")
    return redirect(url_for("console.settings") + "#refunds", code=303)
