"""Turn what a payer asked to pay into a plan: checked amounts, one charge per merchant account.

Pure functions over plain data, so every rule here is tested without a database: nothing over
a balance due, nothing zero or negative, the firm's minimum, partial payments only where the
firm allows them, auto-apply in the firm's order (oldest due date first unless it chose
another), trust deposits always typed by hand, and
invoices routed to operating while deposits go to trust, never mixed in one charge.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# AllocationError lives in portal.errors (trust requests raise it too); re-exported here.
from portal.errors import AllocationError as AllocationError
from portal.errors import ValidationProblem
from portal.firms.models import AutoApplyOrder, MerchantAccountKind
from portal.money import MAX_MINOR, format_money
from portal.payments.models import AllocationKind


@dataclass(frozen=True)
class PayableInvoice:
    """An open invoice as the payer may pay it now."""

    id: int
    matter_id: int
    number: str
    issued_on: dt.date
    due_on: dt.date | None
    currency: str
    #: Balance due less what charges in flight already hold.
    payable_minor: int


@dataclass(frozen=True)
class PayableRequest:
    """An open trust request as the payer may pay it now (see portal.trust_requests)."""

    id: int
    matter_id: int
    currency: str
    #: The amount asked less what settled and in-flight payments already hold.
    payable_minor: int


@dataclass(frozen=True)
class Basket:
    """What the payer asked for, in minor units: per invoice, per matter into trust, and per
    trust request (a trust deposit into the request's matter, allocated to the request)."""

    invoices: Mapping[int, int] = field(default_factory=dict)
    trust_deposits: Mapping[int, int] = field(default_factory=dict)
    trust_requests: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    """The firm's payment rules."""

    allow_partial: bool = True
    #: No single line or charge below this, in minor units (processors refuse tiny charges).
    minimum_minor: int = 100
    #: The order a typed total is applied to open invoices in (the firm's setting).
    order: AutoApplyOrder = AutoApplyOrder.OLDEST_DUE


@dataclass(frozen=True)
class Line:
    kind: AllocationKind
    matter_id: int
    invoice_id: int | None
    amount_minor: int
    trust_request_id: int | None = None


@dataclass(frozen=True)
class PlannedCharge:
    account_kind: MerchantAccountKind
    currency: str
    lines: tuple[Line, ...]
    #: Money taken into this (operating) account that no line names: a payment through the
    #: firm's public pay page whose reference matched no open invoice, for the firm to apply.
    unapplied_minor: int = 0

    @property
    def amount_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines) + self.unapplied_minor


@dataclass(frozen=True)
class Plan:
    currency: str
    charges: tuple[PlannedCharge, ...]

    @property
    def total_minor(self) -> int:
        return sum(charge.amount_minor for charge in self.charges)


def _money(minor: int, currency: str) -> str:
    """An amount in a problem's English `detail` (the pay pages render the code instead, with
    the amount from `params` in the payer's locale)."""
    return format_money(minor, currency)


def apply_order(invoice: PayableInvoice) -> tuple[dt.date, dt.date, str]:
    """Oldest due first: oldest due date (no due date last), then issue date, then number."""
    return (invoice.due_on or dt.date.max, invoice.issued_on, invoice.number)


def _oldest_issued(invoice: PayableInvoice) -> tuple[dt.date, dt.date, str]:
    return (invoice.issued_on, invoice.due_on or dt.date.max, invoice.number)


def _smallest_first(invoice: PayableInvoice) -> tuple[int, dt.date, dt.date, str]:
    return (invoice.payable_minor, *apply_order(invoice))


_ORDERS: dict[AutoApplyOrder, Callable[[PayableInvoice], tuple[object, ...]]] = {
    AutoApplyOrder.OLDEST_DUE: apply_order,
    AutoApplyOrder.OLDEST_ISSUED: _oldest_issued,
    AutoApplyOrder.SMALLEST_FIRST: _smallest_first,
}


