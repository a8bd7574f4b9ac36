"""The pay forms: what a payer typed on the basket and review pages, read in their locale.

The browser only asks. Amounts are parsed with `portal.money.parse_money` in the client's
locale and then judged by `allocation.plan` with the inputs `start_payment` uses, so the review
shows what confirming will charge. Card and bank details live in an `Instrument` for one
request only: they are never put back into a page, a log or the database.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from portal import clock, statements
from portal.firms.models import Firm, MerchantAccount, MerchantAccountKind
from portal.gateways.base import Instrument
from portal.links.models import Link
from portal.money import Money, MoneyError, format_money, parse_money, precision, to_plain
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.models import AllocationKind, ChargeStatus, Payment, PaymentMethod
from portal.trust_requests import holds as trust_requests

#: Longest text kept from any one box; anything longer is not an amount anyway.
MAX_TYPED = 40
#: The nonce is `secrets.token_urlsafe(NONCE_BYTES)`: 32 characters of [A-Za-z0-9_-].
NONCE_BYTES = 24
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
_PAYMENT_METHOD_ID = re.compile(r"pm_[A-Za-z0-9_]{1,200}")
ACCOUNT_TYPES = ("checking", "savings")

#: What the basket page's buttons ask for.
ACTION_REVIEW = "review"  # the ticked lines, or the total when one is typed
ACTION_ALL = "all"  # every payable invoice in full
ACTION_TOTAL = "total"  # the typed total, auto-applied oldest due date first


# -- what the basket page offers ---------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceChoice:
    """One payable invoice on the basket page."""

    id: int
    matter_id: int
    number: str
    due_on: dt.date | None
    currency: str
    #: Balance due less what payments in flight already hold.
    payable_minor: int
    is_overdue: bool
    #: Place in the auto-apply order (0 is paid first), for the page's live preview.
    apply_rank: int

    @property
    def field(self) -> str:
        return f"invoice-{self.id}"


@dataclass(frozen=True)
class RequestChoice:
    """One open trust request on the basket page: paid into trust, allocated to the request."""

    id: int
    matter_id: int
    kind: str
    memo: str
    due_on: dt.date | None
    currency: str
    amount_minor: int
    #: What is left once settled and in-flight payments are counted.
    payable_minor: int
    is_overdue: bool

    @property
    def field(self) -> str:
        return f"request-{self.id}"


@dataclass(frozen=True)
class MatterChoice:
    """One matter on the basket page: its payable invoices and its trust deposit line."""

    id: int
    number: str
    title: str
    currency: str
    invoices: tuple[InvoiceChoice, ...]
    trust_balance: Money
    trust_shortfall: Money | None
    pending_trust_minor: int
    #: The deposit the page suggests: what brings trust back to its minimum (0 for none).
    suggested_deposit_minor: int
    takes_deposits: bool
    #: Open trust requests with something left to pay, due soonest first.
    requests: tuple[RequestChoice, ...] = ()

    @property
    def trust_field(self) -> str:
        return f"trust-{self.id}"


@dataclass(frozen=True)
class Checkout:
    """Everything the basket page offers a link, and what its answers are judged against."""

    matters: tuple[MatterChoice, ...]
    #: The invoices the link may pay now, by id (the same ones `start_payment` accepts).
    payable: Mapping[int, allocation.PayableInvoice]
    #: The matters the link may deposit into trust for, with their currency.
    trust_matters: Mapping[int, str]
    #: What is payable in all, one amount per currency.
    due: tuple[Money, ...]
    methods: tuple[PaymentMethod, ...]
    accounts: Mapping[tuple[MerchantAccountKind, str], MerchantAccount]
    #: The trust requests the link may pay now, by id (the same ones `start_payment` accepts).
    requests: Mapping[int, allocation.PayableRequest] = field(default_factory=dict)

    @property
    def currency(self) -> str | None:
        """The one currency of the payable invoices, or None when there are none or several."""
        return self.due[0].currency if len(self.due) == 1 else None

    def matter(self, matter_id: int) -> MatterChoice | None:
        return next((m for m in self.matters if m.id == matter_id), None)


def checkout_for(link: Link, firm: Firm) -> Checkout:
    """Gather what `link` may pay: invoices by matter, trust lines, and the accepted methods."""
    payable = payments.payable_invoices(link)  # already in auto-apply order
    trust_matters = payments.trust_matters(link)
    today = clock.today()
    open_requests = [r for r in trust_requests.payable_for_link(link) if r.payable_minor > 0]
    requests_by_matter: dict[int, list[RequestChoice]] = {}
    for request in open_requests:
        requests_by_matter.setdefault(request.matter_id, []).append(
            RequestChoice(
                id=request.id,
                matter_id=request.matter_id,
                kind=request.kind.value,
                memo=request.memo,
                due_on=request.due_on,
                currency=request.currency,
                amount_minor=request.amount_minor,
                payable_minor=request.payable_minor,
                is_overdue=request.is_overdue,
            )
        )
    by_matter: dict[int, list[InvoiceChoice]] = {}
    due: dict[str, int] = {}
    for rank, invoice in enumerate(payable):
        by_matter.setdefault(invoice.matter_id, []).append(
            InvoiceChoice(
                id=invoice.id,
                matter_id=invoice.matter_id,
                number=invoice.number,
                due_on=invoice.due_on,
                currency=invoice.currency,
                payable_minor=invoice.payable_minor,
                is_overdue=invoice.due_on is not None and invoice.due_on < today,
                apply_rank=rank,
            )
        )
        due[invoice.currency] = due.get(invoice.currency, 0) + invoice.payable_minor
    matters = tuple(
        MatterChoice(
            id=summary.id,
            number=summary.number,
            title=summary.title,
            currency=summary.trust_balance.currency,
            invoices=tuple(by_matter.get(summary.id, ())),
            trust_balance=summary.trust_balance,
            trust_shortfall=summary.trust_shortfall,
            pending_trust_minor=summary.pending_trust_minor,
            suggested_deposit_minor=summary.suggested_deposit_minor,
            takes_deposits=summary.id in trust_matters,
            requests=tuple(requests_by_matter.get(summary.id, ())),
        )
        for summary in statements.matter_summaries(link)
        if summary.id in by_matter or summary.id in trust_matters
    )
    accounts = {(account.kind, account.currency): account for account in firm.merchant_accounts}
    methods = tuple(
        method
        for method, accepted in (
            (PaymentMethod.CARD, any(a.accepts_card for a in accounts.values())),
            (PaymentMethod.ACH, any(a.accepts_ach for a in accounts.values())),
        )
        if accepted
    )
    return Checkout(
        matters=matters,
        payable={invoice.id: invoice for invoice in payable},
        trust_matters=trust_matters,
        due=tuple(Money(minor, currency) for currency, minor in sorted(due.items())),
        methods=methods,
        accounts=accounts,
        requests={
            request.id: allocation.PayableRequest(
                id=request.id,
                matter_id=request.matter_id,
                currency=request.currency,
                payable_minor=request.payable_minor,
            )
            for request in open_requests
        },
    )


# -- what the payer typed ---------------------------------------------------------------------


class FieldErrors(dict[str, list[str]]):
    """Messages by field name ("invoice-<id>", "trust-<matter id>", "total", "basket", ...)."""

    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(message)

    def extend(self, errors: list[dict[str, str]]) -> None:
        """Add a service's `errors` list ([{"field": ..., "detail": ...}])."""
        for error in errors:
            self.add(str(error.get("field") or "basket"), str(error.get("detail") or ""))


