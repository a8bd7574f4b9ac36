"""A matter's statement as a PDF: open invoices, recent payments, and the trust ledger with the
balance after each entry, as the link's client may see them.

Built from the same read models as the matter page (`statement_for`, `trust_history`) and the
payment history (`payments.history`), in the locale being rendered; times in the firm's zone.
"""

from __future__ import annotations

from flask_babel import gettext

from portal import clock
from portal.firms.models import Firm
from portal.firms.services import firm_zone
from portal.links.models import Link
from portal.money import format_money
from portal.payments.history import payments_for_link
from portal.payments.receipts import STATUS_WORDS
from portal.pdf import Document
from portal.statements.statement import statement_for, trust_history
from portal.templating import current_locale, day_text, zoned_datetime

#: Payments a statement lists, newest first.
PAYMENTS_SHOWN = 20


def statement_filename(number: str) -> str:
    """The PDF's file name, after the matter number (kept to safe characters)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in number)
    return f"statement-{safe}.pdf"


def statement_pdf(link: Link, firm: Firm, matter_id: int) -> tuple[str, bytes]:
    """The matter's statement as (matter number, PDF bytes), if `link` may see the matter;
    else NotFound, as for its page."""
    statement = statement_for(link, matter_id)
    ledger = trust_history(link, matter_id, 1)
    payments = payments_for_link(link, matter_id=matter_id)[:PAYMENTS_SHOWN]
    locale = current_locale()
    zone = firm_zone(firm)
    trust = statement.trust_balance

    doc = Document(
        title=gettext("Statement for matter %(number)s", number=statement.number),
        firm_name=firm.name,
        heading=gettext("Statement"),
        accent=firm.brand_colour,
    )
    due = statement.balance_due
    doc.pairs(
        [
            (gettext("Matter"), f"{statement.title} ({statement.number})"),
            (gettext("Prepared"), zoned_datetime(clock.now(), zone, locale)),
            (
                gettext("Balance due"),
                format_money(due.minor, due.currency, locale)
                if due is not None
                else gettext("See each invoice"),
            ),
            (gettext("Trust balance"), format_money(trust.minor, trust.currency, locale)),
        ]
    )

    doc.heading(gettext("Open invoices"), size=12)
    if statement.open_invoices:
        doc.table(
            (gettext("Invoice"), gettext("Due"), gettext("Total"), gettext("Balance due")),
            [
                (
                    invoice.number,
                    "" if invoice.due_on is None else day_text(invoice.due_on, locale),
                    format_money(invoice.total_minor, invoice.currency, locale),
                    format_money(invoice.balance_due_minor, invoice.currency, locale),
                )
                for invoice in statement.open_invoices
            ],
            widths=(55, 45, 40, 40),
            numeric=(2, 3),
        )
    else:
        doc.paragraph(gettext("Nothing is owed on this matter."))

    doc.heading(gettext("Recent payments"), size=12)
    if payments:
        doc.table(
            (gettext("Payment number"), gettext("Date"), gettext("Status"), gettext("Amount")),
            [
                (
                    payment.number,
                    zoned_datetime(payment.created_at, zone, locale),
                    str(STATUS_WORDS.get(payment.status, payment.status)),
                    format_money(payment.total_minor, payment.currency, locale),
                )
                for payment in payments
            ],
            widths=(38, 62, 40, 40),
            numeric=(3,),
        )
    else:
        doc.paragraph(gettext("No payments through the portal yet."))

    doc.heading(gettext("Trust ledger"), size=12)
    if ledger.lines:
        doc.table(
            (gettext("Date"), gettext("Entry"), gettext("Amount"), gettext("Balance")),
            [
                (
                    day_text(line.posted_on, locale),
                    line.description,
                    format_money(line.amount_minor, line.currency, locale),
                    format_money(line.balance_after_minor, line.currency, locale),
                )
                for line in ledger.lines
            ],
            widths=(32, 76, 36, 36),
            numeric=(2, 3),
        )
        if ledger.page_count > 1:
            doc.paragraph(
                gettext("The newest entries only: the full trust history is on the portal."),
                muted=True,
            )
    else:
        doc.paragraph(gettext("No trust entries yet."))
    return statement.number, doc.output()
