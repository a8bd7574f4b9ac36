"""The pay flow for a client: basket → review → confirm → receipt.

GET /pay shows what the link may pay; POST /pay/review checks the basket with the payment
rules and charges nothing; POST /pay/confirm starts the payment with the review's nonce as the
idempotency key, so a double click or a resubmitted form is one payment; GET
/payments/<public_id> is the receipt (and .../receipt.pdf its PDF); GET /payments lists the
payments the link may see. Every page works without JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal import security
from portal.client import checkout as baskets
from portal.client import review as reviews
from portal.client.downloads import pdf_download
from portal.client.session import link_required
from portal.errors import ValidationFailed
from portal.firms.services import firm_zone
from portal.i18n import current_locale
from portal.limits import limited
from portal.payments import history as payment_history
from portal.payments import receipt_pdf as receipt_pdfs
from portal.payments import receipts
from portal.payments import services as payments
from portal.payments.allocation import AllocationError
from portal.payments.checkout_forms import FieldErrors, link_idempotency_key, new_nonce
from portal.payments.services import MethodUnavailable, Payer, TooManyAttempts

#: Named "payments" as before the move: templates and tests use `payments.*` endpoints.
bp = Blueprint("payments", __name__)

#: Seconds a payer waits after too many declines (the attempt limits count one hour).
RETRY_AFTER_SECONDS = 3600


@bp.get("/pay")
@link_required
def basket() -> ResponseReturnValue:
    """Show what the link may pay, grouped by matter, with the choice of method."""
    checkout = baskets.checkout_for(g.link, g.firm)
    entries = baskets.Entries.read(request.args, checkout)
    return _basket_page(checkout, entries, FieldErrors())


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
    return _review_page(checkout, review, new_nonce(), FieldErrors())


@bp.post("/pay/confirm")
@limited("RATELIMIT_PAYMENT_ATTEMPT")
@link_required
def confirm() -> ResponseReturnValue:
    """Start the payment reviewed on the previous page, once, and show its receipt."""
    nonce = request.form.get("nonce", "")
    key = link_idempotency_key(g.link.public_id, nonce)
    if key is not None and (done := payments.payment_by_key(g.link.firm_id, key)) is not None:
        return _to_receipt(done.public_id)  # the second click of a double click
    checkout = baskets.checkout_for(g.link, g.firm)
    entries = baskets.Entries.read(request.form, checkout)
    if key is None:
        errors = FieldErrors()
        errors.add("basket", _("Please check your payment and review it again."))
        return _basket_page(checkout, entries, errors, status=422)
    try:
        order = reviews.read_order(
            g.link, g.firm, checkout, entries, request.form, locale=current_locale()
        )
    except baskets.BasketError as exc:
        return _basket_changed(key, checkout, entries, exc.errors)
    except baskets.DetailsError as exc:
        return _review_again(checkout, entries, nonce, exc.errors)
    client = g.link.client
    try:
        payment = payments.start_payment(
            link=g.link,
            basket=order.basket,
            method=order.method,
            instrument=order.instrument,
            idempotency_key=key,
            payer=Payer(
                name=client.name,
                email=client.email,
                ip=request.remote_addr or "",
                user_agent=request.user_agent.string,
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
    return _to_receipt(payment.public_id)


@bp.get("/payments/<public_id>")
@link_required
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
) -> ResponseReturnValue:
    page = render_template(
        "payments/basket.html", checkout=checkout, entries=entries, errors=errors
    )
    return page, status


def _review_page(
    checkout: baskets.Checkout,
    review: reviews.Review,
    nonce: str,
    errors: FieldErrors,
    *,
    status: int = 200,
) -> ResponseReturnValue:
    context: dict[str, Any] = {"review": review, "nonce": nonce, "errors": errors}
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


def _to_receipt(public_id: str) -> Response:
    # 303: the receipt is fetched with GET, so reloading it never posts the payment again.
    return redirect(url_for("payments.receipt", public_id=public_id), code=303)