class BasketError(Exception):
    """The basket cannot be reviewed or paid as entered; `errors` says where and why."""

    def __init__(self, errors: FieldErrors) -> None:
        super().__init__("basket invalid")
        self.errors = errors


class DetailsError(Exception):
    """The card or bank details are incomplete or malformed; `errors` says which."""

    def __init__(self, errors: FieldErrors) -> None:
        super().__init__("payment details invalid")
        self.errors = errors


def _typed(value: str | None) -> str:
    return (value or "").strip()[:MAX_TYPED]


def _id(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) <= 18 else None


@dataclass
class Entries:
    """What the payer typed on the basket page, as typed, so a page shown again keeps it."""

    #: Ids of the ticked invoices and trust lines, as sent (forged ones included).
    invoices: list[str] = field(default_factory=list)
    deposits: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    #: The amount boxes, by invoice id, by matter id and by trust request id.
    invoice_amounts: dict[int, str] = field(default_factory=dict)
    deposit_amounts: dict[int, str] = field(default_factory=dict)
    request_amounts: dict[int, str] = field(default_factory=dict)
    total: str = ""
    method: str = ""

    @classmethod
    def read(cls, data: MultiDict[str, str], checkout: Checkout) -> Entries:
        """Read a submitted basket, or the defaults when `data` carries none (a plain GET).

        A GET may carry a basket in its query (the receipt's "try again" link),
        `?matter=<id>` ticks only that matter's invoices, and `?request=<id>` (a matter page's
        "Pay this request") ticks only that trust request, at what is left on it.
        """
        keys = set(data.keys())
        if keys == {"request"}:
            return cls.defaults(checkout, only_request=_id(data.get("request", "")))
        asked = keys & {"invoice", "trust", "request", "total", "method"} or any(
            key.startswith(("invoice-", "trust-", "request-")) for key in keys
        )
        if not asked:
            return cls.defaults(checkout, only_matter=_id(data.get("matter", "")))
        entries = cls(
            invoices=[_typed(v) for v in data.getlist("invoice")][:500],
            deposits=[_typed(v) for v in data.getlist("trust")][:500],
            requests=[_typed(v) for v in data.getlist("request")][:500],
            total=_typed(data.get("total")),
            method=_typed(data.get("method")),
        )
        for matter in checkout.matters:
            for invoice in matter.invoices:
                default = to_plain(invoice.payable_minor, invoice.currency)
                entries.invoice_amounts[invoice.id] = _typed(data.get(invoice.field, default))
            entries.deposit_amounts[matter.id] = _typed(data.get(matter.trust_field, ""))
            for request in matter.requests:
                default = to_plain(request.payable_minor, request.currency)
                entries.request_amounts[request.id] = _typed(data.get(request.field, default))
        # Lines the page does not list (a forged id, or one paid since) keep what was sent.
        for raw in entries.invoices:
            if (number := _id(raw)) is not None and number not in entries.invoice_amounts:
                entries.invoice_amounts[number] = _typed(data.get(f"invoice-{number}"))
        for raw in entries.deposits:
            if (number := _id(raw)) is not None and number not in entries.deposit_amounts:
                entries.deposit_amounts[number] = _typed(data.get(f"trust-{number}"))
        for raw in entries.requests:
            if (number := _id(raw)) is not None and number not in entries.request_amounts:
                entries.request_amounts[number] = _typed(data.get(f"request-{number}"))
        return entries

    @classmethod
    def defaults(
        cls,
        checkout: Checkout,
        *,
        only_matter: int | None = None,
        only_request: int | None = None,
    ) -> Entries:
        """Every invoice ticked at what is payable; trust lines unticked, at the suggestion;
        trust requests unticked at what is left on them. With `only_request`, only that
        request is ticked (and no invoice)."""
        entries = cls(method=checkout.methods[0].value if checkout.methods else "")
        for matter in checkout.matters:
            for request in matter.requests:
                if only_request == request.id:
                    entries.requests.append(str(request.id))
                entries.request_amounts[request.id] = to_plain(
                    request.payable_minor, request.currency
                )
            for invoice in matter.invoices:
                if only_request is None and (only_matter is None or only_matter == matter.id):
                    entries.invoices.append(str(invoice.id))
                entries.invoice_amounts[invoice.id] = to_plain(
                    invoice.payable_minor, invoice.currency
                )
            suggested = matter.suggested_deposit_minor
            entries.deposit_amounts[matter.id] = (
                to_plain(suggested, matter.currency) if suggested else ""
            )
        return entries

    def is_ticked(self, kind: str, item_id: int) -> bool:
        chosen = {"invoice": self.invoices, "request": self.requests}.get(kind, self.deposits)
        return str(item_id) in chosen


