"""Reports (any staff): the reconciliation per merchant account and day in the firm's time
zone, and both trust-request reports (unpaid requests; payments made to requests), each on
screen and as a CSV of exactly the rows shown.

The period and the account are a GET form (bookmarkable, no CSRF: it changes nothing) with
days in the firm's time zone, this month by default. The figures come from the services the
API's routes call: `payments.reconciliation.report` (as `GET /reconciliation`, whose CSV rows
`payments.reconciliation_export` writes for both), `trust_requests.services.unpaid_report`
and `backoffice.reports.payments_report` (as `GET /trust-request-reports/unpaid` and
`/payments`). The trust-request reports live here rather than on Links & trust requests
(which links to them) because they are read-only, take the same period, and download as CSV
like the reconciliation; that page keeps the unpaid list it acts on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from flask import g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from portal import csvfiles
from portal.backoffice import reports as backoffice_reports
from portal.console.auth import bp, staff_required
from portal.console.payment_list import KIND_LABELS, STATUS_LABELS
from portal.firms.models import MerchantAccountKind
from portal.firms.services import firm_today, firm_zone, merchant_accounts_of
from portal.payments import reconciliation, reconciliation_export
from portal.trust_requests import services as trust

KINDS = tuple(MerchantAccountKind)

TRUST_KIND_LABELS: dict[str, Any] = {
    "retainer": lazy_gettext("Retainer"),
    "replenishment": lazy_gettext("Replenishment"),
}

UNPAID_HEADER = (
    "trust_request",
    "client",
    "matter",
    "matter_number",
    "kind",
    "currency",
    "amount",
    "paid",
    "remaining",
    "created_at",
    "age_days",
    "due_on",
    "overdue",
)
PAYMENTS_HEADER = (
    "trust_request",
    "kind",
    "matter",
    "payment",
    "charge",
    "charge_status",
    "currency",
    "amount",
    "refunded",
    "created_at",
    "succeeded_at",
)


def _account_choices() -> list[tuple[str, Any]]:
    choices: list[tuple[str, Any]] = [("", lazy_gettext("All accounts"))]
    for account in merchant_accounts_of(g.staff.firm_id):
        kind = KIND_LABELS.get(account.kind.value, account.kind.value)
        choices.append((account.public_id, f"{account.label} ({kind}, {account.currency})"))
    return choices


class PeriodForm(FlaskForm):
    """The report's days (the firm's, both included) and account, read from the query string."""

    class Meta:
        csrf = False

    start = DateField(lazy_gettext("From"), validators=[Optional()])
    end = DateField(lazy_gettext("To"), validators=[Optional()])
    account = SelectField(lazy_gettext("Account"), choices=_account_choices, default="")

    def period(self, today: dt.date) -> tuple[dt.date, dt.date] | None:
        """The days asked for (an empty first box: the start of the last day's month, or of
        this month; an empty last box: today, or the first day if that is later); None when
        they are out of order or too many (the field says)."""
        start = self.start.data or (self.end.data or today).replace(day=1)
        end = self.end.data or max(today, start)
        if end < start:
            self.end.errors = [
                *self.end.errors,
                str(lazy_gettext("This day is before the first day.")),
            ]
            return None
        if (end - start).days + 1 > reconciliation.MAX_DAYS:
            self.end.errors = [
                *self.end.errors,
                str(
                    lazy_gettext(
                        "A report covers at most %(days)s days.", days=reconciliation.MAX_DAYS
                    )
                ),
            ]
            return None
        return start, end


@dataclass(frozen=True)
class Reports:
    """What one request of the page shows (None for the figures: something typed is wrong)."""

    form: PeriodForm
    zone: dt.tzinfo
    start: dt.date | None = None
    end: dt.date | None = None
    reconciliation: reconciliation.Report | None = None


def _read() -> Reports:
    firm = g.staff.firm
    zone = firm_zone(firm)
    form = PeriodForm(formdata=request.args or None)
    if request.args and not form.validate():
        return Reports(form, zone)
    period = form.period(firm_today(firm))
    if period is None:
        return Reports(form, zone)
    start, end = period
    form.start.data, form.end.data = start, end
    report = reconciliation.report(g.staff.firm_id, start, end, form.account.data or None)
    return Reports(form, zone, start, end, report)


def _local(instant: dt.datetime | None, zone: dt.tzinfo) -> str:
    """An instant as the firm's wall-clock time, ISO 8601 with its offset (as the page shows)."""
    if instant is None:
        return ""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(zone).isoformat(timespec="seconds")


