"""The reconciliation report balances with the payments it lists, whatever the history."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal import clock
from portal.firms.models import MerchantAccountKind
from portal.payments import reconciliation
from portal.payments import services as payments
from portal.payments.models import ChargeStatus
from portal.payments.services import RefundLine
from tests import factories
from tests.payments.conftest import Book, pay

#: One step: pay an amount to the old invoice, the new invoice or trust; then refund
#: nothing, everything, or a share (in 1/4s) of each allocation.
step = st.tuples(
    st.sampled_from(["old", "new", "trust", "new+trust"]),
    st.integers(min_value=100, max_value=20_000),
    st.sampled_from(["none", "full", "partial"]),
    st.integers(min_value=1, max_value=3),
)
_keys = iter(range(1, 1_000_000))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_the_report_balances_with_its_payments(session, firm, steps) -> None:
    # given a fresh book and a history made through the real services
    person = factories.client(firm)
    matter = factories.matter(person)
    old = factories.invoice(matter, total_minor=10_000_000, number=f"O-{next(_keys)}")
    new = factories.invoice(matter, total_minor=10_000_000, number=f"N-{next(_keys)}")
    book = Book(person, matter, matter, old, new, factories.link(person))
    for target, amount, refund, quarters in steps:
        invoices = {}
        trust = {}
        if target == "old":
            invoices[old.id] = amount
        if target in ("new", "new+trust"):
            invoices[new.id] = amount
        if target in ("trust", "new+trust"):
            trust[matter.id] = amount + 1
        payment = pay(book, invoices=invoices, trust=trust)
        if refund == "none":
            continue
        lines = None
        if refund == "partial":
            lines = [
                RefundLine(line.id, max(line.amount_minor * quarters // 4, 1))
                for charge in payment.charges
                for line in charge.allocations
            ]
        payments.refund_payment(
            firm_id=firm.id,
            payment_public_id=payment.public_id,
            lines=lines,
            idempotency_key=f"prop-{next(_keys)}",
        )

    # when
    today = clock.today()
    report = reconciliation.report(person.firm_id, today, today)

    # then no trust line has a fee
    assert all(
        line.amounts.fees == 0
        for line in report.lines
        if line.account.kind is MerchantAccountKind.TRUST
    )
    # the totals are the sums of the lines
    for total in report.totals:
        for column in reconciliation.COLUMNS:
            assert getattr(total.amounts, column) == sum(
                getattr(line.amounts, column)
                for line in report.lines
                if line.account == total.account
            )
    # and the net balances to the cent with the charges of the payments listed
    charges = [charge for payment in report.payments for charge in payment.charges]
    expected = sum(c.amount - c.fee - c.refunded - c.reversed for c in charges)
    assert sum(line.amounts.net for line in report.lines) == expected
    assert sum(total.amounts.net for total in report.totals) == expected
    # (the history is this firm's only: every payment succeeded and is listed)
    assert all(c.status is not ChargeStatus.FAILED for c in charges)