# -- reading amounts ------------------------------------------------------------------------


def _money_message(exc: MoneyError, currency: str) -> str:
    """Say in the client's language what `parse_money` refused."""
    text = str(exc)
    if text.startswith("Enter an amount"):
        return _("Enter an amount.")
    if text.startswith("Use at most") or text.startswith("Use whole"):
        places = precision(currency)
        if places == 0:
            return _("Use whole amounts only.")
        return _("Use at most %(places)d decimal places.", places=places)
    if "negative" in text:
        return _("The amount cannot be negative.")
    if "more than zero" in text:
        return _("Enter an amount above zero.")
    if "too large" in text:
        return _("That amount is too large.")
    return _("Enter the amount as a number, for example 1250.00.")


def _amount(text: str, currency: str, locale: str, name: str, errors: FieldErrors) -> int | None:
    try:
        return parse_money(text, currency, locale)
    except MoneyError as exc:
        errors.add(name, _money_message(exc, currency))
        return None


def _read_lines(
    ticked: list[str],
    typed: Mapping[int, str],
    currency_of: Mapping[int, str],
    prefix: str,
    refused: str,
    locale: str,
    errors: FieldErrors,
) -> dict[int, int]:
    """Parse the ticked lines of one kind: amounts by id. An id must be one `currency_of` offers
    (`refused` goes to the basket's errors otherwise); its amount box `<prefix>-<id>` is read in
    that currency. What cannot be read goes to `errors`."""
    amounts: dict[int, int] = {}
    for raw in ticked:
        line_id = _id(raw)
        currency = currency_of.get(line_id) if line_id is not None else None
        if line_id is None or currency is None:
            errors.add("basket", refused)
            continue
        amount = _amount(typed.get(line_id, ""), currency, locale, f"{prefix}-{line_id}", errors)
        if amount is not None:
            amounts[line_id] = amount
    return amounts


