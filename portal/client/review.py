"""The review of a client's basket, and the confirm form read into an order.

`review_basket` judges the basket exactly as `start_payment` would, without charging anything;
`read_order` reads the confirm form (the carried basket, then the card or bank details) and
leaves the business rules to `start_payment`. `retry_query` puts a payment's failed charges back
into a basket.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from portal.client.checkout import (
    ACTION_ALL,
    ACTION_TOTAL,
    BasketError,
    Checkout,
    DetailsError,
    Entries,
    InvoiceChoice,
    read_deposits,
    read_invoices,
    read_method,
    read_requests,
)
from portal.firms.models import Firm, MerchantAccountKind
from portal.firms.services import account_label
from portal.gateways.base import Instrument
from portal.links.models import Link
from portal.money import to_plain
from portal.payments import allocation, receipts
from portal.payments import services as payments
from portal.payments.checkout_forms import (
    FieldErrors,
    mandate_text,
    publishable_key,
    read_amount,
    read_instrument,
)
from portal.payments.models import AllocationKind, ChargeStatus, Payment, PaymentMethod

# -- the review ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewLine:
    """One line of the review: an invoice payment or a trust deposit."""

    kind: AllocationKind
    #: The invoice number, or the matter number for a deposit.
    reference: str
    matter_number: str
    matter_title: str
    amount_minor: int
    #: For invoices: what could be paid before this payment, and what stays owed after it.
    owed_minor: int | None = None
    stays_owed_minor: int | None = None
    #: For a trust request: its memo (or "" when it has none); None for other lines.
    request_memo: str | None = None


@dataclass(frozen=True)
class ReviewCharge:
    """The part of the payment going to one merchant account (one charge)."""

    account_label: str
    account_kind: MerchantAccountKind
    gateway: str
    amount_minor: int
    lines: tuple[ReviewLine, ...]


@dataclass(frozen=True)
class Review:
    """What the review page shows, all figures computed here from the server's plan."""

    currency: str
    method: PaymentMethod
    total_minor: int
    charges: tuple[ReviewCharge, ...]
    #: True when the lines came from a typed total, applied in the firm's order.
    is_auto_applied: bool
    #: What the invoice lines come to (the typed total, when it was auto-applied).
    invoices_minor: int
    #: Invoices an auto-applied total did not reach: they stay owed in full.
    untouched: tuple[InvoiceChoice, ...]
    #: The basket again, as hidden fields for the confirm form: (name, value) pairs.
    carried: tuple[tuple[str, str], ...]
    #: The bank debit authorization, word for word (None for cards).
    mandate_text: str | None
    #: "stripe" when a charge goes through Stripe (the page then uses Stripe.js), else the
    #: offline "sandbox".
    gateway: str
    #: The firm's auto-apply order (`auto_apply_order`), for the sentence about a total.
    order: str = "oldest_due"

    @property
    def uses_stripe(self) -> bool:
        return self.gateway == "stripe"

    @property
    def edit_query(self) -> dict[str, list[str]]:
        """The basket as the query of a link back to /pay, to change it."""
        query: dict[str, list[str]] = {}
        for name, value in self.carried:
            query.setdefault(name, []).append(value)
        return query


def _carried(
    method: PaymentMethod, basket: allocation.Basket, checkout: Checkout
) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = [("method", method.value)]
    for invoice_id, amount in basket.invoices.items():
        currency = checkout.payable[invoice_id].currency
        fields += [
            ("invoice", str(invoice_id)),
            (f"invoice-{invoice_id}", to_plain(amount, currency)),
        ]
    for matter_id, amount in basket.trust_deposits.items():
        currency = checkout.trust_matters[matter_id]
        fields += [("trust", str(matter_id)), (f"trust-{matter_id}", to_plain(amount, currency))]
    for request_id, amount in basket.trust_requests.items():
        currency = checkout.requests[request_id].currency
        fields += [
            ("request", str(request_id)),
            (f"request-{request_id}", to_plain(amount, currency)),
        ]
    return fields


