"""The pay flow for a client: basket → review → confirm → receipt.

GET /pay shows what the link may pay; POST /pay/review checks the basket with the payment
rules, charges nothing and keeps the basket server-side; POST /pay/confirm starts the payment
with the review's nonce as the idempotency key, so a double click or a resubmitted form is one
payment. A declined payment comes back to the review (basket kept, card fields empty, the
reason in words); a card whose bank must confirm goes through /pay/authenticate/<public_id>
(the sandbox's test bank). The review offers the client's saved cards and a box to save a
new one (portal.client.saved_cards); POST /pay/saved-methods/<public_id>/remove forgets one
(audited with the client as the actor; a card just kept and declined is forgotten by the system).
GET /payments/<public_id> is the receipt (and .../receipt.pdf its
PDF); GET /payments lists the payments the link may see. The confirm, the bank
step and the receipt still work for `kept_baskets.GRACE` after the link expires, for the basket
reviewed before it did. Every page works without JavaScript.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from portal import security
from portal.audit import services as audit
from portal.client import checkout as baskets
from portal.client import review as reviews
from portal.client import saved_cards
from portal.client.downloads import pdf_download
from portal.client.session import link_required, link_required_or_grace
from portal.errors import ValidationFailed
from portal.firms.services import firm_zone
from portal.i18n import current_locale
from portal.limits import limited
from portal.links.models import Link
from portal.payers import services as payers
from portal.payments import history as payment_history
from portal.payments import kept_baskets, receipts
from portal.payments import receipt_pdf as receipt_pdfs
from portal.payments import services as payments
from portal.payments.allocation import AllocationError
from portal.payments.checkout_forms import FieldErrors, link_idempotency_key, new_nonce
from portal.payments.models import Payment, PaymentMethod, payment_status
from portal.payments.services import MethodUnavailable, Payer, TooManyAttempts

#: Named "payments" as before the move: templates and tests use `payments.*` endpoints.
bp = Blueprint("payments", __name__)

#: Seconds a payer waits after too many declines (the attempt limits count one hour).
RETRY_AFTER_SECONDS = 3600


def _reviewed_in_grace(link: Link) -> bool:
    """The confirm form of a basket reviewed before `link` expired, unchanged, in the grace."""
    key = link_idempotency_key(link.public_id, request.form.get("nonce", ""))
    return key is not None and kept_baskets.may_confirm_in_grace(
        link, key, reviews.basket_fields(request.form)
    )


def _paid_in_grace(link: Link) -> bool:
    """A payment made through `link`, asked for in the grace after it expired."""
    public_id = (request.view_args or {}).get("public_id", "")
    return kept_baskets.paid_in_grace(link, str(public_id))


@bp.get("/pay")
@link_required
def basket() -> ResponseReturnValue:
    """Show what the link may pay, grouped by matter, with the choice of method.

    A fresh link sent from an expired page opens with the basket its dead link reviewed.
    """
    checkout = baskets.checkout_for(g.link, g.firm)
    kept = None if request.args else kept_baskets.basket_for_fresh_link(g.link)
    data = MultiDict(kept) if kept else request.args
    entries = baskets.Entries.read(data, checkout)
    return _basket_page(checkout, entries, FieldErrors(), kept=bool(kept))


@bp.post("/pay/review")
@link_required
def review() -> ResponseReturnValue:
    """Check the basket as the payment would, then ask for the card or bank details."""
    checkout = baskets.checkout_for(g.link, g.firm)
    entries = baskets.Entries.read(request.form, checkout)
    try:
        review = reviews.review_basket(
            g.link,
            g.firm,
            checkout,
            entries,
            action=request.form.get("action", baskets.ACTION_REVIEW),
            locale=current_locale(),
        )
    except baskets.BasketError as exc:
        return _basket_page(checkout, entries, exc.errors, status=422)
    return _kept_review_page(checkout, review, FieldErrors())


@bp.post("/pay/confirm")
@limited("RATELIMIT_PAYMENT_ATTEMPT")
@link_required_or_grace(_reviewed_in_grace)
def confirm() -> ResponseReturnValue:
    """Start the payment reviewed on the previous page, once, and show how it went."""
    nonce = request.form.get("nonce", "")
    key = link_idempotency_key(g.link.public_id, nonce)
    if key is not None and (done := payments.payment_by_key(g.link.firm_id, key)) is not None:
        return _after(done)  # the second click of a double click
    checkout = baskets.checkout_for(g.link, g.firm)
    entries = baskets.Entries.read(request.form, checkout)
    if key is None:
        errors = FieldErrors()
        errors.add("basket", _("Please check your payment and review it again."))
        return _basket_page(checkout, entries, errors, status=422)
    saved = saved_cards.chosen(g.link, request.form)
    try:
        order = reviews.read_order(
            g.link,
            g.firm,
            checkout,
            entries,
            request.form,
            locale=current_locale(),
            saved_card=saved is not None,
        )
    except baskets.BasketError as exc:
        return _basket_changed(key, checkout, entries, exc.errors)
    except baskets.DetailsError as exc:
        return _review_again(checkout, entries, nonce, exc.errors)
    instrument = order.instrument
    kept = None
    if saved is not None and order.method is PaymentMethod.CARD:
        instrument = payers.instrument_for(saved, off_session=False)
    elif saved_cards.wants_saving(request.form) and order.method is PaymentMethod.CARD:
        try:
            kept = saved_cards.save_new_card(
                g.link,
                g.firm,
                order.instrument,
                currency=order.currency,
                ip=request.remote_addr or "",
            )
        except payers.MethodNotSaved as exc:
            errors = FieldErrors()
            errors.add("payment", _("This card could not be saved: %(reason)s", reason=exc.detail))
            return _review_again(checkout, entries, nonce, errors)
        # The first charge of a card kept for payments the firm starts sets it up for them.
        instrument = payers.instrument_for(kept, off_session=False, setup_future=True)
    client = g.link.client
    try:
        payment = payments.start_payment(
            link=g.link,
            basket=order.basket,
            method=order.method,
            instrument=instrument,
            idempotency_key=key,
            payer=Payer(
                name=client.name,
                email=client.email,
                ip=request.remote_addr or "",
                user_agent=request.user_agent.string,
                locale=current_locale(),
            ),
            mandate_text=order.mandate_text,
        )
    except AllocationError as exc:
        errors = FieldErrors()
        errors.extend(exc.errors)
        return _basket_changed(key, checkout, entries, errors)
    except TooManyAttempts:
        body = render_template("payments/too_many_attempts.html", status=429)
        return body, 429, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    except MethodUnavailable:
        errors = FieldErrors()
        errors.add("method", _("This payment method is not available for this payment."))
        return _basket_page(checkout, entries, errors, status=422)
    except ValidationFailed as exc:
        errors = FieldErrors()
        errors.extend(exc.errors or [{"field": "basket", "detail": exc.detail or ""}])
        return _review_again(checkout, entries, nonce, errors)
    if kept is not None and payment_status(payment) == "failed":  # declined: not kept
        payers.remove_method(
            g.link.firm_id,
            g.link.client_id,
            kept.public_id,
            actor=audit.SYSTEM,
            reason=payers.DECLINED_FIRST,
        )
    return _after(payment)


@bp.post("/pay/saved-methods/<public_id>/remove")
@link_required
def remove_saved_method(public_id: str) -> ResponseReturnValue:
    """Forget a saved card (here and at the processor), then show the review again."""
    actor = audit.Actor.client(g.link.client_id)
    payers.remove_method(g.link.firm_id, g.link.client_id, public_id, actor=actor)
    checkout = baskets.checkout_for(g.link, g.firm)
    entries = baskets.Entries.read(request.form, checkout)
    try:
        review = reviews.review_basket(
            g.link, g.firm, checkout, entries, action=baskets.ACTION_REVIEW, locale=current_locale()
        )
    except baskets.BasketError:
        return redirect(url_for("payments.basket"), code=303)
    return _kept_review_page(checkout, review, FieldErrors(), removed=True)


@bp.get("/pay/authenticate/<public_id>")
@link_required_or_grace(_paid_in_grace)
def authenticate(public_id: str) -> ResponseReturnValue:
    """The sandbox's test bank asks the payer to approve or fail the payment (3-D Secure)."""
    payment = payments.payment_for_link(g.link, public_id)
    if not payments.waiting_for_test_bank(payment):
        return _after(payment)
    action = url_for("payments.authenticated", public_id=public_id)
    return render_template("payments/authenticate.html", payment=payment, action=action)


