"""The reconciliation report as CSV rows: the API's text/csv answer and the console's Reports
download write these same rows (through `portal.csvfiles`), and the console's page shows the
same three kinds of record: each account's day, each account's total, each charge."""

from __future__ import annotations

from collections.abc import Iterator

from portal.payments.reconciliation import Amounts, Report

CSV_HEADER = (
    "record",
    "kind",
    "label",
    "currency",
    "day",
    "gross",
    "fees",
    "refunds",
    "returns",
    "disputes",
    "net",
    "payment",
    "payment_status",
    "charge",
    "charge_status",
    "amount",
    "fee",
    "refunded",
    "reversed",
)


def figures(amounts: Amounts) -> list[object]:
    """The money columns of a day or a total, in CSV_HEADER's order."""
    return [
        amounts.gross,
        amounts.fees,
        amounts.refunds,
        amounts.returns,
        amounts.disputes,
        amounts.net,
    ]


def rows(report: Report) -> Iterator[list[object]]:
    """The CSV rows under CSV_HEADER: each day, each account's total, each charge."""
    blank_charge = [""] * 8
    for line in report.lines:
        account = line.account
        row: list[object] = [
            "day",
            account.kind.value,
            account.label,
            account.currency,
            line.day.isoformat(),
        ]
        yield row + figures(line.amounts) + blank_charge
    for total in report.totals:
        account = total.account
        row = ["total", account.kind.value, account.label, account.currency, ""]
        yield row + figures(total.amounts) + blank_charge
    for payment in report.payments:
        for charge in payment.charges:
            cells: list[object] = ["charge", charge.kind.value, "", payment.currency, ""]
            cells += [""] * 6
            cells += [
                payment.public_id,
                payment.status,
                charge.public_id,
                charge.status.value,
                charge.amount,
                charge.fee,
                charge.refunded,
                charge.reversed,
            ]
            yield cells