def in_apply_order(
    invoices: Iterable[PayableInvoice], order: AutoApplyOrder = AutoApplyOrder.OLDEST_DUE
) -> list[PayableInvoice]:
    """`invoices` in the order a total is applied to them (ties broken by due date, issue date
    and number, so the order never depends on how the rows were read)."""
    return sorted(invoices, key=_ORDERS[order])


def auto_apply(
    invoices: Sequence[PayableInvoice],
    total_minor: int,
    order: AutoApplyOrder = AutoApplyOrder.OLDEST_DUE,
) -> dict[int, int]:
    """Spread `total_minor` over `invoices` in the firm's `order`; refuse more than is due."""
    if total_minor <= 0:
        raise AllocationError(
            errors=[ValidationProblem("total_not_positive", "total", "Enter an amount above zero.")]
        )
    due = sum(invoice.payable_minor for invoice in invoices)
    if total_minor > due:
        currency = invoices[0].currency if invoices else "USD"
        raise AllocationError(
            errors=[
                ValidationProblem(
                    "total_over_due",
                    "total",
                    f"That is more than the {_money(due, currency)} due in all.",
                    {"due_minor": due, "currency": currency},
                )
            ]
        )
    remaining, applied = total_minor, {}
    for invoice in in_apply_order(invoices, order):
        if remaining == 0:
            break
        part = min(invoice.payable_minor, remaining)
        if part > 0:
            applied[invoice.id] = part
            remaining -= part
    return applied


def plan(
    basket: Basket,
    *,
    invoices: Mapping[int, PayableInvoice],
    trust_matters: Mapping[int, str],
    rules: Rules,
    requests: Mapping[int, PayableRequest] | None = None,
) -> Plan:
    """Check every line of `basket` against what may be paid and route it to its account.

    `invoices` are the payable invoices the payer may see, `trust_matters` the matters (with
    their currency) the payer may deposit to, `requests` the open trust requests they may pay.
    Anything else is refused as not payable. A trust request is paid into trust only, never
    beyond what is left on it; it may be paid in parts.
    """
    requests = requests or {}
    errors: list[ValidationProblem] = []
    lines: list[tuple[MerchantAccountKind, str, Line]] = []

    def fail(field_name: str, code: str, detail: str, **params: object) -> None:
        errors.append(ValidationProblem(code, field_name, detail, params))

    for invoice_id, amount in basket.invoices.items():
        name = f"invoice-{invoice_id}"
        invoice = invoices.get(invoice_id)
        if invoice is None:
            fail(name, "invoice_not_payable", "This invoice is not open for payment.")
            continue
        number, currency = invoice.number, invoice.currency
        if amount <= 0:
            fail(
                name,
                "invoice_amount_not_positive",
                f"Enter an amount above zero for invoice {number}.",
                number=number,
            )
        elif amount > invoice.payable_minor:
            left = invoice.payable_minor
            fail(
                name,
                "invoice_over_payable",
                f"Invoice {number} has {_money(left, currency)} left to pay.",
                number=number,
                left_minor=left,
                currency=currency,
            )
        elif amount < invoice.payable_minor and not rules.allow_partial:
            fail(
                name,
                "invoice_partial_not_allowed",
                f"Invoice {number} must be paid in full.",
                number=number,
            )
        elif amount < min(rules.minimum_minor, invoice.payable_minor):
            smallest = rules.minimum_minor
            fail(
                name,
                "invoice_below_minimum",
                f"The smallest payment is {_money(smallest, currency)}.",
                minimum_minor=smallest,
                currency=currency,
            )
        else:
            line = Line(AllocationKind.INVOICE, invoice.matter_id, invoice.id, amount)
            lines.append((MerchantAccountKind.OPERATING, currency, line))

    for matter_id, amount in basket.trust_deposits.items():
        name = f"trust-{matter_id}"
        matter_currency = trust_matters.get(matter_id)
        if matter_currency is None:
            fail(name, "deposit_not_accepted", "This matter does not take trust deposits here.")
        elif amount <= 0:
            fail(name, "deposit_not_positive", "Enter a deposit above zero.")
        elif amount < rules.minimum_minor:
            smallest = rules.minimum_minor
            fail(
                name,
                "deposit_below_minimum",
                f"The smallest deposit is {_money(smallest, matter_currency)}.",
                minimum_minor=smallest,
                currency=matter_currency,
            )
        elif amount > MAX_MINOR:
            fail(name, "deposit_too_large", "That deposit is too large.")
        else:
            line = Line(AllocationKind.TRUST_DEPOSIT, matter_id, None, amount)
            lines.append((MerchantAccountKind.TRUST, matter_currency, line))

    for request_id, amount in basket.trust_requests.items():
        name = f"request-{request_id}"
        request = requests.get(request_id)
        if request is None:
            fail(name, "request_not_payable", "This trust request is not open for payment.")
        elif amount <= 0:
            fail(
                name,
                "request_amount_not_positive",
                "Enter an amount above zero for this trust request.",
            )
        elif amount > request.payable_minor:
            left = request.payable_minor
            fail(
                name,
                "request_over_payable",
                f"This trust request has {_money(left, request.currency)} left to pay.",
                left_minor=left,
                currency=request.currency,
            )
        elif amount < min(rules.minimum_minor, request.payable_minor):
            smallest = rules.minimum_minor
            fail(
                name,
                "deposit_below_minimum",
                f"The smallest deposit is {_money(smallest, request.currency)}.",
                minimum_minor=smallest,
                currency=request.currency,
            )
        else:
            line = Line(AllocationKind.TRUST_DEPOSIT, request.matter_id, None, amount, request_id)
            lines.append((MerchantAccountKind.TRUST, request.currency, line))

    if not errors and not lines:
        fail(
            "basket",
            "basket_empty",
            "Choose at least one invoice or enter a trust deposit.",
        )
    currencies = {currency for _kind, currency, _line in lines}
    if len(currencies) > 1:
        fail("basket", "basket_mixed_currencies", "Pay amounts in one currency at a time.")
    if errors:
        raise AllocationError(errors=errors)

    currency = currencies.pop()
    charges = []
    for kind in (MerchantAccountKind.OPERATING, MerchantAccountKind.TRUST):
        kind_lines = tuple(line for k, _c, line in lines if k is kind)
        if kind_lines:
            charges.append(PlannedCharge(kind, currency, kind_lines))
    total = sum(c.amount_minor for c in charges)
    if total > MAX_MINOR:
        raise AllocationError(
            errors=[ValidationProblem("total_too_large", "basket", "That total is too large.")]
        )
    return Plan(currency=currency, charges=tuple(charges))


