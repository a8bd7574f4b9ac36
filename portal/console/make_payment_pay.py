"""Make a payment (any staff), step 4: take it now, or send it for payment.

Both forms carry step 3's checked amounts (never a total) and are checked again as a plan
(portal.payments.staff_payments.plan_for). Manual entry (`POST .../pay`) charges a card or bank
account typed by staff with the sandbox's test numbers through `staff_payments.take_payment`
(source "staff", the staff user, the custom A/R message, the receipt only to the typed
addresses); the form's key makes a double click one payment. Send for payment
(`POST .../send`) issues a 24-hour link carrying exactly this allocation and emails it
(`staff_payments.send_for_payment`, as POST /api/v1/links with `lines` does).

# Saved payers: where the payers feature plugs in an "existing payer / Save payer" choice
# (see the marked block in templates/console/make_payment_allocate.html).
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from portal.console.auth import bp, staff_required
from portal.console.forms import ActionForm
from portal.console.make_payment import allocate_page, current_selection, locale, staged_from_form
from portal.console.make_payment_forms import read_ar_note, read_manual_entry
from portal.errors import ValidationFailed
from portal.payments import queries as payment_queries
from portal.payments import services as payments
from portal.payments import staff_payments
from portal.payments.checkout_forms import FieldErrors, is_nonce
from portal.payments.models import PaymentMethod
from portal.payments.services import MethodUnavailable

_EXPIRED = "The form had expired. Please send it again."


def _key(nonce: str) -> str:
    """The payment's idempotency key: this user's, this form's (a copied key names nothing)."""
    return f"staff:{g.staff.id}:{nonce}"


@bp.post("/make-payment/pay")
@staff_required
def make_payment_pay() -> ResponseReturnValue:
    nonce = request.form.get("nonce", "")
    if is_nonce(nonce) and (done := payments.payment_by_key(g.staff.firm_id, _key(nonce))):
        return redirect(url_for("console.make_payment_done", public_id=done.public_id), code=303)
    chosen = current_selection()
    errors = FieldErrors()
    if not ActionForm().validate_on_submit() or not is_nonce(nonce):
        errors.add("basket", gettext(_EXPIRED))
        return allocate_page(chosen, {}, errors, status=422)
    typed, staged = staged_from_form(chosen, errors)
    if staged is None:
        return allocate_page(chosen, typed, errors, status=422)
    entry, instrument = read_manual_entry(request.form, errors)
    if errors or instrument is None:
        return allocate_page(
            chosen, typed, errors, staged=staged, nonce=nonce, entry=request.form, status=422
        )
    try:
        payment = staff_payments.take_payment(
            firm_id=g.staff.firm_id,
            staged=staged,
            method=PaymentMethod(entry.method),
            instrument=instrument,
            payer_name=entry.payer_name,
            receipts=entry.receipts,
            ar_note=entry.ar_note,
            idempotency_key=_key(nonce),
            taker=staff_payments.Taker(
                staff_user_id=g.staff.id,
                staff_email=g.staff.email,
                ip=request.remote_addr or "",
                user_agent=request.user_agent.string,
                locale=locale(),
            ),
            authorised_by=entry.authorised_by,
        )
    except MethodUnavailable:
        errors.add("method", gettext("This payment method is not available for this payment."))
    except staff_payments.allocation.AllocationError as exc:
        errors.extend(exc.errors)
    except ValidationFailed as exc:
        errors.extend(exc.errors or [{"field": "basket", "detail": exc.detail or ""}])
    else:
        return redirect(url_for("console.make_payment_done", public_id=payment.public_id), code=303)
    return allocate_page(
        chosen, typed, errors, staged=staged, nonce=nonce, entry=request.form, status=422
    )


@bp.get("/make-payment/done/<public_id>")
@staff_required
def make_payment_done(public_id: str) -> ResponseReturnValue:
    view = payment_queries.payment_for_firm(g.staff.firm_id, public_id)
    page = render_template(
        "console/make_payment_done.html", payment=view.payment, status=view.status
    )
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/make-payment/send")
@staff_required
def make_payment_send() -> ResponseReturnValue:
    chosen = current_selection()
    errors = FieldErrors()
    if not ActionForm().validate_on_submit():
        errors.add("basket", gettext(_EXPIRED))
        return allocate_page(chosen, {}, errors, status=422)
    typed, staged = staged_from_form(chosen, errors)
    if staged is None:
        return allocate_page(chosen, typed, errors, status=422)
    email = (request.form.get("send_email") or "").strip() or None
    message = (request.form.get("send_message") or "").strip()[:2000] or None
    ar_note = read_ar_note(request.form, errors, "ar_note_send")
    if errors:
        return allocate_page(chosen, typed, errors, staged=staged, entry=request.form, status=422)
    try:
        link = staff_payments.send_for_payment(
            firm_id=g.staff.firm_id,
            staged=staged,
            email=email,
            message=message,
            ar_note=ar_note,
            staff_user_id=g.staff.id,
        )
    except ValidationFailed as exc:
        for problem in exc.errors:
            field = "send_email" if "/send" in str(problem.get("pointer", "")) else "basket"
            errors.add(field, str(problem.get("detail", "")))
        return allocate_page(chosen, typed, errors, staged=staged, entry=request.form, status=422)
    page = render_template("console/make_payment_done.html", link=link)
    return page, 200, {"Cache-Control": "no-store"}
