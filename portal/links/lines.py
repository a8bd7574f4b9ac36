"""The allocation a link carries ("send for payment"): its lines, checked when the link is
issued, and what they allow when the client pays.

A line is an invoice with an amount, or a matter with a trust deposit. When issued, each line
must be the client's, an open invoice's amount at most what is left on it, a deposit above
zero, one currency in all, no line twice; any problem is refused by the line's index
(`/lines/<i>`). When paying (portal.payments.checkout), a link with lines pays those lines and
nothing else, each at most its amount, and less only where the firm allows partial payments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import db
from portal.errors import ValidationFailed
from portal.links.models import Link, LinkLine
from portal.money import MAX_MINOR


@dataclass(frozen=True)
class LineRequest:
    """One line as asked for: an invoice's external id and amount, or a matter's external id
    and a trust deposit; `index` is its place in the request, for the problem's pointer."""

    index: int
    invoice: str | None = None
    amount_minor: int | None = None
    matter: str | None = None
    trust_amount_minor: int | None = None


@dataclass(frozen=True)
class CarriedLines:
    """What a link's lines allow: amounts by invoice id and trust deposits by matter id."""

    invoices: Mapping[int, int] = field(default_factory=dict)
    deposits: Mapping[int, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.invoices or self.deposits)


def carried_lines(link: Link) -> CarriedLines:
    """The allocation `link` carries; empty (false) for a link without lines."""
    invoices: dict[int, int] = {}
    deposits: dict[int, int] = {}
    for line in link.lines:
        if line.invoice_id is not None:
            invoices[line.invoice_id] = line.amount_minor
        else:
            deposits[line.matter_id] = line.amount_minor
    return CarriedLines(invoices=invoices, deposits=deposits)


@dataclass(frozen=True)
class CheckedLine:
    matter: Matter
    invoice: Invoice | None
    amount_minor: int


def check_lines(client: Client, requested: Sequence[LineRequest]) -> list[CheckedLine]:
    """The client's lines as asked, or ValidationFailed naming each bad one by its index."""
    errors: list[dict[str, str]] = []
    checked: list[CheckedLine] = []
    seen: set[tuple[str, int]] = set()
    currencies: set[str] = set()

    def fail(line: LineRequest, name: str, detail: str) -> None:
        errors.append({"pointer": f"/lines/{line.index}/{name}", "detail": detail})

    for line in requested:
        where = f"lines[{line.index}]"
        if (line.invoice is None) == (line.matter is None):
            fail(line, "", f"{where} names either an invoice or a matter")
            continue
        if line.invoice is not None:
            invoice = _client_invoice(client, line.invoice)
            amount = line.amount_minor
            if invoice is None:
                fail(line, "invoice", f"{where} {line.invoice!r} is not an invoice of the client")
            elif invoice.status is not InvoiceStatus.OPEN:
                fail(line, "invoice", f"{where} invoice {invoice.number} is not open")
            elif amount is None or line.trust_amount_minor is not None:
                fail(line, "amount", f"{where} an invoice line takes `amount` only")
            elif amount <= 0:
                fail(line, "amount", f"{where} amount must be above zero")
            elif amount > (left := invoice.balance_due_minor - invoice.reserved_minor):
                fail(line, "amount", f"{where} invoice {invoice.number} has {left} left to pay")
            elif ("invoice", invoice.id) in seen:
                fail(line, "invoice", f"{where} invoice {invoice.number} is named twice")
            else:
                seen.add(("invoice", invoice.id))
                currencies.add(invoice.currency)
                checked.append(CheckedLine(invoice.matter, invoice, amount))
            continue
        matter_found = _client_matter(client, line.matter or "")
        deposit = line.trust_amount_minor
        if matter_found is None:
            fail(line, "matter", f"{where} {line.matter!r} is not a matter of the client")
        elif deposit is None or line.amount_minor is not None:
            fail(line, "trust_amount", f"{where} a matter line takes `trust_amount` only")
        elif not 0 < deposit <= MAX_MINOR:
            fail(line, "trust_amount", f"{where} trust_amount must be above zero")
        elif ("matter", matter_found.id) in seen:
            fail(line, "matter", f"{where} matter {matter_found.number} is named twice")
        else:
            seen.add(("matter", matter_found.id))
            currencies.add(matter_found.currency)
            checked.append(CheckedLine(matter_found, None, deposit))
    if not errors and len(currencies) > 1:
        errors.append({"pointer": "/lines", "detail": "every line must be in one currency"})
    if errors:
        raise ValidationFailed(errors=errors)
    return checked


def attach_lines(link: Link, checked: Sequence[CheckedLine]) -> None:
    """Give `link` these lines and limit it to their matters (not committed)."""
    for line in checked:
        link.lines.append(
            LinkLine(
                matter_id=line.matter.id,
                invoice_id=line.invoice.id if line.invoice is not None else None,
                amount_minor=line.amount_minor,
            )
        )
    matters = {line.matter.id: line.matter for line in checked}
    link.matters = list(matters.values())
    db.session.flush()


def _client_invoice(client: Client, external_id: str) -> Invoice | None:
    return db.session.scalar(
        select(Invoice)
        .join(Matter, Matter.id == Invoice.matter_id)
        .where(
            Invoice.firm_id == client.firm_id,
            Invoice.external_id == external_id,
            Matter.client_id == client.id,
        )
    )


def _client_matter(client: Client, external_id: str) -> Matter | None:
    return db.session.scalar(
        select(Matter).where(
            Matter.firm_id == client.firm_id,
            Matter.client_id == client.id,
            Matter.external_id == external_id,
        )
    )
