"""The Payment Manager's list (any staff role): the firm's payments with the API's filters,
sortable, a page at a time, and "Export CSV" of exactly the page shown.

The filters are a GET form (bookmarkable, no CSRF: it changes nothing) read into the same
`PaymentFilters` the API's `GET /payments` builds, with days in the firm's time zone and
amounts typed as money in the firm's currency; the rows come from
`portal.payments.queries.payments_page` and the CSV's from `portal.payments.export.rows`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from portal import csvfiles
from portal.console.auth import bp, staff_required
from portal.firms.models import MerchantAccountKind
from portal.firms.services import firm_currencies, firm_zone
from portal.money import MoneyError, parse_money
from portal.payments import export, queries
from portal.payments.filters import PAYMENT_STATUSES, PaymentFilters, Sort
from portal.payments.models import PaymentMethod, PaymentSource

#: Payments on one page of the list (and so in one CSV export).
PAGE_SIZE = 50


def _choices(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [("", lazy_gettext("Any")), *pairs]


STATUS_LABELS: dict[str, Any] = {
    "created": lazy_gettext("Created"),
    "processing": lazy_gettext("Processing"),
    "failed": lazy_gettext("Failed"),
    "partially_failed": lazy_gettext("Partly failed"),
    "succeeded": lazy_gettext("Succeeded"),
    "partially_refunded": lazy_gettext("Partly refunded"),
    "refunded": lazy_gettext("Refunded"),
    "returned": lazy_gettext("Returned"),
    "disputed": lazy_gettext("Disputed"),
    "canceled": lazy_gettext("Canceled"),
}
SOURCE_LABELS: dict[str, Any] = {
    "link": lazy_gettext("Link"),
    "pay_button": lazy_gettext("Pay button"),
    "staff": lazy_gettext("Staff"),
}
KIND_LABELS: dict[str, Any] = {
    "operating": lazy_gettext("Operating"),
    "trust": lazy_gettext("Trust"),
}
METHOD_LABELS: dict[str, Any] = {"card": lazy_gettext("Card"), "ach": lazy_gettext("ACH")}
SORT_LABELS: dict[str, Any] = {
    "date": lazy_gettext("Oldest first"),
    "-date": lazy_gettext("Newest first"),
    "amount": lazy_gettext("Smallest first"),
    "-amount": lazy_gettext("Largest first"),
}


class PaymentFilterForm(FlaskForm):
    """The list's filters, read from the query string."""

    class Meta:
        csrf = False

    status = SelectField(
        lazy_gettext("Status"),
        choices=lambda: _choices((w, STATUS_LABELS[w]) for w in (*PAYMENT_STATUSES, "canceled")),
        default="",
    )
    created_from = DateField(lazy_gettext("Created from"), validators=[Optional()])
    created_to = DateField(lazy_gettext("Created to"), validators=[Optional()])
    client = StringField(lazy_gettext("Client"), validators=[Optional(), Length(max=64)])
    matter = StringField(lazy_gettext("Matter"), validators=[Optional(), Length(max=64)])
    invoice = StringField(lazy_gettext("Invoice"), validators=[Optional(), Length(max=64)])
    method = SelectField(
        lazy_gettext("Method"),
        choices=lambda: _choices((m.value, METHOD_LABELS[m.value]) for m in PaymentMethod),
        default="",
    )
    account_kind = SelectField(
        lazy_gettext("Account"),
        choices=lambda: _choices((k.value, KIND_LABELS[k.value]) for k in MerchantAccountKind),
        default="",
    )
    source = SelectField(
        lazy_gettext("Source"),
        choices=lambda: _choices((s.value, SOURCE_LABELS[s.value]) for s in PaymentSource),
        default="",
    )
    amount_min = StringField(lazy_gettext("Amount from"), validators=[Length(max=40)])
    amount_max = StringField(lazy_gettext("Amount to"), validators=[Length(max=40)])
    declines = BooleanField(lazy_gettext("Include declined payments"))
    sort = SelectField(
        lazy_gettext("Order"),
        choices=lambda: [(s.value, SORT_LABELS[s.value]) for s in Sort],
        default="-date",
    )

    def validate_created_to(self, field: DateField) -> None:
        start = self.created_from.data
        if field.data is not None and start is not None and field.data < start:
            raise ValidationError(lazy_gettext("This day is before the first day."))

    def minor(self, field: StringField, currency: str) -> int | None:
        """The amount typed in `field`, in minor units; None when empty or wrong (then the
        field carries the error)."""
        text = (field.data or "").strip()
        if not text:
            return None
        try:
            return parse_money(text, currency, str(get_locale() or "en_US"), allow_zero=True)
        except MoneyError:
            field.errors = [*field.errors, str(lazy_gettext("Enter an amount, like 1,250.00."))]
            return None

    def filters(self, zone: dt.tzinfo, currency: str) -> PaymentFilters | None:
        """The conditions (None when something typed is wrong: the fields say what)."""
        if not self.validate():
            # Still read the amounts, so every wrong field is marked at once.
            self.minor(self.amount_min, currency)
            self.minor(self.amount_max, currency)
            return None
        low = self.minor(self.amount_min, currency)
        high = self.minor(self.amount_max, currency)
        if self.amount_min.errors or self.amount_max.errors:
            return None
        if low is not None and high is not None and high < low:
            self.amount_max.errors = [str(lazy_gettext("This is less than the lowest amount."))]
            return None
        return PaymentFilters(
            status=self.status.data or None,
            created_from=self.created_from.data,
            created_to=self.created_to.data,
            zone=zone,
            client=self.client.data or None,
            matter=self.matter.data or None,
            invoice=self.invoice.data or None,
            method=PaymentMethod(self.method.data) if self.method.data else None,
            account_kind=(
                MerchantAccountKind(self.account_kind.data) if self.account_kind.data else None
            ),
            source=PaymentSource(self.source.data) if self.source.data else None,
            amount_min=low,
            amount_max=high,
            declines=bool(self.declines.data),
        )


