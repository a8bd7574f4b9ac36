"""The Payment Manager's list as table rows: one row per payment, for CSV exports.

The API (`GET /payments?format=csv`) and the console write these rows under `HEADER`, so
both export exactly the payments, in exactly the order, that their list shows. Amounts are
integers of minor units of `currency`; times are UTC, and `created_on` is the day in the
firm's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from portal import clock
from portal.firms.models import MerchantAccountKind
from portal.payments.models import UNMATCHED
from portal.payments.queries import PaymentView

HEADER = (
    "payment",
    "created_at",
    "created_on",
    "status",
    "source",
    "method",
    "instrument",
    "currency",
    "total",
    "operating",
    "trust",
    "refunded",
    "fee",
    "client",
    "matters",
    "invoices",
    "payer_name",
    "payer_email",
    "payer_reference",
    "unmatched",
    "flags",
)


def rows(views: Iterable[PaymentView], zone: dt.tzinfo) -> Iterator[list[object]]:
    """One row under HEADER per payment, in the order given."""
    for view in views:
        payment = view.payment
        charges = payment.charges
        kinds = {kind: 0 for kind in MerchantAccountKind}
        for charge in charges:
            kinds[charge.account_kind] += charge.amount_minor
        lines = [line for charge in charges for line in charge.allocations]
        matters = dict.fromkeys(view.matters[line.matter_id] for line in lines)
        invoices = dict.fromkeys(
            view.invoices[line.invoice_id] for line in lines if line.invoice_id is not None
        )
        first = charges[0] if charges else None
        instrument = ""
        if first is not None and first.instrument_last4:
            instrument = f"{first.instrument_brand or ''} {first.instrument_last4}".strip()
        open_flags = [flag.code for flag in payment.flags if flag.resolved_at is None]
        yield [
            payment.public_id,
            payment.created_at,
            clock.local_day(payment.created_at, zone),
            view.status,
            payment.source,
            payment.method,
            instrument,
            payment.currency,
            payment.total_minor,
            kinds[MerchantAccountKind.OPERATING],
            kinds[MerchantAccountKind.TRUST],
            sum(charge.refunded_minor for charge in charges),
            sum(charge.fee_minor or 0 for charge in charges),
            view.client,
            " ".join(matters),
            " ".join(invoices),
            payment.payer_name,
            payment.payer_email,
            payment.payer_reference,
            UNMATCHED in open_flags,
            " ".join(open_flags),
        ]
