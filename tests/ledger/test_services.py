"""The ledger's own writes: the portal's entries and the back office's, and the one balance."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal import clock
from portal.ledger import services as ledger
from portal.ledger.models import TrustEntry
from tests import factories
from tests.payments.conftest import Book, pay


def _record(external_id: str, matter: str, amount: int, payment: str | None = None):
    return ledger.TrustEntryRecord(
        external_id=external_id,
        matter=matter,
        posted_on=clock.today() - dt.timedelta(days=1),
        amount_minor=amount,
        currency="USD",
        description=f"entry {external_id}",
        portal_payment=payment,
    )


def test_back_office_entries_are_appended_in_bulk_with_their_ids(session, firm) -> None:
    matter = factories.matter(factories.client(firm), external_id="M-9")
    ids = ledger.append_back_office_entries(
        firm_id=firm.id,
        entries=[
            ledger.BackOfficeEntry(_record("T-2", "M-9", -30_000), matter_id=matter.id),
            ledger.BackOfficeEntry(_record("T-1", "M-9", 100_000), matter_id=matter.id),
        ],
    )
    rows = {e.external_id: e for e in session.scalars(select(TrustEntry))}
    assert ids == {"T-1": rows["T-1"].id, "T-2": rows["T-2"].id}
    assert {e.source for e in rows.values()} == {ledger.BACK_OFFICE}
    assert ledger.trust_balance(matter.id) == 70_000
    assert ledger.trust_balances([matter.id, 0]) == {matter.id: 70_000, 0: 0}
    assert ledger.append_back_office_entries(firm_id=firm.id, entries=[]) == {}


def test_a_portal_deposit_the_back_office_recorded_first_counts_once(session, book: Book) -> None:
    # given a trust deposit taken in the portal
    payment = pay(book, trust={book.matter.id: 50_000})
    (charge,) = payment.charges
    assert ledger.trust_balance(book.matter.id) == 250_000
    # and the back office's own entry for it, naming the payment
    ledger.append_back_office_entries(
        firm_id=book.matter.firm_id,
        entries=[
            ledger.BackOfficeEntry(
                _record("T-DEP", book.matter.external_id, 50_000, payment.public_id),
                matter_id=book.matter.id,
                charge_id=charge.id,
            )
        ],
    )
    # when the portal appends a deposit for the same charge again (a won dispute re-deposits)
    entry = ledger.append_portal_entry(
        firm_id=charge.firm_id,
        matter_id=book.matter.id,
        amount_minor=50_000,
        currency="USD",
        description="Deposit restored",
        charge_id=charge.id,
    )
    # then it is appended as superseded by the back office's entry: it does not count
    back_office = session.scalars(select(TrustEntry).where(TrustEntry.external_id == "T-DEP")).one()
    assert entry.source == ledger.PORTAL and entry.superseded_by_id == back_office.id
    assert entry.external_id is None and entry.charge_id == charge.id
    assert ledger.trust_balance(book.matter.id) == 300_000
