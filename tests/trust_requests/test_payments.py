"""Paying a trust request: into trust only, never beyond what is left, partly or in full, and
following the payment when it fails, is refunded or comes back; postings name the request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from portal.billing.models import Matter
from portal.firms.models import MerchantAccountKind
from portal.ledger import services as ledger
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.allocation import AllocationError
from portal.payments.models import Allocation, ChargeStatus, Payment, PaymentMethod
from portal.postings.models import OutboundMessage
from portal.trust_requests import holds
from portal.trust_requests import services as trust_requests
from portal.trust_requests.models import TrustRequest, TrustRequestStatus
from tests import factories
from tests.payments.conftest import ACH_OK, DECLINED, MANDATE, VISA
from tests.trust_requests.conftest import make_request

S = ChargeStatus
St = TrustRequestStatus
_keys = iter(range(1, 100_000))


def pay(
    matter: Matter,
    *,
    requests: dict[int, int] | None = None,
    trust: dict[int, int] | None = None,
    invoices: dict[int, int] | None = None,
    ach: bool = False,
    instrument: Any = None,
) -> Payment:
    return payments.start_payment(
        link=factories.link(matter.client),
        basket=allocation.Basket(
            invoices=invoices or {}, trust_deposits=trust or {}, trust_requests=requests or {}
        ),
        method=PaymentMethod.ACH if ach else PaymentMethod.CARD,
        instrument=instrument or (ACH_OK if ach else VISA),
        idempotency_key=f"tr-key-{next(_keys)}",
        payer=payments.Payer(
            name="Ada Client", email="ada@example.com", ip="203.0.113.5", user_agent="pytest"
        ),
        mandate_text=MANDATE if ach else None,
    )


def fresh(request: TrustRequest, session) -> TrustRequest:
    session.expire_all()
    found = session.get(TrustRequest, request.id)
    assert found is not None
    return found


def messages(session, type_: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(OutboundMessage).where(OutboundMessage.type == type_).order_by(OutboundMessage.id)
    )
    return [json.loads(row.payload) for row in rows]


def test_a_partial_payment_leaves_the_request_partly_paid(session, matter) -> None:
    request = make_request(matter, 250_000)
    payment = pay(matter, requests={request.id: 100_000})

    (charge,) = payment.charges
    assert charge.account_kind is MerchantAccountKind.TRUST
    assert charge.status is S.SUCCEEDED
    (line,) = charge.allocations
    assert (line.trust_request_id, line.matter_id, line.invoice_id) == (request.id, matter.id, None)
    request = fresh(request, session)
    assert (request.status, request.paid_minor, request.remaining_minor) == (
        St.PARTIALLY_PAID,
        100_000,
        150_000,
    )
    # the deposit is in the matter's trust ledger
    assert ledger.trust_balances([matter.id])[matter.id] == 300_000
    assert messages(session, "trust_request.paid") == []


def test_paying_the_rest_makes_it_paid_and_posts_trust_request_paid(session, matter) -> None:
    request = make_request(matter, 250_000, memo="Trial retainer")
    pay(matter, requests={request.id: 100_000})
    last = pay(matter, requests={request.id: 150_000})

    request = fresh(request, session)
    assert (request.status, request.paid_minor) == (St.PAID, 250_000)
    assert request.paid_at is not None
    (paid,) = messages(session, "trust_request.paid")
    data = paid["data"]
    assert data["trust_request"]["id"] == request.public_id
    assert data["trust_request"]["kind"] == "retainer"
    assert data["trust_request"]["memo"] == "Trial retainer"
    assert (data["trust_request"]["amount_minor"], data["trust_request"]["paid_minor"]) == (
        250_000,
        250_000,
    )
    assert data["matter"]["external_id"] == "M-1"
    assert data["payment_id"] == last.public_id
    # the deposit's own posting names the request too, and comes first in its sequence
    succeeded = [
        m
        for m in messages(session, "payment.succeeded")
        if m["data"]["payment_id"] == last.public_id
    ]
    (posting,) = succeeded
    (item,) = posting["data"]["allocations"]
    assert item["kind"] == "trust_deposit"
    assert item["trust_request"] == {
        "id": request.public_id,
        "kind": "retainer",
        "memo": "Trial retainer",
    }
    assert posting["sequence"] < paid["sequence"]


def test_more_than_what_is_left_is_refused_and_charges_nothing(session, matter) -> None:
    request = make_request(matter, 250_000)
    pay(matter, requests={request.id: 200_000})
    with pytest.raises(AllocationError) as refused:
        pay(matter, requests={request.id: 60_000})
    assert refused.value.errors[0]["field"] == f"request-{request.id}"
    assert "$500.00 left" in refused.value.errors[0]["detail"]
    assert fresh(request, session).paid_minor == 200_000


@pytest.mark.parametrize("amount", [0, -100])
def test_zero_or_negative_is_refused(session, matter, amount: int) -> None:
    request = make_request(matter, 250_000)
    with pytest.raises(AllocationError):
        pay(matter, requests={request.id: amount})


def test_a_canceled_or_paid_request_cannot_be_paid(session, matter) -> None:
    canceled = make_request(matter, 150_000)
    trust_requests.cancel(firm_id=matter.firm_id, public_id=canceled.public_id)
    with pytest.raises(AllocationError):
        pay(matter, requests={canceled.id: 10_000})
    paid = make_request(matter, 150_000)
    pay(matter, requests={paid.id: 150_000})
    with pytest.raises(AllocationError):
        pay(matter, requests={paid.id: 10_000})


def test_another_clients_request_cannot_be_paid(session, firm, matter) -> None:
    request = make_request(matter, 150_000)
    stranger = factories.matter(factories.client(firm), external_id="M-S")
    with pytest.raises(AllocationError):
        pay(stranger, requests={request.id: 10_000})


def test_a_request_is_never_split_to_operating(session, matter) -> None:
    invoice = factories.invoice(matter, total_minor=80_000)
    request = make_request(matter, 150_000)
    payment = pay(matter, requests={request.id: 150_000}, invoices={invoice.id: 80_000})
    by_kind = {charge.account_kind: charge for charge in payment.charges}
    assert by_kind[MerchantAccountKind.TRUST].amount_minor == 150_000
    assert by_kind[MerchantAccountKind.OPERATING].amount_minor == 80_000
    operating_lines = by_kind[MerchantAccountKind.OPERATING].allocations
    assert all(line.trust_request_id is None for line in operating_lines)


def test_a_bank_debit_in_flight_holds_the_request(session, matter) -> None:
    request = make_request(matter, 150_000)
    debit = pay(matter, requests={request.id: 150_000}, ach=True)
    assert debit.charges[0].status is S.PROCESSING
    assert fresh(request, session).status is St.OPEN  # nothing has arrived yet
    # a second tab cannot pay the same money again while the debit clears
    with pytest.raises(AllocationError):
        pay(matter, requests={request.id: 150_000})
    (payable,) = holds.payable_for_matters(matter.firm_id, [matter.id])
    assert (payable.payable_minor, payable.processing_minor) == (0, 150_000)

    payments.transition(debit.charges[0], S.SUCCEEDED, source="gateway")
    assert fresh(request, session).status is St.PAID


def test_hold_refuses_a_payment_the_basket_allowed_but_a_race_took(session, matter) -> None:
    request = make_request(matter, 150_000)
    pay(matter, requests={request.id: 100_000}, ach=True)
    # The check under the row lock counts the other payment's in-flight allocation.
    with pytest.raises(AllocationError):
        holds.hold(request.id, 60_000)
    holds.hold(request.id, 50_000)  # what is really left passes


def test_a_declined_card_leaves_the_request_open(session, matter) -> None:
    request = make_request(matter, 150_000)
    payment = pay(matter, requests={request.id: 150_000}, instrument=DECLINED)
    assert payment.charges[0].status is S.FAILED
    request = fresh(request, session)
    assert (request.status, request.paid_minor) == (St.OPEN, 0)
    # and the whole amount can be paid again
    pay(matter, requests={request.id: 150_000})
    assert fresh(request, session).status is St.PAID


def test_a_refund_takes_the_paid_amount_back(session, matter) -> None:
    request = make_request(matter, 150_000)
    payment = pay(matter, requests={request.id: 150_000})
    (line,) = payment.charges[0].allocations
    payments.refund_payment(
        firm_id=matter.firm_id,
        payment_public_id=payment.public_id,
        lines=[payments.RefundLine(line.id, 50_000)],
        idempotency_key="refund-1",
    )
    request = fresh(request, session)
    assert (request.status, request.paid_minor, request.paid_at) == (
        St.PARTIALLY_PAID,
        100_000,
        None,
    )
    payments.refund_payment(
        firm_id=matter.firm_id,
        payment_public_id=payment.public_id,
        lines=None,
        idempotency_key="refund-2",
    )
    request = fresh(request, session)
    assert (request.status, request.paid_minor) == (St.OPEN, 0)


def test_an_ach_return_takes_the_paid_amount_back_and_paying_again_posts_again(
    session, matter
) -> None:
    request = make_request(matter, 150_000)
    debit = pay(matter, requests={request.id: 150_000}, ach=True)
    payments.transition(debit.charges[0], S.SUCCEEDED, source="gateway")
    assert fresh(request, session).status is St.PAID
    payments.transition(debit.charges[0], S.RETURNED, source="gateway", reason="R01")
    request = fresh(request, session)
    assert (request.status, request.paid_minor) == (St.OPEN, 0)
    pay(matter, requests={request.id: 150_000})
    assert fresh(request, session).status is St.PAID
    assert len(messages(session, "trust_request.paid")) == 2


def test_a_canceled_request_keeps_its_status_when_money_comes_back(session, matter) -> None:
    request = make_request(matter, 150_000)
    payment = pay(matter, requests={request.id: 50_000})
    trust_requests.cancel(firm_id=matter.firm_id, public_id=request.public_id)
    payments.refund_payment(
        firm_id=matter.firm_id,
        payment_public_id=payment.public_id,
        lines=None,
        idempotency_key="refund-c",
    )
    request = fresh(request, session)
    assert (request.status, request.paid_minor) == (St.CANCELED, 0)


def test_the_allocation_row_names_the_request(session, matter) -> None:
    request = make_request(matter, 150_000)
    pay(matter, requests={request.id: 150_000}, trust={matter.id: 10_000})
    rows = session.execute(
        select(Allocation.trust_request_id, Allocation.amount_minor).order_by(Allocation.id)
    ).all()
    assert sorted(rows, key=lambda r: r[1]) == [(None, 10_000), (request.id, 150_000)]


def test_the_payment_api_names_the_request_on_its_allocation(api, session, matter) -> None:
    request = make_request(matter, 150_000)
    payment = pay(matter, requests={request.id: 150_000}, trust={matter.id: 10_000})
    body = api.get(f"/api/v1/payments/{payment.public_id}").get_json()
    named = sorted((line["amount"], line["trust_request"]) for line in body["allocations"])
    assert named == [(10_000, None), (150_000, request.public_id)]
