"""Make a payment (any staff), step 4: take it now, or send it for payment.

Both forms carry step 3's checked amounts (never a total) and are checked again as a plan
(portal.payments.staff_payments.plan_for). Manual entry (`POST .../pay`) charges a card or bank
account typed by staff with the sandbox's test numbers (on Stripe accounts, a card typed
into Stripe's Payment Element: only its PaymentMethod id arrives, a MOTO payment) through
`staff_payments.take_payment` (source "staff", the staff user, the custom A/R message, the
receipt only to the typed addresses); the form's key makes a double click one payment. Send
for payment (`POST .../send`) issues a 24-hour link carrying exactly this allocation and emails it
(`staff_payments.send_for_payment`, as POST /api/v1/links with `lines` does); its form's key
makes the form sent twice (a double click, a reload) one link and one email.

Manual entry with saved payers (portal.payments.staff_saved): an existing payer's saved method
(with, for a method kept for "this payment only", the payer's consent by phone now), or a new
payer whose card or bank account is kept with the consent scope read to them ("Save payer").
"""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from portal.console.auth import bp, staff_required
from portal.console.forms import ActionForm
from portal.console.make_payment import allocate_page, current_selection, locale, staged_from_form
from portal.console.make_payment_forms import ManualEntry, read_ar_note, read_manual_entry
from portal.console.make_payment_payers import phone_words, save_words
from portal.errors import NotFound, ValidationFailed
from portal.firms.services import firm_today
from portal.links import issuing
from portal.links.models import Link
from portal.payers.models import MethodKind
from portal.payers.services import MethodNotSaved
from portal.payments import queries as payment_queries
from portal.payments import services as payments
from portal.payments import staff_payments, staff_saved
from portal.payments.checkout_forms import FieldErrors, is_nonce
from portal.payments.models import Payment, PaymentMethod
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
    on_stripe = bool(staff_payments.stripe_key(g.staff.firm_id, staged))
    entry, instrument = read_manual_entry(request.form, errors, on_stripe=on_stripe)
    if errors or (entry.saved is None and instrument is None):
        return allocate_page(
            chosen, typed, errors, staged=staged, nonce=nonce, entry=request.form, status=422
        )
    status = 422
    try:
        payment = _take(staged, entry, instrument, _key(nonce))
    except NotFound:
        status = 404
        errors.add(
            "payer_choice", gettext("This payer or payment method cannot pay for this client.")
        )
    except staff_saved.MethodExpired:
        errors.add("payer_choice", gettext("This card has expired. Choose another payment method."))
    except staff_saved.ConsentNeeded:
        errors.add(
            "phone_consent",
            gettext("Read the words to the payer and tick the box once they agree."),
        )
    except MethodNotSaved as exc:
        errors.add(
            "save_payer",
            gettext("This payment method could not be saved: %(reason)s", reason=exc.detail),
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
        chosen, typed, errors, staged=staged, nonce=nonce, entry=request.form, status=status
    )


def _take(
    staged: staff_payments.StaffPlan, entry: ManualEntry, instrument: Any, key: str
) -> Payment:
    """Step 4a's use case for what was chosen: a saved method, a new payer kept, or a card or
    bank account typed for this payment alone."""
    taker = staff_payments.Taker(
        staff_user_id=g.staff.id,
        staff_email=g.staff.email,
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
        locale=locale(),
    )
    firm = g.staff.firm
    total, currency = staged.plan.total_minor, staged.plan.currency
    if entry.saved is not None:
        payer_id, method_id = entry.saved
        return staff_saved.take_with_saved_method(
            firm_id=firm.id,
            staged=staged,
            payer_id=payer_id,
            method_id=method_id,
            phone_consent=phone_words(firm.name, total, currency) if entry.phone_consent else None,
            receipts=entry.receipts,
            ar_note=entry.ar_note,
            idempotency_key=key,
            taker=taker,
            today=firm_today(firm),
        )
    if entry.save_scope is not None:
        return staff_saved.take_and_save(
            firm_id=firm.id,
            staged=staged,
            new=staff_saved.NewPayer(
                name=entry.payer_name,
                email=entry.payer_email,
                kind=MethodKind.CARD if entry.method == "card" else MethodKind.BANK,
                instrument=instrument,
                scope=entry.save_scope,
                words=save_words(entry.save_scope, firm.name, total, currency),
            ),
            receipts=entry.receipts,
            ar_note=entry.ar_note,
            idempotency_key=key,
            taker=taker,
        )
    return staff_payments.take_payment(
        firm_id=firm.id,
        staged=staged,
        method=PaymentMethod(entry.method),
        instrument=instrument,
        payer_name=entry.payer_name,
        receipts=entry.receipts,
        ar_note=entry.ar_note,
        idempotency_key=key,
        taker=taker,
        authorised_by=entry.authorised_by,
        payer_email=entry.payer_email,
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
    once = request.form.get("send_nonce", "")
    if is_nonce(once) and (sent := issuing.made_by(g.staff.firm_id, _key(once))) is not None:
        return _sent(sent)  # the form sent again: the first link, nothing sent twice
    if not ActionForm().validate_on_submit() or not is_nonce(once):
        errors.add("basket", gettext(_EXPIRED))
        return allocate_page(chosen, {}, errors, status=422)
    typed, staged = staged_from_form(chosen, errors)
    if staged is None:
        return allocate_page(chosen, typed, errors, status=422)
    email = (request.form.get("send_email") or "").strip() or None
    message = (request.form.get("send_message") or "").strip()[:2000] or None
    ar_note = read_ar_note(request.form, errors, "ar_note_send")
    if errors:
        return allocate_page(
            chosen, typed, errors, staged=staged, entry=request.form, send_nonce=once, status=422
        )
    try:
        link = staff_payments.send_for_payment(
            firm_id=g.staff.firm_id,
            staged=staged,
            email=email,
            message=message,
            ar_note=ar_note,
            staff_user_id=g.staff.id,
            once=_key(once),
        )
    except ValidationFailed as exc:
        for problem in exc.errors:
            field = "send_email" if "/send" in str(problem.get("pointer", "")) else "basket"
            errors.add(field, str(problem.get("detail", "")))
        return allocate_page(
            chosen, typed, errors, staged=staged, entry=request.form, send_nonce=once, status=422
        )
    return _sent(link)


def _sent(link: Link) -> ResponseReturnValue:
    page = render_template("console/make_payment_done.html", link=link)
    return page, 200, {"Cache-Control": "no-store"}
