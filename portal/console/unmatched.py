"""The unmatched queue (any staff role): pay-button payments whose reference matched nothing,
and nobody has applied yet; apply one to an invoice or to a matter's trust.

Applying calls `portal.payments.unmatched.apply_unmatched`, as `POST /api/v1/payments/{id}/apply`
does, with the staff member as the audit actor. Its refusals (409) come back on the page next
to the payment, saying what to do instead.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.validators import DataRequired, Length

from portal.audit.services import Actor
from portal.console.auth import bp, staff_required
from portal.errors import NotFound
from portal.firms.services import firm_zone
from portal.payments import queries
from portal.payments.filters import PaymentFilters, Sort
from portal.payments.unmatched import (
    AlreadyApplied,
    ApplyRefused,
    ExceedsDue,
    Target,
    WrongAccount,
    apply_unmatched,
)
from portal.text import FormText

#: Most payments the queue shows at once (oldest first).
QUEUE_SIZE = 100


class ApplyForm(FlaskForm):
    to = RadioField(
        lazy_gettext("Apply to"),
        choices=lambda: [
            ("invoice", lazy_gettext("An invoice")),
            ("matter", lazy_gettext("A matter's trust")),
        ],
        default="invoice",
        validators=[DataRequired(lazy_gettext("Choose an invoice or a matter's trust."))],
    )
    reference = StringField(
        lazy_gettext("Invoice or matter id"),
        validators=[
            DataRequired(lazy_gettext("Enter the invoice's or the matter's id.")),
            Length(max=64),
            FormText(),
        ],
    )


def form_prefix(public_id: str) -> str:
    """The payment's form's field prefix, its separator included.

    WTForms adds "-" only to a prefix that does not already end in "-", "_" and the like, and
    a public id ends in "-" or "_" one time in 32: without its own separator the field names
    would depend on the id's last character.
    """
    return f"p-{public_id}-"


def _refusal(exc: ApplyRefused, to: str) -> str:
    """What the page says for a refusal, by its code (the service's detail is English)."""
    if isinstance(exc, WrongAccount):
        if to == "invoice":
            return gettext(
                "This money was charged to the trust account, and trust money cannot pay an "
                "invoice. Apply it to a matter's trust, or refund it and ask the client to pay "
                "the invoice into the operating account."
            )
        return gettext(
            "This money was charged to the operating account: the firm's own money cannot "
            "become client money in trust. Apply it to an invoice, or refund it and ask the "
            "client to pay the deposit into the trust account."
        )
    if isinstance(exc, ExceedsDue):
        return gettext(
            "The payment is more than is due on this invoice (or the invoice is not open). "
            "Apply it to an invoice with enough due, or refund it and ask the client to pay "
            "what is due."
        )
    if isinstance(exc, AlreadyApplied):
        return gettext(
            "This payment has already been applied elsewhere. To move it, refund it and ask "
            "the client to pay again."
        )
    return gettext("This payment cannot be applied as asked: %(why)s", why=exc.detail or "")


def _queue(
    forms: dict[str, ApplyForm] | None = None,
    problems: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    page = queries.payments_page(
        firm_id=g.staff.firm_id,
        filters=PaymentFilters(unmatched=True),
        after_id=None,
        limit=QUEUE_SIZE,
        sort=Sort.DATE,
    )
    forms = forms or {}
    shown: dict[str, Any] = {
        view.payment.public_id: forms.get(view.payment.public_id)
        or ApplyForm(formdata=None, prefix=form_prefix(view.payment.public_id))
        for view in page.items
    }
    return render_template(
        "console/unmatched.html",
        page=page,
        forms=shown,
        problems=problems or {},
        zone=firm_zone(g.staff.firm),
    ), status


@bp.get("/unmatched")
@staff_required
def unmatched() -> ResponseReturnValue:
    return _queue()


@bp.post("/unmatched/<public_id>/apply")
@staff_required
def apply_payment(public_id: str) -> ResponseReturnValue:
    view = queries.payment_for_firm(g.staff.firm_id, public_id)  # another firm's: 404
    form = ApplyForm(prefix=form_prefix(public_id))
    if not form.validate_on_submit():
        return _queue({public_id: form}, status=422)
    reference = (form.reference.data or "").strip()
    to = form.to.data or "invoice"
    target = Target(invoice=reference) if to == "invoice" else Target(matter=reference)
    try:
        apply_unmatched(g.staff.firm_id, public_id, target, actor=Actor.staff(g.staff.id))
    except ApplyRefused as exc:
        return _queue({public_id: form}, {public_id: _refusal(exc, to)}, status=409)
    except NotFound:
        message = (
            gettext("No invoice of the firm has this id.")
            if to == "invoice"
            else gettext("No matter of the firm has this id.")
        )
        form.reference.errors = [message]
        return _queue({public_id: form}, status=422)
    flash(
        gettext(
            "Payment %(number)s applied to %(target)s. The back office receives a posting "
            "that says so.",
            number=view.payment.number,
            target=reference,
        ),
        "info",
    )
    return redirect(url_for("console.unmatched"), code=303)