def _read_invoices(
    entries: Entries, checkout: Checkout, locale: str, errors: FieldErrors
) -> dict[int, int]:
    """Parse the ticked invoice lines; what cannot be read goes to `errors`."""
    return _read_lines(
        entries.invoices,
        entries.invoice_amounts,
        {invoice_id: invoice.currency for invoice_id, invoice in checkout.payable.items()},
        "invoice",
        _(
            "One of the invoices you chose is not open for payment here "
            "(it may have just been paid). Please check the amounts below."
        ),
        locale,
        errors,
    )


def _read_deposits(
    entries: Entries, checkout: Checkout, locale: str, errors: FieldErrors
) -> dict[int, int]:
    """Parse the ticked trust deposit lines; what cannot be read goes to `errors`."""
    return _read_lines(
        entries.deposits,
        entries.deposit_amounts,
        checkout.trust_matters,
        "trust",
        _("One of the matters you chose does not take deposits here."),
        locale,
        errors,
    )


def _read_requests(
    entries: Entries, checkout: Checkout, locale: str, errors: FieldErrors
) -> dict[int, int]:
    """Parse the ticked trust request lines; what cannot be read goes to `errors`."""
    return _read_lines(
        entries.requests,
        entries.request_amounts,
        {request_id: request.currency for request_id, request in checkout.requests.items()},
        "request",
        _(
            "One of the trust requests you chose is not open for payment here "
            "(it may have just been paid or canceled)."
        ),
        locale,
        errors,
    )


def _read_method(entries: Entries, checkout: Checkout, errors: FieldErrors) -> PaymentMethod:
    try:
        method = PaymentMethod(entries.method)
    except ValueError:
        method = None
    if method is None or method not in checkout.methods:
        errors.add("method", _("Choose how you want to pay."))
        return checkout.methods[0] if checkout.methods else PaymentMethod.CARD
    return method


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
    #: True when the lines came from a typed total, applied oldest due date first.
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