@bp.post("/pay/authenticate/<public_id>")
@limited("RATELIMIT_PAYMENT_ATTEMPT")
@link_required_or_grace(_paid_in_grace)
def authenticated(public_id: str) -> ResponseReturnValue:
    """Hand the test bank's answer to the gateway, once, then show how the payment went."""
    payment = payments.payment_for_link(g.link, public_id)
    payments.answer_test_bank(
        payment, approved=request.form.get("answer") == "approve", ip=request.remote_addr or ""
    )
    return _after(payment)


@bp.get("/payments/<public_id>")
@link_required_or_grace(_paid_in_grace)
def receipt(public_id: str) -> ResponseReturnValue:
    """Show a payment of this client: each allocation, where it went, and how it stands."""
    payment = payments.payment_for_link(g.link, public_id)
    return render_template(
        "payments/receipt.html",
        receipt=receipts.receipt_for(payment),
        retry_query=reviews.retry_query(payment),
    )


@bp.get("/payments/<public_id>/receipt.pdf")
@link_required
def receipt_pdf(public_id: str) -> ResponseReturnValue:
    """The same receipt as a PDF, in the page's language."""
    receipt = receipts.receipt_for(payments.payment_for_link(g.link, public_id))
    return pdf_download(receipt_pdfs.receipt_pdf(receipt), receipt_pdfs.receipt_filename(receipt))


