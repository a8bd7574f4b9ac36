"""The receipt as a PDF: what the receipt page shows, for the payer to keep or print.

Built from the same `Receipt` as the page and the email, in the locale being rendered (the
page's, or the client's inside the email's locale_scope), so the three never disagree. Served
from the receipt page and attached to the receipt email.
"""

from __future__ import annotations

from flask_babel import gettext

from portal.money import format_money
from portal.payments.receipts import STATUS_WORDS, Receipt, ReceiptLine
from portal.pdf import Document
from portal.templating import current_locale, zoned_datetime


def receipt_filename(receipt: Receipt) -> str:
    """The PDF's file name: the payment number, which is what people file it under."""
    return f"receipt-{receipt.number}.pdf"


def _item(line: ReceiptLine) -> str:
    if line.kind == "invoice":
        return gettext("Invoice %(number)s", number=line.label)
    if line.request_memo is not None:
        words = gettext("Trust request")
        return f"{words}: {line.request_memo}" if line.request_memo else words
    return gettext("Trust deposit")


def receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt as PDF bytes, in the current locale."""
    locale = current_locale()

    def money(minor: int) -> str:
        return format_money(minor, receipt.currency, locale)

    doc = Document(
        title=gettext("Receipt %(number)s", number=receipt.number),
        firm_name=receipt.firm_name,
        heading=gettext("Receipt"),
        accent=receipt.brand_colour,
    )
    doc.paragraph(receipt.heading)
    pairs = [
        (gettext("Payment number"), receipt.number),
        (gettext("Date"), zoned_datetime(receipt.created_at, receipt.zone, locale)),
        (gettext("Amount"), money(receipt.total_minor)),
    ]
    if receipt.refunded_minor:
        pairs.append((gettext("Refunded"), money(receipt.refunded_minor)))
    if receipt.says_paid_by and receipt.instrument:
        pairs.append((gettext("Paid by"), receipt.instrument.title()))
    if receipt.payer_name:
        pairs.append((gettext("Payer"), receipt.payer_name))
    doc.pairs(pairs)
    for charge in receipt.charges:
        doc.heading(
            f"{charge.account_label}: {STATUS_WORDS.get(charge.status, charge.status)}", size=12
        )
        rows = [
            (
                _item(line),
                f"{line.matter_title} ({line.matter_number})" if line.matter_number else "",
                money(line.amount_minor),
                "" if line.still_owed_minor is None else money(line.still_owed_minor),
            )
            for line in charge.lines
        ]
        doc.table(
            (gettext("Item"), gettext("Matter"), gettext("Amount"), gettext("Still owed")),
            rows,
            widths=(50, 70, 30, 30),
            numeric=(2, 3),
            total=(gettext("Total"), "", money(charge.amount_minor), ""),
        )
        if charge.failure_text:
            doc.paragraph(charge.failure_text)
        if charge.processor_reference:
            doc.paragraph(
                gettext("Processor reference: %(reference)s", reference=charge.processor_reference),
                muted=True,
            )
    doc.paragraph(
        gettext(
            "Quote the payment number %(number)s when you contact %(firm)s about this payment.",
            number=receipt.number,
            firm=receipt.firm_name,
        ),
        muted=True,
    )
    return doc.output()