def unpaid_rows(zone: dt.tzinfo) -> list[dict[str, Any]]:
    """The unpaid report's rows, one dict per request under UNPAID_HEADER (page and CSV)."""
    return [
        {
            "trust_request": row.request.public_id,
            "client": row.client,
            "matter": row.matter,
            "matter_number": row.matter_number,
            "kind": row.request.kind.value,
            "currency": row.request.currency,
            "amount": row.request.amount_minor,
            "paid": row.request.paid_minor,
            "remaining": row.request.remaining_minor,
            "created_at": _local(row.request.created_at, zone),
            "age_days": row.age_days,
            "due_on": row.request.due_on,
            "overdue": row.is_overdue,
        }
        for row in trust.unpaid_report(g.staff.firm_id)
    ]


def payment_rows(start: dt.date, end: dt.date, zone: dt.tzinfo) -> list[dict[str, Any]]:
    """Payments made to trust requests on the firm's days `start`..`end`, under
    PAYMENTS_HEADER (page and CSV)."""
    return [
        {
            "trust_request": row.request_id,
            "kind": row.kind.value,
            "matter": row.matter,
            "payment": row.payment_id,
            "charge": row.charge_id,
            "charge_status": row.charge_status,
            "currency": row.currency,
            "amount": row.amount_minor,
            "refunded": row.refunded_minor,
            "created_at": _local(row.created_at, zone),
            "succeeded_at": _local(row.succeeded_at, zone),
        }
        for row in backoffice_reports.payments_report(g.staff.firm_id, start, end)
    ]


def _csv(header: Sequence[str], rows: list[dict[str, Any]], filename: str) -> ResponseReturnValue:
    def cells() -> Iterator[list[object]]:
        for row in rows:
            yield [row[name] for name in header]

    return csvfiles.attachment(header, cells(), filename)


def _query() -> dict[str, str]:
    return {key: value for key, value in request.args.items() if key in ("start", "end", "account")}


def _page(found: Reports) -> ResponseReturnValue:
    ok = found.reconciliation is not None
    return (
        render_template(
            "console/reports.html",
            form=found.form,
            report=found.reconciliation,
            start=found.start,
            end=found.end,
            zone=found.zone,
            unpaid=unpaid_rows(found.zone),
            request_payments=(
                payment_rows(found.start, found.end, found.zone)
                if found.start is not None and found.end is not None
                else None
            ),
            kinds=KINDS,
            kind_labels=KIND_LABELS,
            trust_kind_labels=TRUST_KIND_LABELS,
            status_labels=STATUS_LABELS,
            query=_query(),
        ),
        200 if ok else 422,
    )


@bp.get("/reports")
@staff_required
def reports() -> ResponseReturnValue:
    return _page(_read())


@bp.get("/reports/reconciliation.csv")
@staff_required
def reconciliation_csv() -> ResponseReturnValue:
    """The rows the page's reconciliation shows for the same query string, as the API's CSV."""
    found = _read()
    if found.reconciliation is None or found.start is None or found.end is None:
        return _page(found)
    return csvfiles.attachment(
        reconciliation_export.CSV_HEADER,
        reconciliation_export.rows(found.reconciliation),
        f"reconciliation-{found.start.isoformat()}-{found.end.isoformat()}.csv",
    )


@bp.get("/reports/trust-requests-unpaid.csv")
@staff_required
def unpaid_csv() -> ResponseReturnValue:
    found = _read()
    return _csv(UNPAID_HEADER, unpaid_rows(found.zone), "unpaid-trust-requests.csv")


@bp.get("/reports/trust-request-payments.csv")
@staff_required
def request_payments_csv() -> ResponseReturnValue:
    found = _read()
    if found.start is None or found.end is None:
        return _page(found)
    return _csv(
        PAYMENTS_HEADER,
        payment_rows(found.start, found.end, found.zone),
        f"trust-request-payments-{found.start.isoformat()}-{found.end.isoformat()}.csv",
    )