@bp.get("/payments")
@link_required
def history() -> ResponseReturnValue:
    """The client's payments this link may see, newest first, each with its receipt and PDF."""
    return render_template(
        "payments/history.html",
        payments=payment_history.payments_for_link(g.link),
        zone=firm_zone(g.firm),
    )


# -- rendering ----------------------------------------------------------------------------------


def _basket_page(
    checkout: baskets.Checkout,
    entries: baskets.Entries,
    errors: FieldErrors,
    *,
    status: int = 200,
    kept: bool = False,
) -> ResponseReturnValue:
    page = render_template(
        "payments/basket.html", checkout=checkout, entries=entries, errors=errors, kept=kept
    )
    return page, status


def _kept_review_page(
    checkout: baskets.Checkout,
    review: reviews.Review,
    errors: FieldErrors,
    *,
    status: int = 200,
    reviewed_at: dt.datetime | None = None,
    removed: bool = False,
) -> ResponseReturnValue:
    """The review under a new nonce, its basket kept server-side under that nonce's key."""
    nonce = new_nonce()
    key = link_idempotency_key(g.link.public_id, nonce) or ""
    kept_baskets.keep_review(
        g.link, key, review.carried, review.total_minor, review.currency, reviewed_at=reviewed_at
    )
    return _review_page(checkout, review, nonce, errors, status=status, removed=removed)


def _review_page(
    checkout: baskets.Checkout,
    review: reviews.Review,
    nonce: str,
    errors: FieldErrors,
    *,
    status: int = 200,
    removed: bool = False,
) -> ResponseReturnValue:
    context: dict[str, Any] = {"review": review, "nonce": nonce, "errors": errors}
    if review.method is PaymentMethod.CARD:
        context["saved_cards"] = saved_cards.choices(g.link, g.firm)
        context["save_words"] = saved_cards.save_words(g.firm)
        context["removed"] = removed
    if not review.uses_stripe:
        return render_template("payments/review.html", **context), status
    context["publishable_key"] = reviews.stripe_publishable_key(checkout, review)
    # Stripe.js and its frames on this page only (see portal.security).
    security.allow_stripe()
    return render_template("payments/review.html", **context), status


def _review_again(
    checkout: baskets.Checkout, entries: baskets.Entries, nonce: str, errors: FieldErrors
) -> ResponseReturnValue:
    """The review once more, same nonce, with what to fix; a basket gone bad goes back."""
    try:
        review = reviews.review_basket(
            g.link, g.firm, checkout, entries, action=baskets.ACTION_REVIEW, locale=current_locale()
        )
    except baskets.BasketError as exc:
        return _basket_page(checkout, entries, exc.errors, status=409)
    return _review_page(checkout, review, nonce, errors, status=422)


def _basket_changed(
    key: str, checkout: baskets.Checkout, entries: baskets.Entries, errors: FieldErrors
) -> ResponseReturnValue:
    """The basket no longer fits what is owed: unless this very payment just went through
    (a double click racing itself), show the basket again with what changed."""
    if (done := payments.payment_by_key(g.link.firm_id, key)) is not None:
        return _to_receipt(done.public_id)
    return _basket_page(checkout, entries, errors, status=409)


def _after(payment: Payment) -> ResponseReturnValue:
    """Where a submitted payment goes next: the bank's step, the review again when it was
    declined in full, else its receipt."""
    if payments.waiting_for_test_bank(payment):
        return redirect(url_for("payments.authenticate", public_id=payment.public_id), code=303)
    if payment_status(payment) == "failed":
        return _declined(payment)
    return _to_receipt(payment.public_id)


def _declined(payment: Payment) -> ResponseReturnValue:
    """The review again after a decline: the same basket, empty card fields, and why."""
    checkout = baskets.checkout_for(g.link, g.firm)
    entries = baskets.Entries.read(MultiDict(_pairs(reviews.retry_query(payment))), checkout)
    errors = FieldErrors()
    errors.add("payment", reviews.decline_text(payment))
    try:
        review = reviews.review_basket(
            g.link, g.firm, checkout, entries, action=baskets.ACTION_REVIEW, locale=current_locale()
        )
    except baskets.BasketError as exc:
        for name, messages in exc.errors.items():
            for message in messages:
                errors.add(name, message)
        return _basket_page(checkout, entries, errors, status=409)
    reviewed_at = kept_baskets.reviewed_at(g.link, payment.idempotency_key)
    return _kept_review_page(checkout, review, errors, status=422, reviewed_at=reviewed_at)


def _pairs(query: dict[str, str | list[str]]) -> list[tuple[str, str]]:
    return [
        (name, item)
        for name, value in query.items()
        for item in (value if isinstance(value, list) else [value])
    ]


def _to_receipt(public_id: str) -> Response:
    # 303: the receipt is fetched with GET, so reloading it never posts the payment again.
    return redirect(url_for("payments.receipt", public_id=public_id), code=303)
