"""The firm's public pay page: an anonymous payer, a typed reference, one charge.

What the payer typed decides where the money goes, and the server decides how much:

- an invoice payment whose reference is the number of exactly one open invoice of this firm
  is allocated to that invoice, capped at what is payable on it now (the rest is never taken);
- an invoice payment whose reference matches nothing is taken into the operating account
  unapplied, flagged `unmatched` on the payment and on its posting for the firm to apply;
- a trust deposit (only when the firm offers public trust deposits) needs the number of
  exactly one of the firm's matters *and* the name of that matter's client, and goes to that
  matter's trust. Anything else is refused with one answer ("no_match"), whichever part was
  wrong: client money never lands in operating, and the page never says which matter
  numbers exist.

The payer may not be the client, so nothing about the invoice or matter is ever shown back:
the review repeats what was typed, in the same words whether or not the reference matched an
open invoice, and the receipt shows what was typed until the payment has succeeded (then what
was charged, which is a real receipt). A stranger's probe with a declining card learns
neither whether the reference is an open invoice nor its balance.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from portal.billing.models import Client, Invoice, Matter
from portal.db import db
from portal.firms.models import Firm, MerchantAccount, MerchantAccountKind
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.models import Payment, PaymentMethod

#: Longest reference kept (the invoice and matter number columns hold 64).
MAX_REFERENCE = 64


class Kind(enum.StrEnum):
    INVOICE = "invoice"
    TRUST = "trust"


class Refused(Exception):
    """The payment cannot be taken as typed: `field` names the box, `code` says why (the
    page says it in the payer's language: "below_minimum", "no_match", "no_public_trust")."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(code)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class Prepared:
    """What confirming will charge, decided by the server from what the payer typed."""

    kind: Kind
    currency: str
    typed_minor: int
    plan: allocation.Plan
    #: The client whose invoice or matter the reference named; None when unmatched.
    client_id: int | None
    #: True when an invoice payment named no open invoice (the money goes in unapplied).
    unmatched: bool
    #: True when the typed amount was more than the invoice's payable balance.
    capped: bool

    @property
    def charge_minor(self) -> int:
        return self.plan.total_minor


def firm_by_slug(slug: str) -> Firm | None:
    """The firm whose public pages live at /pay/<slug>, if there is one."""
    return db.session.scalar(select(Firm).where(Firm.slug == slug))


def public_payment(firm: Firm, public_id: str) -> Payment | None:
    """One of `firm`'s payments by its public id (the caller checks it is the browser's own)."""
    return db.session.scalar(
        select(Payment).where(Payment.firm_id == firm.id, Payment.public_id == public_id)
    )


def currency_of(firm: Firm) -> str | None:
    """The currency of the public page: the firm's operating account's (first by code)."""
    return db.session.scalar(
        select(MerchantAccount.currency)
        .where(
            MerchantAccount.firm_id == firm.id,
            MerchantAccount.kind == MerchantAccountKind.OPERATING,
        )
        .order_by(MerchantAccount.currency)
        .limit(1)
    )


def methods_for(firm: Firm, kind: Kind, currency: str) -> tuple[PaymentMethod, ...]:
    """The methods the account this kind of payment goes to takes."""
    account_kind = (
        MerchantAccountKind.TRUST if kind is Kind.TRUST else MerchantAccountKind.OPERATING
    )
    account = db.session.scalar(
        select(MerchantAccount).where(
            MerchantAccount.firm_id == firm.id,
            MerchantAccount.kind == account_kind,
            MerchantAccount.currency == currency,
        )
    )
    if account is None:
        return ()
    return tuple(
        method
        for method, accepted in (
            (PaymentMethod.CARD, account.accepts_card),
            (PaymentMethod.ACH, account.accepts_ach),
        )
        if accepted
    )


def normal_reference(text: str) -> str:
    return " ".join(text.split())[:MAX_REFERENCE]


def minimum_minor() -> int:
    """The public page's smallest payment: the stricter of its own and the portal's minimum."""
    return max(
        int(current_app.config["PAY_BUTTON_MINIMUM_MINOR"]),
        int(current_app.config["PAYMENTS_MINIMUM_MINOR"]),
    )


def _open_invoice(firm: Firm, reference: str, currency: str) -> allocation.PayableInvoice | None:
    """The one open invoice numbered `reference` (ignoring case), with what is payable now."""
    rows = db.session.execute(
        payments.select_payable_invoices(
            firm.id,
            func.lower(Invoice.number) == reference.lower(),
            Invoice.currency == currency,
        ).limit(2)
    ).all()
    # Two open invoices with one number (two matters) cannot be told apart: unmatched.
    return allocation.PayableInvoice(*rows[0]) if len(rows) == 1 else None


def _same_name(typed: str, recorded: str) -> bool:
    return " ".join(typed.split()).casefold() == " ".join(recorded.split()).casefold()


def _matter(firm: Firm, reference: str, client_name: str) -> Matter | None:
    """The one matter numbered `reference` (ignoring case) whose client is `client_name`
    (ignoring case and spacing); None for no match, a wrong name or two such matters."""
    rows = db.session.execute(
        select(Matter, Client.name)
        .join(Client, Client.id == Matter.client_id)
        .where(Matter.firm_id == firm.id, func.lower(Matter.number) == reference.lower())
        .limit(2)
    ).all()
    if len(rows) != 1 or not _same_name(client_name, rows[0][1]):
        return None
    matter: Matter = rows[0][0]
    return matter


def _client_of_matter(matter_id: int) -> int | None:
    return db.session.scalar(select(Matter.client_id).where(Matter.id == matter_id))


def prepare(
    firm: Firm,
    *,
    kind: Kind,
    reference: str,
    amount_minor: int,
    currency: str,
    client_name: str = "",
) -> Prepared:
    """Decide what a public payment charges and where it goes; raises Refused if it cannot."""
    minimum = minimum_minor()
    if amount_minor < minimum:
        raise Refused("amount", "below_minimum")
    rules = allocation.Rules(allow_partial=True, minimum_minor=1)
    if kind is Kind.TRUST:
        if not firm.public_trust_deposits:
            raise Refused("kind", "no_public_trust")
        matter = _matter(firm, reference, client_name)
        if matter is None or matter.currency != currency:
            raise Refused("reference", "no_match")
        plan = allocation.plan(
            allocation.Basket(trust_deposits={matter.id: amount_minor}),
            invoices={},
            trust_matters={matter.id: matter.currency},
            rules=rules,
        )
        return Prepared(kind, currency, amount_minor, plan, matter.client_id, False, False)

    invoice = _open_invoice(firm, reference, currency)
    if invoice is None:
        line_free = allocation.PlannedCharge(
            MerchantAccountKind.OPERATING, currency, (), unapplied_minor=amount_minor
        )
        plan = allocation.Plan(currency=currency, charges=(line_free,))
        return Prepared(kind, currency, amount_minor, plan, None, True, False)
    charged = min(amount_minor, invoice.payable_minor)
    plan = allocation.plan(
        allocation.Basket(invoices={invoice.id: charged}),
        invoices={invoice.id: invoice},
        trust_matters={},
        rules=rules,
    )
    return Prepared(
        kind,
        currency,
        amount_minor,
        plan,
        _client_of_matter(invoice.matter_id),
        False,
        charged < amount_minor,
    )


#: Words that say money is paid ahead of the work (English, Spanish, French).
_TRUST_WORDS = re.compile(
    r"\b(retainers?|deposits?|trust|iolta|anticipos?|dep[oó]sitos?|fideicomiso|provisions?|"
    r"d[ée]p[oô]ts?|fiducie)\b",
    re.IGNORECASE,
)
#: A matter number as firms commonly write one: a year and a sequence ("2024-0117",
#: "2024/17"), or "M-" / "Matter" and digits. Invoice numbers ("INV-1041", "1041") do not match.
_MATTER_NUMBER = re.compile(
    r"^\s*(?:(?:19|20)\d{2}\s*[-/.]\s*\d{1,6}|(?:m|matter|asunto|dossier)\s*[-#:]?\s*\d+)\s*$",
    re.IGNORECASE,
)


def reads_like_trust(reference: str) -> bool:
    """True when a reference typed under "Pay your invoice" reads like a matter number or names
    a retainer or deposit: the page then suggests a trust deposit instead. By its shape only:
    it never looks the reference up, so it tells a stranger nothing about the firm's matters."""
    return bool(_TRUST_WORDS.search(reference) or _MATTER_NUMBER.match(reference))