@dataclass(frozen=True)
class Listed:
    """What one request of the list shows: the form, the page (None: bad input), the zone."""

    form: PaymentFilterForm
    page: queries.PaymentPage | None
    zone: dt.tzinfo


def _after() -> int | None:
    text = request.args.get("after", "")
    return int(text) if text.isdigit() and len(text) < 19 else None


def _list() -> Listed:
    firm = g.staff.firm
    zone = firm_zone(firm)
    form = PaymentFilterForm(formdata=request.args or None)
    currency = min(firm_currencies(firm.id) or {"USD"})
    filters = form.filters(zone, currency)
    if filters is None:
        return Listed(form, None, zone)
    page = queries.payments_page(
        firm_id=g.staff.firm_id,
        filters=filters,
        after_id=_after(),
        limit=PAGE_SIZE,
        sort=Sort(form.sort.data or Sort.DATE_DESC.value),
    )
    return Listed(form, page, zone)


def _query(**changes: str | None) -> dict[str, str]:
    """This request's query string with `changes` (None removes a key)."""
    args = {key: value for key, value in request.args.items() if key != "csrf_token"}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return args


@bp.get("/payments")
@staff_required
def payments() -> ResponseReturnValue:
    listed = _list()
    status = 200 if listed.page is not None else 422
    return render_template(
        "console/payments.html",
        form=listed.form,
        page=listed.page,
        zone=listed.zone,
        status_labels=STATUS_LABELS,
        source_labels=SOURCE_LABELS,
        query=_query,
        after=_after(),
    ), status


@bp.get("/payments.csv")
@staff_required
def payments_csv() -> ResponseReturnValue:
    """The rows of exactly the page `console.payments` shows for the same query string."""
    listed = _list()
    if listed.page is None:
        return payments()
    return csvfiles.attachment(
        export.HEADER, export.rows(listed.page.items, listed.zone), "payments.csv"
    )
