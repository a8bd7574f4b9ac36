"""What a client link may pay, and what the payer typed on the basket page, read in their locale.

`Checkout` is everything the basket page offers (invoices by matter, trust lines, trust
requests, methods); `Entries` keeps what was typed, as typed, so a page shown again keeps it.
Amounts are parsed with `portal.money.parse_money` in the client's locale
(portal.payments.checkout_forms, shared with the public pay page).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from portal import statements
from portal.firms.models import Firm, MerchantAccount, MerchantAccountKind
from portal.firms.services import firm_today
from portal.links.lines import CarriedLines, carried_lines
from portal.links.models import Link
from portal.money import Money, to_plain
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.checkout_forms import FieldErrors, read_amount, typed
from portal.payments.models import PaymentMethod
from portal.trust_requests import holds as trust_requests

#: What the basket page's buttons ask for.
ACTION_REVIEW = "review"  # the ticked lines, or the total when one is typed
ACTION_ALL = "all"  # every payable invoice in full
ACTION_TOTAL = "total"  # the typed total, auto-applied in the firm's order

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

    @property
    def payable_plain(self) -> str:
        """What is payable, as the amount box would hold it ("1200.50")."""
        return to_plain(self.payable_minor, self.currency)


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

    @property
    def payable_plain(self) -> str:
        return to_plain(self.payable_minor, self.currency)


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

    @property
    def suggested_deposit_plain(self) -> str:
        return to_plain(self.suggested_deposit_minor, self.currency)


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
    #: The allocation the link carries (send for payment); empty for an ordinary link.
    carried: CarriedLines = field(default_factory=CarriedLines)
    #: The firm's auto-apply order (`auto_apply_order`), for the words about a total.
    order: str = "oldest_due"

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
    today = firm_today(firm)  # "overdue" flips at the firm's midnight, not UTC's
    carried = carried_lines(link)
    open_requests = [
        r for r in trust_requests.payable_for_link(link) if r.payable_minor > 0 and not carried
    ]
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
        carried=carried,
        order=payments.firm_rules(link.firm_id).order.value,
    )


# -- what the payer typed ---------------------------------------------------------------------


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

        A GET may carry a basket in its query (the receipt's "try again" link, the review's
        "change" link), and `?request=<id>` (a matter page's "Pay this request") ticks only that
        trust request, at what is left on it. A ticked invoice or request whose box is left
        empty is paid in full (`read_invoices`, `read_requests`).
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
            invoices=[typed(v) for v in data.getlist("invoice")][:500],
            deposits=[typed(v) for v in data.getlist("trust")][:500],
            requests=[typed(v) for v in data.getlist("request")][:500],
            total=typed(data.get("total")),
            method=typed(data.get("method")),
        )
        for matter in checkout.matters:
            for invoice in matter.invoices:
                entries.invoice_amounts[invoice.id] = typed(data.get(invoice.field))
            entries.deposit_amounts[matter.id] = typed(data.get(matter.trust_field, ""))
            for request in matter.requests:
                entries.request_amounts[request.id] = typed(data.get(request.field))
        # Lines the page does not list (a forged id, or one paid since) keep what was sent.
        for raw in entries.invoices:
            if (number := _id(raw)) is not None and number not in entries.invoice_amounts:
                entries.invoice_amounts[number] = typed(data.get(f"invoice-{number}"))
        for raw in entries.deposits:
            if (number := _id(raw)) is not None and number not in entries.deposit_amounts:
                entries.deposit_amounts[number] = typed(data.get(f"trust-{number}"))
        for raw in entries.requests:
            if (number := _id(raw)) is not None and number not in entries.request_amounts:
                entries.request_amounts[number] = typed(data.get(f"request-{number}"))
        return entries

    @classmethod
    def defaults(
        cls,
        checkout: Checkout,
        *,
        only_matter: int | None = None,
        only_request: int | None = None,
    ) -> Entries:
        """Nothing ticked and no amount filled in: the payer chooses. With `only_request` (a
        matter page's "Pay this request", the payer's own choice) that request is ticked at
        what is left on it. `only_matter` is accepted and changes nothing: the matter's "Pay"
        button chooses no invoice."""
        del only_matter
        entries = cls(method=checkout.methods[0].value if checkout.methods else "")
        # A link that carries an allocation opens with exactly its lines and amounts.
        for invoice_id, amount in checkout.carried.invoices.items():
            if (invoice := checkout.payable.get(invoice_id)) is not None:
                entries.invoices.append(str(invoice_id))
                entries.invoice_amounts[invoice_id] = to_plain(amount, invoice.currency)
        for matter_id, amount in checkout.carried.deposits.items():
            if (currency := checkout.trust_matters.get(matter_id)) is not None:
                entries.deposits.append(str(matter_id))
                entries.deposit_amounts[matter_id] = to_plain(amount, currency)
        for matter in checkout.matters:
            for request in matter.requests:
                if only_request == request.id:
                    entries.requests.append(str(request.id))
                    entries.request_amounts[request.id] = request.payable_plain
        return entries

    def is_ticked(self, kind: str, item_id: int) -> bool:
        chosen = {"invoice": self.invoices, "request": self.requests}.get(kind, self.deposits)
        return str(item_id) in chosen


# -- reading the ticked lines --------------------------------------------------------------


def _read_lines(
    ticked: list[str],
    amounts: Mapping[int, str],
    currency_of: Mapping[int, str],
    prefix: str,
    refused: str,
    locale: str,
    errors: FieldErrors,
    in_full: Mapping[int, int] | None = None,
) -> dict[int, int]:
    """Parse the ticked lines of one kind: amounts by id. An id must be one `currency_of` offers
    (`refused` goes to the basket's errors otherwise); its amount box `<prefix>-<id>` is read in
    that currency. What cannot be read goes to `errors`."""
    found: dict[int, int] = {}
    for raw in ticked:
        line_id = _id(raw)
        currency = currency_of.get(line_id) if line_id is not None else None
        if line_id is None or currency is None:
            errors.add("basket", refused)
            continue
        text = amounts.get(line_id, "")
        if not text and in_full is not None and line_id in in_full:
            found[line_id] = in_full[line_id]  # ticked with an empty box: all of it
            continue
        amount = read_amount(text, currency, locale, f"{prefix}-{line_id}", errors)
        if amount is not None:
            found[line_id] = amount
    return found


def read_invoices(
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
        {invoice_id: invoice.payable_minor for invoice_id, invoice in checkout.payable.items()},
    )


def read_deposits(
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


def read_requests(
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
        {request_id: request.payable_minor for request_id, request in checkout.requests.items()},
    )


def read_method(entries: Entries, checkout: Checkout, errors: FieldErrors) -> PaymentMethod:
    try:
        method = PaymentMethod(entries.method)
    except ValueError:
        method = None
    if method is None or method not in checkout.methods:
        errors.add("method", _("Choose how you want to pay."))
        return checkout.methods[0] if checkout.methods else PaymentMethod.CARD
    return method