def review_basket(
    link: Link, firm: Firm, checkout: Checkout, entries: Entries, *, action: str, locale: str
) -> Review:
    """Judge the basket exactly as `start_payment` would, without charging anything.

    Raises BasketError with every problem found, each under the field it belongs to.
    """
    errors = FieldErrors()
    method = read_method(entries, checkout, errors)
    auto = action == ACTION_TOTAL or (action != ACTION_ALL and bool(entries.total))
    invoices: dict[int, int] = {}
    if action == ACTION_ALL:
        invoices = {invoice.id: invoice.payable_minor for invoice in checkout.payable.values()}
    elif auto:
        currency = checkout.currency
        if currency is None:
            errors.add("total", _("There is no single amount due to apply a total to."))
        elif (total := read_amount(entries.total, currency, locale, "total", errors)) is not None:
            try:
                invoices = allocation.auto_apply(
                    list(checkout.payable.values()),
                    total,
                    payments.firm_rules(link.firm_id).order,
                )
            except allocation.AllocationError as exc:
                errors.extend(exc.errors)
    else:
        invoices = read_invoices(entries, checkout, locale, errors)
    # Trust deposits are always typed by hand, whichever button was pressed.
    deposits = read_deposits(entries, checkout, locale, errors)
    requests = read_requests(entries, checkout, locale, errors)
    basket = allocation.Basket(invoices=invoices, trust_deposits=deposits, trust_requests=requests)
    rules = payments.firm_rules(link.firm_id)
    try:
        plan = allocation.plan(
            basket,
            invoices=checkout.payable,
            trust_matters=checkout.trust_matters,
            rules=rules,
            requests=checkout.requests,
        )
        if checkout.carried:
            allocation.check_carried(
                basket,
                invoices=checkout.carried.invoices,
                deposits=checkout.carried.deposits,
                rules=rules,
                currency=plan.currency,
            )
    except allocation.AllocationError as exc:
        # What could not be read is already explained; "choose something" would only confuse.
        errors.extend([e for e in exc.errors if not (errors and e.get("field") == "basket")])
        raise BasketError(errors) from None
    if errors:
        raise BasketError(errors)
    charges = _review_charges(plan, method, checkout, errors)
    if errors:
        raise BasketError(errors)
    reached = set(invoices)
    return Review(
        currency=plan.currency,
        method=method,
        total_minor=plan.total_minor,
        charges=charges,
        is_auto_applied=auto,
        invoices_minor=sum(invoices.values()),
        untouched=tuple(
            invoice
            for matter in checkout.matters
            for invoice in matter.invoices
            if auto and invoice.id not in reached
        ),
        carried=tuple(_carried(method, basket, checkout)),
        mandate_text=(
            mandate_text(firm, plan.total_minor, plan.currency, locale)
            if method is PaymentMethod.ACH
            else None
        ),
        gateway="stripe" if any(c.gateway == "stripe" for c in charges) else "sandbox",
        order=rules.order.value,
    )


def _review_charges(
    plan: allocation.Plan, method: PaymentMethod, checkout: Checkout, errors: FieldErrors
) -> tuple[ReviewCharge, ...]:
    charges = []
    for planned in plan.charges:
        account = checkout.accounts.get((planned.account_kind, plan.currency))
        if account is None:
            errors.add(
                "basket",
                _("Payments in %(currency)s cannot be taken here.", currency=plan.currency),
            )
            continue
        accepted = account.accepts_card if method is PaymentMethod.CARD else account.accepts_ach
        if not accepted:
            message = (
                _("%(account)s does not take card payments.", account=account_label(account))
                if method is PaymentMethod.CARD
                else _("%(account)s does not take bank payments.", account=account_label(account))
            )
            errors.add("method", message)
        lines = []
        for line in planned.lines:
            matter = checkout.matter(line.matter_id)
            number, title = (matter.number, matter.title) if matter else ("", "")
            if line.kind is AllocationKind.INVOICE and line.invoice_id is not None:
                invoice = checkout.payable[line.invoice_id]
                lines.append(
                    ReviewLine(
                        kind=line.kind,
                        reference=invoice.number,
                        matter_number=number,
                        matter_title=title,
                        amount_minor=line.amount_minor,
                        owed_minor=invoice.payable_minor,
                        stays_owed_minor=invoice.payable_minor - line.amount_minor,
                    )
                )
            else:
                memo = None
                if line.trust_request_id is not None:
                    memo = next(
                        (
                            r.memo
                            for m in checkout.matters
                            for r in m.requests
                            if r.id == line.trust_request_id
                        ),
                        "",
                    )
                lines.append(
                    ReviewLine(
                        kind=line.kind,
                        reference=number,
                        matter_number=number,
                        matter_title=title,
                        amount_minor=line.amount_minor,
                        request_memo=memo,
                    )
                )
        charges.append(
            ReviewCharge(
                account_label=account_label(account),
                account_kind=planned.account_kind,
                gateway=account.gateway,
                amount_minor=planned.amount_minor,
                lines=tuple(lines),
            )
        )
    return tuple(charges)


def stripe_publishable_key(checkout: Checkout, review: Review) -> str:
    """The publishable key Stripe.js needs for this review's charges (Stripe variant only)."""
    for charge in review.charges:
        account = checkout.accounts.get((charge.account_kind, review.currency))
        if account is not None and account.gateway == "stripe":
            return publishable_key(account)
    return ""