def mandate_text(firm_name: str, total_minor: int, currency: str, locale: str) -> str:
    """The bank debit authorization the payer accepts, in their language."""
    return _(
        "I authorize %(firm)s to debit the bank account entered on this page once, for "
        "%(amount)s, to pay the invoices and trust deposits listed above. I understand that "
        "the debit takes a few business days to clear, and that I can cancel this "
        "authorization by contacting %(firm)s before the debit is made.",
        firm=firm_name,
        amount=format_money(total_minor, currency, locale),
    )


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
    method = _read_method(entries, checkout, errors)
    auto = action == ACTION_TOTAL or (action != ACTION_ALL and bool(entries.total))
    invoices: dict[int, int] = {}
    if action == ACTION_ALL:
        invoices = {invoice.id: invoice.payable_minor for invoice in checkout.payable.values()}
    elif auto:
        currency = checkout.currency
        if currency is None:
            errors.add("total", _("There is no single amount due to apply a total to."))
        elif (total := _amount(entries.total, currency, locale, "total", errors)) is not None:
            try:
                invoices = allocation.auto_apply(list(checkout.payable.values()), total)
            except allocation.AllocationError as exc:
                errors.extend(exc.errors)
    else:
        invoices = _read_invoices(entries, checkout, locale, errors)
    # Trust deposits are always typed by hand, whichever button was pressed.
    deposits = _read_deposits(entries, checkout, locale, errors)
    requests = _read_requests(entries, checkout, locale, errors)
    basket = allocation.Basket(invoices=invoices, trust_deposits=deposits, trust_requests=requests)
    try:
        plan = allocation.plan(
            basket,
            invoices=checkout.payable,
            trust_matters=checkout.trust_matters,
            rules=payments.firm_rules(link.firm_id),
            requests=checkout.requests,
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
            mandate_text(firm.name, plan.total_minor, plan.currency, locale)
            if method is PaymentMethod.ACH
            else None
        ),
        gateway="stripe" if any(c.gateway == "stripe" for c in charges) else "sandbox",
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
                _("%(account)s does not take card payments.", account=account.label)
                if method is PaymentMethod.CARD
                else _("%(account)s does not take bank payments.", account=account.label)
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
                account_label=account.label,
                account_kind=planned.account_kind,
                gateway=account.gateway,
                amount_minor=planned.amount_minor,
                lines=tuple(lines),
            )
        )
    return tuple(charges)


def stripe_publishable_key(checkout: Checkout, review: Review) -> str:
    """The publishable key Stripe.js needs for this review's charges (Stripe variant only)."""
    from portal.gateways import stripe as stripe_gateway

    for charge in review.charges:
        account = checkout.accounts.get((charge.account_kind, review.currency))
        if account is not None and account.gateway == "stripe":
            return stripe_gateway.settings_for(account).publishable_key
    return ""


# -- confirming -----------------------------------------------------------------------------


def new_nonce() -> str:
    """A fresh idempotency nonce for one review: every submit of that page is one payment."""
    return secrets.token_urlsafe(NONCE_BYTES)


def idempotency_key(link: Link, nonce: str | None) -> str | None:
    """The payment's idempotency key for a submitted nonce, or None if the nonce is malformed.

    The key is scoped to the link, so a nonce copied from another client's page can never
    name (or reveal) their payment.
    """
    if not nonce or not _NONCE.fullmatch(nonce):
        return None
    return f"web:{link.public_id}:{nonce}"


@dataclass(frozen=True)
class Order:
    """A confirmed basket, ready for `start_payment`."""

    basket: allocation.Basket
    method: PaymentMethod
    instrument: Instrument
    mandate_text: str | None


def _digits(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isdigit())


def _luhn_ok(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _routing_ok(number: str) -> bool:
    """The ABA routing number checksum (weights 3, 7, 1)."""
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(number, weights, strict=True)) % 10 == 0


