"""One payment in the console (any staff role): its charges, allocations, each charge's event
history as a timeline and its flags; refund it (whole or per allocation) and resend its
receipt.

A refund is asked in two steps: the amounts (each allocation's box, or "everything left"),
then a confirmation page that shows what goes back from trust and from operating and carries
a fresh idempotency key in a hidden field. Confirming calls
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
from wtforms import HiddenField, StringField
from wtforms.validators import Length

from portal.console.auth import bp, staff_required
from portal.console.payment_list import SOURCE_LABELS, STATUS_LABELS
from portal.errors import Conflict, ValidationFailed
from portal.firms.models import MerchantAccountKind
from portal.firms.services import firm_zone
from portal.money import MoneyError, format_money, parse_money
from portal.payments import queries, receipt_emails, refund_requests
from portal.payments.models import Allocation, Charge
from portal.payments.queries import PaymentView
from portal.payments.refunds import RefundLine
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
    totals = {kind.value: 0 for kind in MerchantAccountKind}
    for line, minor in asked:
        totals[line.kind] += minor
    confirm = ConfirmRefundForm(
        formdata=None,
        key=secrets.token_urlsafe(24),
        whole="1" if whole else "",
        reason=form.reason.data,
    )
    return render_template(
        "console/refund_confirm.html",
        payment=view.payment,
        asked=asked,
        totals=totals,
        currency=view.payment.currency,
        confirm=confirm,
        kind_text=KIND_TEXT,
    )


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
            gettext("The receipt is on its way to %(email)s.", email=view.payment.payer_email),
            "info",
        )
    else:
        flash(gettext("This payment has no payer email address to send the receipt to."), "warn")
    return redirect(url_for("console.payment", public_id=public_id), code=303)


def _money(minor: int, currency: str) -> str:
    return format_money(minor, currency, str(get_locale() or "en_US"))