def check_carried(
    basket: Basket,
    *,
    invoices: Mapping[int, int],
    deposits: Mapping[int, int],
    rules: Rules,
    currency: str,
) -> None:
    """Refuse a basket that strays from the allocation a link carries (send for payment):
    a line it does not carry, more than a line's amount, or less where the firm takes no
    partial payments (then every line must be paid in full)."""
    errors: list[ValidationProblem] = []
    for prefix, asked, carried in (
        ("invoice", basket.invoices, invoices),
        ("trust", basket.trust_deposits, deposits),
        ("request", basket.trust_requests, {}),
    ):
        for item_id, amount in asked.items():
            name = f"{prefix}-{item_id}"
            cap = carried.get(item_id)
            if cap is None:
                errors.append(
                    ValidationProblem(
                        "line_not_carried", name, "This line is not part of the payment asked for."
                    )
                )
            elif amount > cap:
                errors.append(
                    ValidationProblem(
                        "line_over_carried",
                        name,
                        f"The firm asked for {_money(cap, currency)} at most on this line.",
                        {"most_minor": cap, "currency": currency},
                    )
                )
            elif amount < cap and not rules.allow_partial:
                errors.append(
                    ValidationProblem(
                        "line_partial_not_allowed", name, "This line must be paid in full."
                    )
                )
        if not rules.allow_partial:
            for item_id in carried:
                if item_id not in asked:
                    errors.append(
                        ValidationProblem(
                            "line_partial_not_allowed",
                            f"{prefix}-{item_id}",
                            "This line must be paid in full.",
                        )
                    )
    if errors:
        raise AllocationError(errors=errors)
