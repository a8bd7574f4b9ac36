"""Make a payment from the console: steps 3 and 4 as use cases.

`selection` reads the ticked lines as they stand now (only the firm's, only what is still
payable); `plan_for` checks an allocation exactly as a client's basket is checked
(portal.payments.allocation: typed amounts, or a total auto-applied in the firm's order over
the selected invoices; trust deposits by hand only; one client per payment). `take_payment`
charges a card or bank account typed by staff through `checkout.submit_plan` (source "staff",
the staff user, the custom A/R note; the receipt only to the addresses typed; on Stripe
accounts the card is the Payment Element's PaymentMethod, charged as a mail/telephone order,
MOTO), and `send_for_payment` issues a link carrying exactly the allocation
(portal.links.issuing) and emails it. Both then clear the user's ticks; both commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select

from portal import gateways
from portal.billing.models import Client, Invoice, Matter
from portal.db import db
from portal.errors import ValidationFailed, ValidationProblem
from portal.firms.models import MerchantAccount
from portal.firms.services import firm_by_id
from portal.gateways import StripeConfigurationError
from portal.gateways.base import Instrument
from portal.links import issuing
from portal.links.lines import LineRequest
from portal.links.models import DeliveryOrigin, Link
from portal.money import format_money
from portal.payments import allocation, drafts
from portal.payments.checkout import (
    MethodUnavailable,
    Origin,
    Payer,
    firm_rules,
    merchant_account,
    payment_by_key,
    submit_plan,
)
from portal.payments.checkout_forms import publishable_key
from portal.payments.models import Payment, PaymentMethod, PaymentSource
from portal.payments.staff_search import InvoiceRow, MatterRow, invoices_by_id, matters_by_id

#: How a bank debit taken by staff was authorised (NACHA: a recorded call or a written one).
AUTHORISATIONS = ("recorded_call", "written")


@dataclass(frozen=True)
class Selection:
    """The ticked lines as they stand now: invoices still payable (in the firm's apply
    order), and matters for trust deposits."""

    invoices: tuple[InvoiceRow, ...]
    matters: tuple[MatterRow, ...]

    def __bool__(self) -> bool:
        return bool(self.invoices or self.matters)


def selection(firm_id: int, items: Sequence[drafts.Item], today: dt.date) -> Selection:
    invoice_ids = [item_id for kind, item_id in items if kind == "invoice"]
    matter_ids = [item_id for kind, item_id in items if kind == "matter"]
    invoices = invoices_by_id(firm_id, invoice_ids, today)
    matters = matters_by_id(firm_id, matter_ids)
    order = allocation.in_apply_order(
        [_payable(row) for row in invoices.values()], firm_rules(firm_id).order
    )
    return Selection(
        invoices=tuple(invoices[invoice.id] for invoice in order),
        matters=tuple(matters[m] for m in matter_ids if m in matters),
    )


def _payable(row: InvoiceRow) -> allocation.PayableInvoice:
    return allocation.PayableInvoice(
        id=row.id,
        matter_id=row.matter_id,
        number=row.number,
        issued_on=row.issued_on,
        due_on=row.due_on,
        currency=row.currency,
        payable_minor=row.payable_minor,
    )


@dataclass(frozen=True)
class StaffPlan:
    """A checked allocation: the plan, what each invoice gets and keeps owing, the client."""

    plan: allocation.Plan
    client_id: int
    invoices: Mapping[int, int]
    deposits: Mapping[int, int]
    #: What stays owed on each selected invoice after this payment.
    stays_owed: Mapping[int, int]
    auto_applied: bool


def plan_for(
    firm_id: int,
    chosen: Selection,
    *,
    invoices: Mapping[int, int],
    deposits: Mapping[int, int],
    total_minor: int | None = None,
) -> StaffPlan:
    """Check the allocation as a client's basket is checked (AllocationError naming each bad
    line); with `total_minor`, the total is applied over the selected invoices in the firm's
    order and typed invoice amounts are ignored. Deposits are always as typed."""
    rules = firm_rules(firm_id)
    payable = {row.id: _payable(row) for row in chosen.invoices}
    applied = dict(invoices)
    if total_minor is not None:
        applied = allocation.auto_apply(list(payable.values()), total_minor, rules.order)
    plan = allocation.plan(
        allocation.Basket(invoices=applied, trust_deposits=dict(deposits)),
        invoices=payable,
        trust_matters={row.id: row.currency for row in chosen.matters},
        rules=rules,
    )
    clients = {row.client_id for row in chosen.invoices if row.id in applied}
    clients |= {row.client_id for row in chosen.matters if row.id in deposits}
    if len(clients) != 1:
        raise allocation.AllocationError(
            errors=[
                ValidationProblem(
                    "one_client", "basket", "A payment pays the lines of one client at a time."
                )
            ]
        )
    return StaffPlan(
        plan=plan,
        client_id=clients.pop(),
        invoices=applied,
        deposits=dict(deposits),
        stays_owed={row.id: row.payable_minor - applied.get(row.id, 0) for row in chosen.invoices},
        auto_applied=total_minor is not None,
    )


@dataclass(frozen=True)
class Taker:
    """The staff user taking the payment, and the request it came in."""

    staff_user_id: int
    staff_email: str
    ip: str
    user_agent: str
    locale: str | None


def mandate_for(firm_id: int, staged: StaffPlan, payer_name: str, how: str, taker: Taker) -> str:
    """The ACH authorisation recorded for a bank debit taken by staff (in English: a record)."""
    firm = firm_by_id(firm_id)
    amount = format_money(staged.plan.total_minor, staged.plan.currency)
    means = "a recorded telephone call" if how == "recorded_call" else "a written authorization"
    return (
        f"{payer_name} authorized {firm.name} by {means} to debit {amount} once from the bank "
        f"account given. Taken in the console by {taker.staff_email}."
    )


def typed_numbers_allowed(firm_id: int, staged: StaffPlan, *, every_account: bool = False) -> bool:
    """True when card or bank numbers typed by staff may go to the accounts involved: the
    plan's (or, to save a method, every account of the firm in the plan's currency), all on
    the sandbox. Stripe takes card details only in its Payment Element (see `stripe_key`):
    typed numbers must never reach it, nor our server for it."""
    currency = staged.plan.currency
    if every_account:
        accounts = db.session.scalars(
            select(MerchantAccount).where(
                MerchantAccount.firm_id == firm_id, MerchantAccount.currency == currency
            )
        )
        return all(account.gateway == "sandbox" for account in accounts)
    return all(
        merchant_account(firm_id, planned.account_kind, currency).gateway == "sandbox"
        for planned in staged.plan.charges
    )


def bank_numbers_allowed(firm_id: int, staged: StaffPlan) -> bool:
    """True when bank account numbers typed by staff may go to every account the plan
    charges: the sandbox's, and Stripe's (bank numbers are no card data; the Stripe gateway
    makes the PaymentMethod itself). Only for a debit the payer authorised (AUTHORISATIONS)."""
    currency = staged.plan.currency
    return all(
        merchant_account(firm_id, planned.account_kind, currency).gateway in ("sandbox", "stripe")
        for planned in staged.plan.charges
    )


def bank_on_stripe(firm_id: int, staged: StaffPlan) -> bool:
    """True when a bank debit of this plan goes to Stripe (micro-deposits: the payer's email
    is needed, and the debit waits for them)."""
    currency = staged.plan.currency
    return any(
        merchant_account(firm_id, planned.account_kind, currency).gateway == "stripe"
        for planned in staged.plan.charges
    )


def _stripe_accounts(firm_id: int, staged: StaffPlan) -> list[MerchantAccount]:
    """The accounts the plan charges, when every one is on Stripe (else none)."""
    currency = staged.plan.currency
    accounts = [
        merchant_account(firm_id, planned.account_kind, currency) for planned in staged.plan.charges
    ]
    if not accounts or any(account.gateway != "stripe" for account in accounts):
        return []
    return accounts


def _vaults(accounts: Sequence[MerchantAccount]) -> set[str] | None:
    """The Stripe accounts behind `accounts` (None when one's Stripe settings are missing)."""
    try:
        return {gateways.for_account(account).vault() for account in accounts}
    except StripeConfigurationError:
        return None


def element_account(firm_id: int, staged: StaffPlan) -> MerchantAccount | None:
    """The account whose publishable key Stripe's Payment Element uses in step 4a, when every
    account the plan charges is on Stripe and they are one Stripe account (a PaymentMethod
    made with one Stripe account's key can be charged and kept only there). None otherwise,
    and when an account's Stripe settings are missing."""
    accounts = _stripe_accounts(firm_id, staged)
    vaults = _vaults(accounts)
    if not accounts or vaults is None or len(vaults) != 1:
        return None
    return accounts[0]


def stripe_apart(firm_id: int, staged: StaffPlan) -> bool:
    """True when the plan charges accounts that are on Stripe but are separate Stripe
    accounts (operating and trust each with its own key): no one card typed into Stripe's
    form can pay both, so staff take each part as its own payment or send it for payment."""
    vaults = _vaults(_stripe_accounts(firm_id, staged))
    return vaults is not None and len(vaults) > 1


def stripe_key(firm_id: int, staged: StaffPlan) -> str:
    """The publishable key for Stripe's Payment Element, of `element_account` ("" when
    there is none): staff then type the card into Stripe's frame, and only its PaymentMethod
    id reaches us, charged as a mail/telephone order (MOTO). Without a key there is no
    element, and typed numbers stay refused on Stripe."""
    account = element_account(firm_id, staged)
    if account is None:
        return ""
    try:
        return publishable_key(account)
    except StripeConfigurationError:
        return ""


def take_payment(
    *,
    firm_id: int,
    staged: StaffPlan,
    method: PaymentMethod,
    instrument: Instrument,
    payer_name: str,
    receipts: Sequence[str],
    ar_note: str | None,
    idempotency_key: str,
    taker: Taker,
    authorised_by: str | None = None,
    payer_email: str | None = None,
) -> Payment:
    """Charge the plan to a card or bank account typed by staff (commits; see the module).

    `payer_email` is the payer's own address when staff typed one (postings carry it); the
    receipt goes to each of `receipts` and nowhere else. A bank debit needs `authorised_by`
    (how the payer authorised it); on Stripe also `payer_email`, where Stripe sends the
    micro-deposits to verify the account: the payment then stays pending ("created") until
    Stripe's events say it is processing.

    The same key returns the first payment and charges nothing (a double click)."""
    if (existing := payment_by_key(firm_id, idempotency_key)) is not None:
        return existing
    by_element = method is PaymentMethod.CARD and bool(instrument.payment_method_id)
    if by_element and instrument.card_number is None and stripe_key(firm_id, staged):
        # Stripe's Payment Element took the card the payer read out: a MOTO payment.
        instrument = replace(instrument, moto=True)
    elif method is PaymentMethod.ACH and not by_element and bank_numbers_allowed(firm_id, staged):
        # Bank numbers (no card data) typed by staff, the debit authorised by phone or in
        # writing: an offline mandate; Stripe verifies the account by micro-deposits, for
        # which it emails the holder.
        if payer_email is None and bank_on_stripe(firm_id, staged):
            raise ValidationFailed(
                "Stripe emails the payer how to verify the bank account: enter their email.",
                errors=[{"field": "payer_email", "detail": "needed for a bank debit on Stripe"}],
            )
        instrument = replace(instrument, offline_mandate=True, holder_email=payer_email)
    elif by_element or not typed_numbers_allowed(firm_id, staged):
        raise MethodUnavailable(
            "Staff take cards on Stripe accounts through the Payment Element, bank numbers on "
            "Stripe or sandbox accounts, and typed card numbers on sandbox accounts only."
        )
    mandate = None
    if method is PaymentMethod.ACH and authorised_by in AUTHORISATIONS:
        mandate = mandate_for(firm_id, staged, payer_name, authorised_by or "", taker)
    payment = submit_plan(
        Origin(
            firm_id=firm_id,
            client_id=staged.client_id,
            link_id=None,
            ar_note=ar_note,
            source=PaymentSource.STAFF,
            staff_user_id=taker.staff_user_id,
        ),
        staged.plan,
        method=method,
        instrument=instrument,
        idempotency_key=idempotency_key,
        payer=Payer(
            name=payer_name,
            email=payer_email,
            receipts=tuple(receipts),
            ip=taker.ip,
            user_agent=taker.user_agent,
            locale=taker.locale,
        ),
        mandate_text=mandate,
    )
    drafts.clear_selection(taker.staff_user_id, firm_id)
    return payment


def send_for_payment(
    *,
    firm_id: int,
    staged: StaffPlan,
    email: str | None,
    message: str | None,
    ar_note: str | None,
    staff_user_id: int,
    once: str | None = None,
) -> Link:
    """Issue a link (24 hours) carrying exactly this allocation and email it (commits).

    With `once` (the form's one-time token), the same form sent again answers the first link
    and sends nothing more."""
    client = db.session.get(Client, staged.client_id)
    if client is None or client.firm_id != firm_id:  # a plan is built from the firm's rows
        raise LookupError("no such client")
    invoice_ids = dict(
        db.session.execute(
            select(Invoice.id, Invoice.external_id).where(Invoice.id.in_(list(staged.invoices)))
        ).all()
    )
    matter_ids = dict(
        db.session.execute(
            select(Matter.id, Matter.external_id).where(Matter.id.in_(list(staged.deposits)))
        ).all()
    )
    lines = [
        LineRequest(i, invoice=invoice_ids[invoice_id], amount_minor=amount)
        for i, (invoice_id, amount) in enumerate(staged.invoices.items())
    ]
    lines += [
        LineRequest(len(lines) + i, matter=matter_ids[matter_id], trust_amount_minor=amount)
        for i, (matter_id, amount) in enumerate(staged.deposits.items())
    ]
    link = issuing.create_link(
        firm_id=firm_id,
        client=client.external_id,
        matters=[],
        expires_in=None,
        send=issuing.SendRequest(email=email, message=message),
        ar_note=ar_note,
        lines=lines,
        origin=DeliveryOrigin.CONSOLE,
        once=once,
    )
    drafts.clear_selection(staff_user_id, firm_id)
    return link
