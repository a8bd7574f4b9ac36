"""Real threads against a committed database: racing tabs never pay a trust request beyond
what was asked, and racing syncs create one evergreen request, on SQLite and PostgreSQL."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from portal import clock
from portal.backoffice import services as backoffice
from portal.db import db
from portal.firms.models import EvergreenMode, Firm
from portal.ledger.services import TrustEntryRecord
from portal.links.models import Link
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.models import PaymentMethod
from portal.trust_requests.models import TrustRequest, TrustRequestStatus
from tests import factories
from tests.flows.test_concurrency import THREADS, _race
from tests.payments.conftest import VISA
from tests.trust_requests.conftest import make_request


def test_racing_tabs_cannot_pay_a_request_beyond_what_was_asked(committed_app: Flask) -> None:
    # given a request for 1,000.00
    with committed_app.app_context():
        firm = factories.firm_with_key("Race & Trust LLP")
        person = factories.client(firm)
        matter = factories.matter(person)
        request_id = make_request(matter, 100_000).id
        link_id = factories.link(person).public_id
        db.session.commit()

    # when eight tabs each try to pay 600.00 of it at once
    def pay(n: int) -> str:
        link = db.session.scalar(select(Link).where(Link.public_id == link_id))
        payment = payments.start_payment(
            link=link,
            basket=allocation.Basket(trust_requests={request_id: 60_000}),
            method=PaymentMethod.CARD,
            instrument=VISA,
            idempotency_key=f"tab-{n}",
            payer=payments.Payer("Racer", None, "203.0.113.6", "threads"),
        )
        return payment.public_id

    results = _race(committed_app, pay)
    # then exactly one went through and the others were refused
    paid = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, allocation.AllocationError)]
    assert len(paid) == 1 and len(refused) == THREADS - 1, results
    with committed_app.app_context():
        request = db.session.get(TrustRequest, request_id)
        assert (request.paid_minor, request.status) == (60_000, TrustRequestStatus.PARTIALLY_PAID)


def test_racing_syncs_create_one_evergreen_request(committed_app: Flask) -> None:
    # given a matter at its 5,000.00 minimum, and a firm that asks for top-ups
    with committed_app.app_context():
        keyed = factories.firm_with_key("Evergreen & Co")
        db.session.get(Firm, keyed.id).evergreen_mode = EvergreenMode.CREATE
        matter = factories.matter(
            factories.client(keyed), external_id="M-E", trust_minimum_minor=500_000
        )
        factories.trust_entry(matter, 500_000)
        firm_id = keyed.id
        db.session.commit()

    # when eight syncs each record a disbursement at the same moment
    def disburse(n: int) -> str:
        entry, _ = backoffice.upsert_trust_entry(
            firm_id=firm_id,
            record=TrustEntryRecord(
                external_id=f"D-{n}",
                matter="M-E",
                posted_on=clock.today(),
                amount_minor=-10_000,
                currency="USD",
                description="Disbursement",
            ),
        )
        return entry.external_id or ""

    results = _race(committed_app, disburse)
    assert all(isinstance(r, str) for r in results), results
    # then one unpaid replenishment request exists, for the shortfall the first one saw
    with committed_app.app_context():
        count = db.session.scalar(
            select(func.count(TrustRequest.id)).where(TrustRequest.firm_id == firm_id)
        )
        assert count == 1