def _expiry(text: str, errors: FieldErrors) -> str | None:
    match = re.fullmatch(r"\s*(\d{1,2})\s*/?\s*(\d{2}|\d{4})\s*", text or "")
    if not match:
        errors.add("card_expiry", _("Enter the expiry date as MM/YY."))
        return None
    month, year = int(match.group(1)), int(match.group(2)) % 100
    if not 1 <= month <= 12:
        errors.add("card_expiry", _("Enter the expiry date as MM/YY."))
        return None
    today = clock.today()
    if (2000 + year, month) < (today.year, today.month):
        errors.add("card_expiry", _("This card has expired."))
        return None
    return f"{month:02d}/{year:02d}"


def _card(form: MultiDict[str, str], errors: FieldErrors) -> Instrument:
    number = _digits(form.get("card_number"))
    if not number:
        errors.add("card_number", _("Enter the card number."))
    elif not 12 <= len(number) <= 19 or not _luhn_ok(number):
        errors.add("card_number", _("Check the card number: it is not a valid card number."))
    expiry = _expiry(form.get("card_expiry", ""), errors)
    cvc = _digits(form.get("card_cvc"))
    if len(cvc) not in (3, 4):
        errors.add("card_cvc", _("Enter the 3 or 4 digit security code."))
    holder = (form.get("card_name") or "").strip()[:200]
    if not holder:
        errors.add("card_name", _("Enter the name on the card."))
    return Instrument(card_number=number, card_expiry=expiry, card_cvc=cvc, card_holder=holder)


def _bank(form: MultiDict[str, str], errors: FieldErrors) -> Instrument:
    holder = (form.get("account_holder") or "").strip()[:200]
    if not holder:
        errors.add("account_holder", _("Enter the account holder's name."))
    routing = _digits(form.get("routing_number"))
    if len(routing) != 9 or not _routing_ok(routing):
        errors.add("routing_number", _("Enter the 9 digit routing number."))
    account = _digits(form.get("account_number"))
    if not 4 <= len(account) <= 17:
        errors.add("account_number", _("Enter the account number (4 to 17 digits)."))
    if form.get("account_type") not in ACCOUNT_TYPES:
        errors.add("account_type", _("Choose checking or savings."))
    return Instrument(
        routing_number=routing,
        account_number=account,
        account_holder=holder,
        account_type=form.get("account_type"),
    )


def read_order(
    link: Link,
    firm: Firm,
    checkout: Checkout,
    entries: Entries,
    form: MultiDict[str, str],
    *,
    locale: str,
) -> Order:
    """Read the confirm form: the carried basket, then the card or bank details.

    Raises BasketError when the basket itself cannot be read, DetailsError when only the
    payment details need fixing. The business rules are left to `start_payment`.
    """
    errors = FieldErrors()
    method = _read_method(entries, checkout, errors)
    invoices = _read_invoices(entries, checkout, locale, errors)
    deposits = _read_deposits(entries, checkout, locale, errors)
    requests = _read_requests(entries, checkout, locale, errors)
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
    if on_stripe:
        payment_method_id = (form.get("payment_method_id") or "").strip()
        if not _PAYMENT_METHOD_ID.fullmatch(payment_method_id):
            details.add("payment", _("Enter your payment details."))
        instrument = Instrument(payment_method_id=payment_method_id)
    elif method is PaymentMethod.CARD:
        instrument = _card(form, details)
    else:
        instrument = _bank(form, details)
    text = None
    if method is PaymentMethod.ACH:
        if form.get("mandate") != "accepted":
            details.add("mandate", _("Tick the box to authorize the bank debit."))
        total = sum(invoices.values()) + sum(deposits.values()) + sum(requests.values())
        currency = next(iter(currencies), "USD")
        text = mandate_text(firm.name, total, currency, locale)
    if details:
        raise DetailsError(details)
    return Order(basket=basket, method=method, instrument=instrument, mandate_text=text)


# -- after paying -------------------------------------------------------------------------------

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
