"""One payment in the console (any staff role): its charges, allocations, each charge's event
history as a timeline and its flags; refund it (whole or per allocation) and resend its
receipt.

Its postings are listed with each delivery and every attempt (`postings.log.payment_messages`);
a failed one has a replay button calling `postings.outbox.replay_message`, as the Postings page
and `POST /api/v1/webhook-messages/{id}/replay` do.

A refund is asked in two steps: the amounts (each allocation's box, or "everything left"),
then a confirmation page that shows what goes back from trust and from operating and carries
a fresh idempotency key in a hidden field. A refund of more than the firm's
`refund_reauth_above_minor` (`portal.firms.settings.refund_needs_reauth`) also asks there for
the staff user's password, unless it was typed in the last five minutes
(`portal.staff.signin.confirm_password`, the helper behind `recent_auth_required`); confirming
checks it again, so a form sent without it refunds nothing. Confirming calls
`portal.payments.refund_requests.refund_by_key` (as `POST /api/v1/payments/{id}/refunds`
does) with that key, so a double click (or the browser sending the form again) refunds once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import Length

from portal import clock
from portal.console.auth import bp, staff_required
from portal.console.payment_list import SOURCE_LABELS, STATUS_LABELS
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.firms.models import MerchantAccountKind
from portal.firms.services import firm_currency, firm_zone
from portal.firms.settings import refund_needs_reauth
from portal.money import MoneyError, format_money, parse_money
from portal.payments import queries, receipt_emails, refund_requests
from portal.payments.models import Allocation, Charge
from portal.payments.queries import PaymentView
from portal.payments.refunds import RefundLine
from portal.postings import log, outbox
from portal.postings.models import MessageStatus
from portal.staff import sessions, signin
from portal.staff.signin import SignInFailed
from portal.text import FormText

#: Refunds are only possible from a charge whose money arrived.
REFUNDABLE = {"succeeded", "partially_refunded"}

KIND_TEXT: dict[str, Any] = {
    "operating": lazy_gettext("Operating"),
    "trust": lazy_gettext("Trust"),
}


class RefundForm(FlaskForm):
    """The amounts are read from `amount-<allocation id>` boxes; this carries the rest."""

    reason = StringField(
        lazy_gettext("Reason (optional)"), validators=[Length(max=300), FormText()]
    )


class ConfirmRefundForm(FlaskForm):
    key = HiddenField()
    whole = HiddenField()
    reason = HiddenField(validators=[Length(max=300), FormText()])
    #: Asked only when the refund is above the firm's threshold (and no recent password).
    password = PasswordField(
        lazy_gettext("Your password"),
        validators=[Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )


@dataclass(frozen=True)
class Line:
    """One allocation as the page shows it."""

    allocation: Allocation
    charge: Charge
    target: str
    left_minor: int

    @property
    def kind(self) -> str:
        return self.charge.account_kind.value


def _lines(view: PaymentView) -> list[Line]:
    found = []
    for charge in view.payment.charges:
        for line in charge.allocations:
            if line.invoice_id is not None:
                target = gettext("Invoice %(id)s", id=view.invoices[line.invoice_id])
            else:
                target = gettext("Trust for matter %(id)s", id=view.matters[line.matter_id])
            left = line.amount_minor - line.refunded_minor
            if charge.status.value not in REFUNDABLE:
                left = 0
            found.append(Line(line, charge, target, left))
    return found


def _page(
    view: PaymentView,
    form: RefundForm | None = None,
    errors: dict[int, str] | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    lines = _lines(view)
    events = sorted(
        ((event, charge) for charge in view.payment.charges for event in charge.events),
        key=lambda pair: (pair[0].recorded_at, pair[0].id),
    )
    return render_template(
        "console/payment.html",
        view=view,
        payment=view.payment,
        lines=lines,
        refundable=any(line.left_minor > 0 for line in lines),
        events=events,
        zone=firm_zone(g.staff.firm),
        form=form or RefundForm(formdata=None),
        errors=errors or {},
        problems=problems or [],
        typed={key: value for key, value in request.form.items() if key.startswith("amount-")},
        status_labels=STATUS_LABELS,
        source_labels=SOURCE_LABELS,
        kind_text=KIND_TEXT,
        postings=log.payment_messages(g.staff.firm_id, view.payment.id),
        message_status=MessageStatus,
    ), status


@bp.get("/payments/<public_id>")
@staff_required
def payment(public_id: str) -> ResponseReturnValue:
    return _page(queries.payment_for_firm(g.staff.firm_id, public_id))


@bp.post("/payments/<public_id>/refund")
@staff_required
def review_refund(public_id: str) -> ResponseReturnValue:
    """Check the amounts asked, then show what goes back to trust and to operating."""
    view = queries.payment_for_firm(g.staff.firm_id, public_id)
    form = RefundForm()
    if not form.validate_on_submit():
        return _page(view, form, status=422)
    lines = _lines(view)
    whole = "whole" in request.form
    errors: dict[int, str] = {}
    asked: list[tuple[Line, int]] = []
    locale = str(get_locale() or "en_US")
    for line in lines:
        if whole:
            if line.left_minor > 0:
                asked.append((line, line.left_minor))
            continue
        text = request.form.get(f"amount-{line.allocation.id}", "").strip()
        if not text:
            continue
        try:
            minor = parse_money(text, line.charge.currency, locale)
        except MoneyError:
            errors[line.allocation.id] = gettext("Enter an amount, like 1,250.00.")
            continue
        if minor > line.left_minor:
            errors[line.allocation.id] = gettext(
                "At most %(amount)s is left to refund here.",
                amount=_money(line.left_minor, line.charge.currency),
            )
            continue
        asked.append((line, minor))
    if errors:
        return _page(view, form, errors, status=422)
    if not asked:
        return _page(
            view,
            form,
            problems=[gettext("Enter an amount to refund, or refund everything left.")],
            status=422,
        )
    confirm = ConfirmRefundForm(
        formdata=None,
        key=secrets.token_urlsafe(24),
        whole="1" if whole else "",
        reason=form.reason.data,
    )
    return _confirm_page(view, asked, confirm)


def _needs_password(view: PaymentView, asked: list[tuple[Line, int]]) -> bool:
    """Whether refunding `asked` needs the password typed again now."""
    total = sum(minor for _, minor in asked)
    if not refund_needs_reauth(g.staff.firm, total, view.payment.currency):
        return False
    return not sessions.has_recent_auth(g.console_session)


def _confirm_page(
    view: PaymentView,
    asked: list[tuple[Line, int]],
    confirm: ConfirmRefundForm,
    status: int = 200,
) -> ResponseReturnValue:
    totals = {kind.value: 0 for kind in MerchantAccountKind}
    for line, minor in asked:
        totals[line.kind] += minor
    firm = g.staff.firm
    threshold = firm.refund_reauth_above_minor
    return render_template(
        "console/refund_confirm.html",
        payment=view.payment,
        asked=asked,
        totals=totals,
        currency=view.payment.currency,
        confirm=confirm,
        kind_text=KIND_TEXT,
        needs_password=_needs_password(view, asked),
        threshold=None if threshold is None else _money(threshold, firm_currency(firm.id)),
    ), status


def _asked_again(
    view: PaymentView, whole: bool, lines: list[RefundLine] | None
) -> list[tuple[Line, int]]:
    """What the confirmation form asks to refund, as the review showed it."""
    shown = _lines(view)
    if whole or lines is None:
        return [(line, line.left_minor) for line in shown if line.left_minor > 0]
    by_id = {line.allocation.id: line for line in shown}
    return [
        (by_id[one.allocation_id], one.amount_minor) for one in lines if one.allocation_id in by_id
    ]


@bp.post("/payments/<public_id>/refund/confirm")
@staff_required
def confirm_refund(public_id: str) -> ResponseReturnValue:
    view = queries.payment_for_firm(g.staff.firm_id, public_id)
    form = ConfirmRefundForm()
    if not form.validate_on_submit() or not form.key.data or len(form.key.data) > 100:
        return _page(
            view, problems=[gettext("The form had expired. Please send it again.")], status=422
        )
    lines: list[RefundLine] | None = None
    if not form.whole.data:
        lines = []
        for key, value in request.form.items():
            if key.startswith("line-") and key[5:].isdigit() and value.isdigit():
                lines.append(RefundLine(int(key[5:]), int(value)))
        if not lines:
            return _page(
                view,
                problems=[gettext("Enter an amount to refund, or refund everything left.")],
                status=422,
            )
    asked = _asked_again(view, bool(form.whole.data), lines)
    if _needs_password(view, asked):
        typed = form.password.data or ""
        if not typed:
            form.password.errors = [gettext("Enter your password to refund this much.")]
            return _confirm_page(view, asked, form, status=422)
        try:
            signin.confirm_password(g.console_session, typed)
        except SignInFailed:
            if not sessions.is_live(g.console_session, clock.now()):
                # Five failures lock the account and end its sessions: sign in again.
                return redirect(url_for("console.sign_in"), code=303)
            form.password.errors = [gettext("The password is wrong.")]
            return _confirm_page(view, asked, form, status=401)
    try:
        outcome = refund_requests.refund_by_key(
            firm_id=g.staff.firm_id,
            public_id=public_id,
            lines=lines,
            idempotency_key="console:" + form.key.data,
            reason=form.reason.data or "",
        )
    except (ValidationFailed, Conflict) as exc:
        details = [str(e.get("detail", "")) for e in exc.errors] or [str(exc.detail or exc.title)]
        refused = [gettext("The refund was not made: %(why)s", why=detail) for detail in details]
        return _page(view, problems=refused, status=exc.status)
    total = sum(refund.amount_minor for refund in outcome.refunds)
    if outcome.is_replay:
        flash(gettext("This refund was already made; nothing more was refunded."), "info")
    else:
        flash(gettext("Refunded %(amount)s.", amount=_money(total, view.payment.currency)), "info")
    return redirect(url_for("console.payment", public_id=public_id), code=303)


@bp.post("/payments/<public_id>/receipt")
@staff_required
def resend_receipt(public_id: str) -> ResponseReturnValue:
    view = queries.payment_for_firm(g.staff.firm_id, public_id)
    if not RefundForm().validate_on_submit():
        return _page(
            view, problems=[gettext("The form had expired. Please send it again.")], status=422
        )
    if receipt_emails.resend_receipt(g.staff.firm_id, public_id):
        flash(
            gettext(
                "The receipt is on its way to %(email)s.",
                email=", ".join(view.payment.receipt_to),
            ),
            "info",
        )
    else:
        flash(gettext("This payment has no payer email address to send the receipt to."), "warn")
    return redirect(url_for("console.payment", public_id=public_id), code=303)


@bp.post("/payments/<public_id>/postings/<message_id>/replay")
@staff_required
def replay_payment_posting(public_id: str, message_id: str) -> ResponseReturnValue:
    """Send one of this payment's postings again, then come back to the payment's page."""
    view = queries.payment_for_firm(g.staff.firm_id, public_id)
    message = outbox.message_for_firm(g.staff.firm_id, message_id)
    if message.payment_id != view.payment.id:
        raise NotFound("No webhook message with this id for this payment.")
    if not RefundForm().validate_on_submit():
        return _page(
            view, problems=[gettext("The form had expired. Please send it again.")], status=422
        )
    try:
        resent = outbox.replay_message(firm_id=g.staff.firm_id, public_id=message.public_id)
    except Conflict as exc:
        return _page(view, problems=[str(exc)], status=409)
    flash(
        gettext(
            "%(message)s queued again for %(count)s endpoint(s).",
            message=resent.message.public_id,
            count=len(resent.endpoints),
        ),
        "info",
    )
    return redirect(url_for("console.payment", public_id=public_id) + "#postings", code=303)


def _money(minor: int, currency: str) -> str:
    return format_money(minor, currency, str(get_locale() or "en_US"))
