"""The pay button for a firm's website, and the hosted page it opens.

GET /embed/v1.js is the script firms paste (with its Subresource Integrity hash, see the
README); it asks GET /embed/v1/<slug>.json, which answers only the firm's registered origins,
and draws "Pay your invoice" (and "Deposit to trust") buttons that open /pay/<slug> in a new
window. /pay/<slug> also works as a plain link: details → review → confirm → receipt, the
same steps as a client link's pay flow, for a payer the portal does not know. The receipt
tells the opener window by postMessage, addressed to the firm's registered origins only.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from portal import i18n, security
from portal.colors import brand_hex
from portal.errors import NotFound, ValidationFailed
from portal.firms import branding
from portal.firms.embed import EMBED_FILES, public_url
from portal.firms.models import Firm, MerchantAccount
from portal.firms.services import firm_zone
from portal.gateways.base import Instrument
from portal.limits import limited
from portal.money import format_money, to_plain
from portal.paybutton import services
from portal.paybutton.forms import PublicPaymentForm
from portal.paybutton.services import Kind, Refused
from portal.payments import receipts
from portal.payments import services as payments
from portal.payments.allocation import AllocationError
from portal.payments.checkout_forms import (
    FieldErrors,
    mandate_text,
    new_nonce,
    public_idempotency_key,
    publishable_key,
    read_instrument,
)
from portal.payments.instruments import instrument_text
from portal.payments.models import UNMATCHED, ChargeStatus, Payment, PaymentMethod
from portal.payments.services import MethodUnavailable, Origin, Payer, TooManyAttempts
from portal.templating import locale_scope

bp = Blueprint("paybutton", __name__)

#: Session key holding the payments this browser made on public pay pages (their receipts).
SESSION_KEY = "public_payments"
_REMEMBERED = 10
_DAY = 86400


# -- the script and its configuration ------------------------------------------------------------


@bp.get("/embed/<version>.js")
def embed_script(version: str) -> ResponseReturnValue:
    """The pay button script, loadable from any site (CORS for its integrity check)."""
    path = EMBED_FILES.get(version)
    if path is None:
        raise NotFound("no such embed version")
    response = Response(path.read_bytes(), mimetype="text/javascript")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Cache-Control"] = f"public, max-age={_DAY}"
    return response


@bp.get("/embed/v1/<slug>.json")
def embed_config(slug: str) -> ResponseReturnValue:
    """What the button draws, for a page on one of the firm's registered origins only."""
    firm = _firm(slug)
    origin = request.headers.get("Origin", "")
    locale = _page_locale(request.args.get("lang"))
    allowed = origin in (firm.website_origins or [])
    if not allowed:
        response = jsonify({"error": "origin not registered"})
        response.status_code = 403
        response.headers["Vary"] = "Origin"
        return response
    # The hosted page opens in the language the site's page is in (its <html lang>), when the
    # portal speaks it; otherwise the payer's browser decides there.
    lang = {"lang": asked} if (asked := i18n.closest_supported(request.args.get("lang"))) else {}
    with locale_scope(locale):
        body: dict[str, Any] = {
            "firm": firm.name,
            "pay": {
                "url": public_url("paybutton.start", slug=firm.slug, **lang),
                "label": _("Pay your invoice"),
            },
            "trust": None,
            "opens_window": _("opens in a new window"),
        }
        if firm.public_trust_deposits:
            body["trust"] = {
                "url": public_url("paybutton.start", slug=firm.slug, kind="trust", **lang),
                "label": _("Deposit to trust"),
            }
    response = jsonify(body)
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/brand/logo/<slug>/<digest>")
def logo(slug: str, digest: str) -> ResponseReturnValue:
    """A firm's logo; its URL names its digest, so browsers may keep it for good."""
    found = branding.logo_for(slug, digest)
    response = Response(found.data, mimetype=found.content_type)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    # The firm's emails show it too, inside webmail pages of other origins.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# -- the hosted page -------------------------------------------------------------------------------