# -- confirming -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    """A confirmed basket, ready for `start_payment`."""

    basket: allocation.Basket
    method: PaymentMethod
    instrument: Instrument
    mandate_text: str | None
    currency: str = "USD"


def read_order(
    link: Link,
    firm: Firm,
    checkout: Checkout,
    entries: Entries,
    form: MultiDict[str, str],
    *,
    locale: str,
    saved_card: bool = False,
) -> Order:
    """Read the confirm form: the carried basket, then the card or bank details (none when
    a saved card was chosen: `saved_card`, the caller supplies its instrument).

    Raises BasketError when the basket itself cannot be read, DetailsError when only the
    payment details need fixing. The business rules are left to `start_payment`.
    """
    errors = FieldErrors()
    method = read_method(entries, checkout, errors)
    invoices = read_invoices(entries, checkout, locale, errors)
    deposits = read_deposits(entries, checkout, locale, errors)
    requests = read_requests(entries, checkout, locale, errors)
    if errors:
        raise BasketError(errors)
    basket = allocation.Basket(invoices=invoices, trust_deposits=deposits, trust_requests=requests)
    kinds = {MerchantAccountKind.OPERATING} if invoices else set()
    kinds |= {MerchantAccountKind.TRUST} if deposits or requests else set()
    currencies = {checkout.payable[i].currency for i in invoices}
    currencies |= {checkout.trust_matters[m] for m in deposits}
    currencies |= {checkout.requests[r].currency for r in requests}
    on_stripe = any(
        (account := checkout.accounts.get((kind, currency))) is not None
        and account.gateway == "stripe"
        for kind in kinds
        for currency in currencies
    )
    details = FieldErrors()
    card = method is PaymentMethod.CARD
    instrument = (
        Instrument()
        if saved_card and card
        else read_instrument(form, on_stripe=on_stripe, card=card, errors=details)
    )
    text = None
    if method is PaymentMethod.ACH:
        if form.get("mandate") != "accepted":
            details.add("mandate", _("Tick the box to authorize the bank debit."))
        total = sum(invoices.values()) + sum(deposits.values()) + sum(requests.values())
        currency = next(iter(currencies), "USD")
        text = mandate_text(firm, total, currency, locale)
    if details:
        raise DetailsError(details)
    return Order(
        basket=basket,
        method=method,
        instrument=instrument,
        mandate_text=text,
        currency=next(iter(currencies), "USD"),
    )


# -- after paying -------------------------------------------------------------------------------

#: The confirm form's fields that make up the basket (see `_carried`).
_BASKET_NAMES = frozenset({"method", "invoice", "trust", "request"})
_BASKET_PREFIXES = ("invoice-", "trust-", "request-")


def basket_fields(form: MultiDict[str, str]) -> list[tuple[str, str]]:
    """The basket a confirm form carries, as (name, value) pairs, to compare with a kept one."""
    return [
        (name, value)
        for name, value in form.items(multi=True)
        if name in _BASKET_NAMES or name.startswith(_BASKET_PREFIXES)
    ]


def decline_text(payment: Payment) -> str:
    """Why a payment was declined, in the payer's words, and what they can do now."""
    reasons = [
        receipts.failure_text(charge.failure_code, charge.failure_message)
        for charge in payment.charges
        if charge.status in _RETRYABLE
    ]
    reason = reasons[0] if reasons else _("The payment was declined.")
    if payment.method is PaymentMethod.ACH:
        advice = _("Nothing was charged. Check the account details, or pay another way.")
    else:
        advice = _("Nothing was charged. Check the card details, or use another card.")
    return f"{reason} {advice}"


_RETRYABLE = frozenset({ChargeStatus.FAILED, ChargeStatus.CANCELED})


def retry_query(payment: Payment) -> dict[str, str | list[str]]:
    """The basket of a payment's failed charges, as the query of a link back to /pay."""
    query: dict[str, str | list[str]] = {"method": payment.method.value}
    invoices: list[str] = []
    deposits: list[str] = []
    requests: list[str] = []
    for charge in payment.charges:
        if charge.status not in _RETRYABLE:
            continue
        for line in charge.allocations:
            amount = to_plain(line.amount_minor, charge.currency)
            if line.kind is AllocationKind.INVOICE and line.invoice_id is not None:
                invoices.append(str(line.invoice_id))
                query[f"invoice-{line.invoice_id}"] = amount
            elif line.trust_request_id is not None:
                requests.append(str(line.trust_request_id))
                query[f"request-{line.trust_request_id}"] = amount
            else:
                deposits.append(str(line.matter_id))
                query[f"trust-{line.matter_id}"] = amount
    if invoices:
        query["invoice"] = invoices
    if deposits:
        query["trust"] = deposits
    if requests:
        query["request"] = requests
    return query