@bp.after_request
def _keep_opener(response: Response) -> Response:
    """The hosted pages keep their opener, so the receipt can tell the firm's page.

    Every other page sends COOP same-origin (portal.security), which would cut a window
    opened from the firm's site off from it. Framing stays forbidden (frame-ancestors
    'none', X-Frame-Options DENY): card fields never sit in another site's frame.
    """
    if request.path.startswith("/pay/"):
        response.headers["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return response


def _firm(slug: str) -> Firm:
    firm = services.firm_by_slug(slug)
    if firm is None:
        raise NotFound("no such firm")
    return firm


def _page_locale(wanted: str | None = None) -> str:
    """The page's locale: one the embedding page asks for (its <html lang>), else the payer's
    own choice or browser (portal.i18n.negotiate; a payer has no client record here)."""
    return i18n.closest_supported(wanted) or i18n.negotiate()


def _enter(slug: str) -> Firm:
    firm = _firm(slug)
    g.firm = firm
    g.brand = brand_hex(firm.brand_colour)
    asked = i18n.closest_supported(request.args.get("lang")) if request.method == "GET" else None
    if asked is not None:
        # The button's site asked for its own language (?lang=): the review, the receipt and
        # the receipt email follow it, as if the payer had picked it with the switcher.
        session[i18n.SESSION_KEY] = asked
    g.locale = _page_locale(asked)
    i18n.use_locale(g.locale)
    return firm


def _firm_key() -> str:
    return "firm:" + str((request.view_args or {}).get("slug", ""))


def _kind(value: str | None, firm: Firm) -> Kind:
    if value == Kind.TRUST.value:
        if not firm.public_trust_deposits:
            abort(404)
        return Kind.TRUST
    return Kind.INVOICE


@bp.get("/pay/<slug>")
def start(slug: str) -> ResponseReturnValue:
    """The form: name, email, reference, amount and method.

    `?reference=` and `?amount=` fill their boxes (a firm's "pay invoice 1041" link); they
    are only suggestions: the payer sees them and the review judges them like typed ones.
    """
    firm = _enter(slug)
    kind = _kind(request.args.get("kind"), firm)
    form = PublicPaymentForm(
        formdata=None,
        kind=kind.value,
        reference=services.normal_reference(request.args.get("reference", "")),
        amount=request.args.get("amount", "")[:40],
    )
    return _start_page(firm, form, kind)


@bp.post("/pay/<slug>/change")
def change(slug: str) -> ResponseReturnValue:
    """The form again, with what the payer typed (the review's "Change" button, or its
    "Deposit to trust instead"): nothing is judged until it is reviewed again."""
    firm = _enter(slug)
    form = PublicPaymentForm()
    kind = _kind(form.kind.data, firm)
    return _start_page(firm, form, kind)


@bp.post("/pay/<slug>/review")
@limited("RATELIMIT_PAY_BUTTON_IP")
@limited("RATELIMIT_PAY_BUTTON_FIRM", key=_firm_key)
def review(slug: str) -> ResponseReturnValue:
    """Repeat what the payer typed, say where it goes, and ask for the card or bank."""
    firm = _enter(slug)
    form = PublicPaymentForm()
    kind = _kind(form.kind.data, firm)
    prepared = _prepared(firm, form, kind)
    if prepared is None:
        return _start_page(firm, form, kind, status=422)
    return _review_page(firm, form, prepared, new_nonce(), {})


@bp.post("/pay/<slug>/confirm")
@limited("RATELIMIT_PAY_BUTTON_IP")
@limited("RATELIMIT_PAY_BUTTON_FIRM", key=_firm_key)
def confirm(slug: str) -> ResponseReturnValue:
    """Take the payment once, whatever the number of clicks, and show its receipt."""
    firm = _enter(slug)
    form = PublicPaymentForm()
    kind = _kind(form.kind.data, firm)
    nonce = request.form.get("nonce", "")
    key = public_idempotency_key(firm.id, nonce)
    if key is None:
        form.form_errors.append(_("Please check your payment and review it again."))
        return _start_page(firm, form, kind, status=422)
    if (done := payments.payment_by_key(firm.id, key)) is not None:
        return _to_receipt(firm, done)  # the second click of a double click
    prepared = _prepared(firm, form, kind)
    if prepared is None:
        return _start_page(firm, form, kind, status=422)
    method = PaymentMethod(form.method.data)
    details = FieldErrors()
    instrument = _instrument(firm, prepared, method, request.form, details)
    text = None
    if method is PaymentMethod.ACH:
        text = mandate_text(firm, prepared.typed_minor, prepared.currency, g.locale)
        if request.form.get("mandate") != "accepted":
            details.add("mandate", _("Tick the box to authorize the bank debit."))
    if details:
        return _review_page(firm, form, prepared, nonce, details, status=422)
    payer = Payer(
        name=(form.name.data or "").strip(),
        email=(form.email.data or "").strip(),
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
        locale=g.locale,
    )
    flags = []
    if prepared.unmatched:
        flags.append(
            (
                UNMATCHED,
                "The payer's reference matched no open invoice; the payment was taken into "
                "operating unapplied. Apply it in the back office.",
            )
        )
    try:
        payments.check_attempt_limits(None, payer.ip, firm_id=firm.id)
        payment = payments.submit_plan(
            Origin(
                firm_id=firm.id,
                client_id=prepared.client_id,
                link_id=None,
                payer_reference=services.normal_reference(form.reference.data or ""),
                payer_typed_minor=prepared.typed_minor,
            ),
            prepared.plan,
            method=method,
            instrument=instrument,
            idempotency_key=key,
            payer=payer,
            mandate_text=text,
            flags=flags,
        )
    except TooManyAttempts:
        body = render_template("payments/too_many_attempts.html")
        return body, 429, {"Retry-After": "3600"}
    except (AllocationError, MethodUnavailable, ValidationFailed):
        form.form_errors.append(
            _("This payment cannot be taken as entered. Please check it and try again.")
        )
        return _start_page(firm, form, kind, status=409)
    return _to_receipt(firm, payment)


@bp.route("/pay/<slug>/authenticate/<public_id>", methods=["GET", "POST"])
@limited("RATELIMIT_PAY_BUTTON_IP")
def authenticate(slug: str, public_id: str) -> ResponseReturnValue:
    """The sandbox's test bank for this browser's own payment (3-D Secure): its answer, once."""
    firm = _enter(slug)
    payment = services.public_payment(firm, public_id)
    if payment is None or public_id not in session.get(SESSION_KEY, []):
        raise NotFound("no such payment")
    if request.method == "POST":
        approved = request.form.get("answer") == "approve"
        payments.answer_test_bank(payment, approved=approved, ip=request.remote_addr or "")
    if not payments.waiting_for_test_bank(payment):
        return _to_receipt(firm, payment)
    action = url_for("paybutton.authenticate", slug=firm.slug, public_id=public_id)
    return render_template("payments/authenticate.html", payment=payment, action=action)


@bp.get("/pay/<slug>/receipts/<public_id>")
def receipt(slug: str, public_id: str) -> ResponseReturnValue:
    """The payer's receipt: what they typed and what was charged. Only this browser's own."""
    firm = _enter(slug)
    if public_id not in session.get(SESSION_KEY, []):
        raise NotFound("no such receipt")
    payment = services.public_payment(firm, public_id)
    if payment is None:
        raise NotFound("no such receipt")
    status = payments.payment_status(payment)
    first = payment.charges[0]
    instrument = ""
    if first.instrument_last4:
        instrument = instrument_text(first.instrument_brand, first.instrument_last4)
    failure = next(
        (c.failure_message for c in payment.charges if c.status is ChargeStatus.FAILED), None
    )
    amount = receipts.amount_shown_to_payer(payment, status)
    message = {
        "type": "matterpay:payment",
        "firm": firm.slug,
        "status": status,
        "payment": payment.public_id,
        "amount_minor": amount,
        "currency": payment.currency,
    }
    return render_template(
        "paybutton/receipt.html",
        payment=payment,
        amount=amount,
        status=status,
        instrument=instrument,
        failure=failure,
        kind="trust" if first.account_kind.value == "trust" else "invoice",
        origins=" ".join(firm.website_origins or []),
        message=message,
        zone=firm_zone(firm),
    )


# -- helpers ---------------------------------------------------------------------------------------


#: What the page says for each `Refused.code`, in the payer's language.
_REFUSALS = {
    "below_minimum": lambda p: _("The smallest payment here is %(amount)s.", amount=p),
    "no_match": lambda _p: _(
        "We cannot take this deposit as entered. Check the matter number and the client's "
        "name with the firm."
    ),
    "no_public_trust": lambda _p: _("Trust deposits cannot be made here."),
}


def _prepared(firm: Firm, form: PublicPaymentForm, kind: Kind) -> services.Prepared | None:
    """Validate the form and decide the payment; None with errors on the form if it fails."""
    currency = services.currency_of(firm)
    ok = form.validate()
    if currency is None:
        form.form_errors.append(_("This firm does not take payments here."))
        return None
    methods = services.methods_for(firm, kind, currency)
    if form.method.data and form.method.data not in {method.value for method in methods}:
        form.method.errors = [*form.method.errors, _("This payment method is not available.")]
        ok = False
    amount = form.amount_minor(currency, g.locale) if form.amount.data else None
    if kind is Kind.TRUST and not (form.client_name.data or "").strip():
        form.client_name.errors = [*form.client_name.errors, _("Enter the client's name.")]
        ok = False
    if not ok or amount is None:
        return None
    try:
        return services.prepare(
            firm,
            kind=kind,
            reference=services.normal_reference(form.reference.data or ""),
            amount_minor=amount,
            currency=currency,
            client_name=form.client_name.data or "",
        )
    except Refused as exc:
        smallest = format_money(services.minimum_minor(), currency, g.locale)
        target = form.amount if exc.field == "amount" else form.reference
        target.errors = [*target.errors, _REFUSALS[exc.code](smallest)]
        return None


def _instrument(
    firm: Firm,
    prepared: services.Prepared,
    method: PaymentMethod,
    data: MultiDict[str, str],
    errors: FieldErrors,
) -> Instrument:
    on_stripe = _gateway(firm, prepared) == "stripe"
    card = method is PaymentMethod.CARD
    return read_instrument(data, on_stripe=on_stripe, card=card, errors=errors)


def _account(firm: Firm, prepared: services.Prepared) -> MerchantAccount:
    """The merchant account the public payment's one charge goes to."""
    charge = prepared.plan.charges[0]
    return payments.merchant_account(firm.id, charge.account_kind, prepared.currency)


def _gateway(firm: Firm, prepared: services.Prepared) -> str:
    return _account(firm, prepared).gateway


def _start_page(firm: Firm, form: PublicPaymentForm, kind: Kind, *, status: int = 200) -> Any:
    currency = services.currency_of(firm) or "USD"
    methods = services.methods_for(firm, kind, currency)
    form.method.choices = [c for c in form.method.choices if PaymentMethod(c.value) in methods]
    if kind is Kind.TRUST:
        form.reference.label.text = _("Matter number")
    page = render_template(
        "paybutton/start.html",
        form=form,
        kind=kind.value,
        currency=currency,
        minimum=services.minimum_minor(),
    )
    return page, status


def _review_page(
    firm: Firm,
    form: PublicPaymentForm,
    prepared: services.Prepared,
    nonce: str,
    errors: dict[str, list[str]],
    *,
    status: int = 200,
) -> Any:
    method = PaymentMethod(form.method.data)
    gateway = _gateway(firm, prepared)
    context: dict[str, Any] = {
        "form": form,
        "prepared": prepared,
        "typed": to_plain(prepared.typed_minor, prepared.currency),
        "method": method.value,
        "nonce": nonce,
        "errors": errors,
        "uses_stripe": gateway == "stripe",
        "suggest_trust": prepared.kind is Kind.INVOICE
        and firm.public_trust_deposits
        and services.reads_like_trust(form.reference.data or ""),
        "mandate_text": (
            # The typed amount: the capped one would tell a stranger the invoice's balance.
            mandate_text(firm, prepared.typed_minor, prepared.currency, g.locale)
            if method is PaymentMethod.ACH
            else None
        ),
    }
    if gateway == "stripe":
        context["publishable_key"] = publishable_key(_account(firm, prepared))
        # Stripe.js and its frames on this page only (see portal.security).
        security.allow_stripe()
    return render_template("paybutton/review.html", **context), status


def _to_receipt(firm: Firm, payment: Payment) -> ResponseReturnValue:
    remembered = [p for p in session.get(SESSION_KEY, []) if p != payment.public_id]
    session[SESSION_KEY] = [*remembered, payment.public_id][-_REMEMBERED:]
    endpoint = "paybutton.receipt"
    if payments.waiting_for_test_bank(payment):
        endpoint = "paybutton.authenticate"  # the card's bank must confirm first
    url = url_for(endpoint, slug=firm.slug, public_id=payment.public_id)
    return redirect(url, code=303)
