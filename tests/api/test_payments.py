"""GET /api/v1/payments, GET /api/v1/payments/{id} and POST /api/v1/payments/{id}/refunds."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.billing.models import InvoiceStatus
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.ledger import services as ledger
from portal.payments import services as payments
from portal.payments.models import (
    Charge,
    ChargeStatus,
    Payment,
    PaymentMethod,
    Refund,
)
from portal.payments.queries import PAYMENT_STATUSES
from tests import factories
from tests.api.payment_books import make_book, recording, settle_ach, walk_ids
from tests.conftest import APIClient
from tests.payments.conftest import ACH_OK, ACH_RETURNED, Book, pay

S = ChargeStatus


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey) -> Book:
    return make_book(firm)


@pytest.fixture
def statements(session: Session) -> Iterator[list[str]]:
    yield from recording(session)


def _refund(api: APIClient, payment_id: str, body: Any = None, key: str | None = "r-1") -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    return api.post(f"/api/v1/payments/{payment_id}/refunds", json=body, headers=headers)


# Reading one payment


def test_a_card_payment_shows_charges_allocations_and_history(api: APIClient, book: Book) -> None:
    # given
    payment = pay(
        book,
        invoices={book.old.id: 120_000, book.new.id: 30_000},
        trust={book.matter.id: 50_000},
    )

    # when
    response = api.get(f"/api/v1/payments/{payment.public_id}")

    # then
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == payment.public_id
    assert (body["status"], body["method"], body["currency"]) == ("succeeded", "card", "USD")
    assert body["total"] == 200_000
    assert (body["payer_name"], body["payer_email"]) == ("Ada Client", "ada@example.com")
    assert body["client"] == "C-1"
    assert body["mandate"] is None
    assert body["flags"] == []
    operating, trust = body["charges"]
    assert operating["merchant_account"] == {"kind": "operating", "label": "Operating account"}
    assert trust["merchant_account"]["kind"] == "trust"
    assert (operating["amount"], trust["amount"]) == (150_000, 50_000)
    assert operating["status"] == "succeeded"
    assert operating["gateway"] == "sandbox"
    assert operating["gateway_ref"].startswith("pi_sbx_")
    assert operating["instrument"] == {"brand": "visa", "last4": "4242"}
    assert isinstance(operating["fee"], int)
    assert operating["refunded"] == 0
    assert operating["failure_code"] is None
    assert operating["succeeded_at"] is not None
    assert operating["settled_on"] == clock.today().isoformat()
    moves = [(event["from"], event["to"]) for event in operating["events"]]
    assert moves == [(None, "created"), ("created", "succeeded")]
    first = operating["events"][0]
    assert set(first) == {
        "from",
        "to",
        "source",
        "source_ref",
        "reason",
        "amount",
        "recorded_at",
    }
    assert (first["source"], first["amount"]) == ("portal", 150_000)
    allocations = {(a["kind"], a["invoice"], a["matter"], a["amount"]) for a in body["allocations"]}
    assert allocations == {
        ("invoice", "INV-OLD", "M-1", 120_000),
        ("invoice", "INV-NEW", "M-1", 30_000),
        ("trust_deposit", None, "M-1", 50_000),
    }
    by_charge = {a["charge"] for a in body["allocations"] if a["kind"] == "trust_deposit"}
    assert by_charge == {trust["id"]}
    assert all(a["refunded"] == 0 and a["acknowledged_at"] is None for a in body["allocations"])


def test_an_ach_payment_shows_its_mandate_while_processing(api: APIClient, book: Book) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 80_000}, method=PaymentMethod.ACH, instrument=ACH_OK)

    # when
    body = api.get(f"/api/v1/payments/{payment.public_id}").get_json()

    # then
    assert (body["status"], body["method"]) == ("processing", "ach")
    assert body["mandate"]["ip"] == "203.0.113.9"
    assert body["mandate"]["accepted_at"] is not None
    assert body["charges"][0]["succeeded_at"] is None


def test_a_return_that_empties_trust_shows_a_flag(api: APIClient, book: Book) -> None:
    # given: an ACH deposit that will come back, and trust spent in the meantime
    payment = pay(
        book, trust={book.matter.id: 100_000}, method=PaymentMethod.ACH, instrument=ACH_RETURNED
    )
    factories.trust_entry(book.matter, -250_000)
    settle_ach(payment)

    # when
    body = api.get(f"/api/v1/payments/{payment.public_id}").get_json()

    # then
    assert body["status"] == "returned"
    (flag,) = body["flags"]
    assert (flag["code"], flag["matter"], flag["charge"]) == (
        "trust_below_zero",
        "M-1",
        body["charges"][0]["id"],
    )
    assert [event["to"] for event in body["charges"][0]["events"]][-1] == "returned"


def test_another_firms_payment_is_not_found(
    api: APIClient, other_api: APIClient, book: Book
) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 10_000})

    # when
    theirs = other_api.get(f"/api/v1/payments/{payment.public_id}")
    refund = _refund(other_api, payment.public_id, {})
    missing = api.get("/api/v1/payments/no-such-payment")

    # then
    assert theirs.status_code == refund.status_code == missing.status_code == 404
    assert theirs.content_type == "application/problem+json"
    assert theirs.get_json() == {**missing.get_json(), "instance": theirs.get_json()["instance"]}
    assert book.new.balance_due_minor == 70_000


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/payments"),
        ("get", "/api/v1/payments/abc"),
        ("post", "/api/v1/payments/abc/refunds"),
    ],
)
def test_payment_routes_need_a_key(client: FlaskClient, method: str, path: str) -> None:
    # when
    response = getattr(client, method)(path, headers={"Idempotency-Key": "k"})

    # then
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_malformed_payment_id_is_422(api: APIClient) -> None:
    # when
    response = api.get("/api/v1/payments/" + "x" * 33)

    # then
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["parameter"] == "id"


# Listing


def test_the_list_walks_every_payment_once_oldest_first(
    api: APIClient, book: Book, other_firm: factories.FirmWithKey
) -> None:
    # given
    made = [pay(book, invoices={book.new.id: 1_000}).public_id for _ in range(5)]
    factories.client(other_firm)

    # when
    seen = walk_ids(api)

    # then
    assert seen == made
    listed = api.get("/api/v1/payments", query_string={"limit": 1}).get_json()["data"][0]
    assert listed == api.get(f"/api/v1/payments/{made[0]}").get_json()


def test_the_list_leaves_out_other_firms_payments(
    api: APIClient, other_api: APIClient, book: Book
) -> None:
    # given
    pay(book, invoices={book.new.id: 1_000})

    # when
    theirs = other_api.get("/api/v1/payments").get_json()

    # then
    assert theirs == {"data": [], "next_cursor": None}


def test_filters_by_matter_client_status_and_dates(
    api: APIClient, book: Book, firm: factories.FirmWithKey, session: Session
) -> None:
    # given: payments on three days, to two matters, from two clients, in two states
    invoice_paid = pay(book, invoices={book.new.id: 1_000})
    trust_paid = pay(book, trust={book.other_matter.id: 5_000})
    processing = pay(
        book, invoices={book.old.id: 2_000}, method=PaymentMethod.ACH, instrument=ACH_OK
    )
    neighbour = factories.client(firm, external_id="C-2")
    their_matter = factories.matter(neighbour, external_id="M-3")
    their_book = Book(
        neighbour, their_matter, their_matter, book.old, book.new, factories.link(neighbour)
    )
    neighbours = pay(their_book, trust={their_matter.id: 3_000})
    late_on_the_10th = dt.datetime(2026, 3, 10, 23, 59, 59, tzinfo=dt.UTC)
    for payment, at in [
        (invoice_paid, late_on_the_10th),
        (trust_paid, late_on_the_10th + dt.timedelta(seconds=1)),
        (processing, late_on_the_10th + dt.timedelta(hours=5)),
        (neighbours, late_on_the_10th + dt.timedelta(days=2)),
    ]:
        payment.created_at = at
    session.flush()
    invoice_paid, trust_paid, processing, neighbours = (
        p.public_id for p in (invoice_paid, trust_paid, processing, neighbours)
    )

    # then
    assert walk_ids(api, matter="M-1") == [invoice_paid, processing]
    assert walk_ids(api, matter="M-2") == [trust_paid]
    assert walk_ids(api, matter="M-404") == []
    assert walk_ids(api, client="C-2") == [neighbours]
    assert walk_ids(api, client="C-1") == [invoice_paid, trust_paid, processing]
    assert walk_ids(api, status="processing") == [processing]
    assert walk_ids(api, status="succeeded") == [invoice_paid, trust_paid, neighbours]
    assert walk_ids(api, created_from="2026-03-11") == [trust_paid, processing, neighbours]
    assert walk_ids(api, created_to="2026-03-10") == [invoice_paid]
    assert walk_ids(api, created_from="2026-03-11", created_to="2026-03-11") == [
        trust_paid,
        processing,
    ]
    assert walk_ids(api, created_from="2026-03-11", matter="M-1", status="processing") == [
        processing
    ]


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"status": "paid"}, "status", "status must be one of"),
        ({"created_from": "2026-3-1"}, "created_from", "YYYY-MM-DD"),
        ({"created_to": "2026-02-30"}, "created_to", "real calendar date"),
        (
            {"created_from": "2026-03-02", "created_to": "2026-03-01"},
            "created_to",
            "created_to must not be before created_from (2026-03-02)",
        ),
        ({"matter": "a/b"}, "matter", "must not contain '/'"),
        ({"client": ""}, "client", "client must not be empty"),
        ({"limit": 0}, "limit", "at least 1"),
        ({"cursor": "nope"}, "cursor", "not a cursor"),
        ({"payer": "Ada"}, "payer", "not a field"),
    ],
)
def test_bad_list_filters_are_422(
    api: APIClient, params: dict[str, str], parameter: str, words: str
) -> None:
    # when
    response = api.get("/api/v1/payments", query_string=params)

    # then
    assert response.status_code == 422
    (error,) = response.get_json()["errors"]
    assert error["parameter"] == parameter
    assert words in error["detail"]


_public_ids = itertools.count(1)
#: Stands for the id of the payment's own allocation in a parametrized refund line.
OWN = object()


def _payment_with(book: Book, statuses: tuple[ChargeStatus, ...], session: Session) -> Payment:
    """A payment whose charges are in `statuses`, written directly (no gateway involved)."""
    n = next(_public_ids)
    account = session.scalars(
        select(MerchantAccount).where(
            MerchantAccount.firm_id == book.client.firm_id,
            MerchantAccount.kind == MerchantAccountKind.OPERATING,
        )
    ).one()
    payment = Payment(
        public_id=f"mix-{n}-{secrets.token_hex(4)}",
        firm_id=book.client.firm_id,
        client_id=book.client.id,
        idempotency_key=f"mix-{n}",
        method=PaymentMethod.CARD,
        currency="USD",
        total_minor=1_000 * len(statuses),
        payer_name="Mix",
        created_at=clock.now(),
    )
    for m, status in enumerate(statuses):
        payment.charges.append(
            Charge(
                public_id=f"ch-{n}-{m}-{secrets.token_hex(4)}",
                firm_id=book.client.firm_id,
                merchant_account_id=account.id,
                account_kind=MerchantAccountKind.OPERATING,
                amount_minor=1_000,
                currency="USD",
                status=status,
                gateway="sandbox",
                idempotency_key=f"mix-{n}-{m}-{secrets.token_hex(4)}",
                method=PaymentMethod.CARD,
                refunded_minor=0,
                created_at=clock.now(),
            )
        )
    session.add(payment)
    session.flush()
    return payment


def test_the_status_filter_agrees_with_the_status_shown(
    api: APIClient, book: Book, session: Session
) -> None:
    # given: a payment for every mix of one or two charge statuses
    mixes = [(s,) for s in S] + list(itertools.combinations(S, 2))
    made = [_payment_with(book, mix, session) for mix in mixes]
    shown = {payment.public_id: payments.payment_status(payment) for payment in made}

    # when / then: each filter lists exactly the payments showing that status
    for word in PAYMENT_STATUSES:
        response = api.get("/api/v1/payments", query_string={"status": word, "limit": 500})
        listed = {item["id"]: item["status"] for item in response.get_json()["data"]}
        assert set(listed) == {pid for pid, status in shown.items() if status == word}, word
        assert set(listed.values()) <= {word}
    canceled = api.get("/api/v1/payments", query_string={"status": "canceled", "limit": 500})
    with_canceled = {p.public_id for p, mix in zip(made, mixes, strict=True) if S.CANCELED in mix}
    assert {item["id"] for item in canceled.get_json()["data"]} == with_canceled


def test_a_page_costs_the_same_queries_for_one_payment_or_many(
    api: APIClient, book: Book, statements: list[str]
) -> None:
    # given: one payment, listed once so the key's first-use bookkeeping is out of the way
    pay(book, invoices={book.old.id: 1_000}, trust={book.matter.id: 1_000})
    api.get("/api/v1/payments")
    statements.clear()
    api.get("/api/v1/payments")
    one = len(statements)
    for _ in range(4):
        pay(
            book,
            invoices={book.old.id: 1_000, book.new.id: 1_000},
            trust={book.matter.id: 1_000, book.other_matter.id: 1_000},
        )

    # when
    statements.clear()
    response = api.get("/api/v1/payments")

    # then
    assert len(response.get_json()["data"]) == 5
    assert len(statements) == one, "\n\n".join(statements)
    assert one <= 12


# Refunds


def test_a_partial_refund_is_201_and_the_same_key_replays_it(api: APIClient, book: Book) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 80_000})
    (charge,) = payment.charges
    (line,) = charge.allocations
    body = {"allocations": [{"allocation": line.id, "amount": 30_000}], "reason": "Overbilled"}

    # when
    first = _refund(api, payment.public_id, body, key="refund-1")
    again = _refund(api, payment.public_id, body, key="refund-1")

    # then
    assert (first.status_code, again.status_code) == (201, 200)
    made = first.get_json()
    (refund,) = made["refunds"]
    assert (refund["allocation"], refund["amount"], refund["status"]) == (
        line.id,
        30_000,
        "succeeded",
    )
    assert refund["reason"] == "Overbilled"
    assert again.get_json()["refunds"] == made["refunds"]
    assert made["payment"]["status"] == "partially_refunded"
    assert made["payment"]["charges"][0]["refunded"] == 30_000
    assert made["payment"]["allocations"][0]["refunded"] == 30_000
    last = made["payment"]["charges"][0]["events"][-1]
    assert (last["to"], last["source"], last["amount"], last["source_ref"]) == (
        "partially_refunded",
        "api",
        30_000,
        refund["id"],
    )
    # and the money went back once: the invoice is owed again for what was refunded
    assert book.new.balance_due_minor == 30_000
    assert charge.refunded_minor == 30_000


def test_a_replayed_key_with_other_amounts_or_payment_is_409(api: APIClient, book: Book) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 80_000})
    other = pay(book, invoices={book.old.id: 50_000})
    (line,) = payment.charges[0].allocations
    (other_line,) = other.charges[0].allocations
    _refund(api, payment.public_id, {"allocations": [{"allocation": line.id, "amount": 1_000}]})

    # when
    more = _refund(
        api, payment.public_id, {"allocations": [{"allocation": line.id, "amount": 2_000}]}
    )
    elsewhere = _refund(
        api, other.public_id, {"allocations": [{"allocation": other_line.id, "amount": 1_000}]}
    )

    # then
    assert more.status_code == elsewhere.status_code == 409
    assert more.get_json()["type"] == "/problems/idempotency-key-reused"
    assert line.refunded_minor == 1_000
    assert other_line.refunded_minor == 0


@pytest.mark.parametrize("body", [{}, None, {"allocations": []}])
def test_without_allocations_everything_left_is_refunded(
    api: APIClient, book: Book, body: Any
) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 40_000}, trust={book.matter.id: 25_000})
    operating, _ = payment.charges
    payments.refund_payment(
        firm_id=book.client.firm_id,
        payment_public_id=payment.public_id,
        lines=[payments.RefundLine(operating.allocations[0].id, 10_000)],
        idempotency_key="earlier",
    )

    # when
    if body is None:
        response = api.post(
            f"/api/v1/payments/{payment.public_id}/refunds",
            headers={"Idempotency-Key": "all"},
        )
    else:
        response = _refund(api, payment.public_id, body, key="all")

    # then
    assert response.status_code == 201
    made = response.get_json()
    assert sorted(r["amount"] for r in made["refunds"]) == [25_000, 30_000]
    assert made["payment"]["status"] == "refunded"
    assert book.new.balance_due_minor == 80_000
    # and nothing is left to refund under a new key
    nothing = _refund(api, payment.public_id, {}, key="all-again")
    assert nothing.status_code == 422
    assert "nothing is left to refund" in nothing.get_json()["detail"]


def test_a_trust_refund_above_the_matters_trust_balance_is_422(
    api: APIClient, book: Book, session: Session
) -> None:
    # given: a 1,000.00 deposit, and trust spent since, leaving 500.00 in the matter
    payment = pay(book, trust={book.matter.id: 100_000})
    (line,) = payment.charges[0].allocations
    factories.trust_entry(book.matter, -250_000)

    # when
    too_much = _refund(
        api, payment.public_id, {"allocations": [{"allocation": line.id, "amount": 60_000}]}
    )
    everything = _refund(api, payment.public_id, {}, key="r-2")
    allowed = _refund(
        api,
        payment.public_id,
        {"allocations": [{"allocation": line.id, "amount": 50_000}]},
        key="r-3",
    )

    # then
    assert too_much.status_code == 422
    (error,) = too_much.get_json()["errors"]
    assert error["pointer"] == "/allocations/0/amount"
    assert "trust balance" in error["detail"]
    assert everything.status_code == 422
    (error,) = everything.get_json()["errors"]
    assert error["pointer"] == ""
    assert error["detail"].startswith(f"allocation {line.id}: ")
    assert allowed.status_code == 201
    assert ledger.trust_balance(book.matter.id) == 0
    assert len(session.scalars(select(Refund)).all()) == 1


def test_missing_or_overlong_idempotency_key_is_422_naming_the_header(
    api: APIClient, book: Book
) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 10_000})

    # when
    missing = _refund(api, payment.public_id, {}, key=None)
    too_long = _refund(api, payment.public_id, {}, key="k" * 101)
    longest = _refund(api, payment.public_id, {}, key="k" * 100)

    # then
    assert missing.status_code == too_long.status_code == 422
    assert missing.get_json()["errors"] == [
        {"parameter": "Idempotency-Key", "detail": "Idempotency-Key is required"}
    ]
    assert too_long.get_json()["errors"][0]["parameter"] == "Idempotency-Key"
    assert "at most 100 characters" in too_long.get_json()["errors"][0]["detail"]
    assert longest.status_code == 201
    assert book.new.balance_due_minor == 80_000


@pytest.mark.parametrize(
    ("line", "pointer", "words"),
    [
        ({"allocation": 10**9, "amount": 100}, "/allocations/0/allocation", "not an allocation"),
        ({"allocation": "12", "amount": 100}, "/allocations/0/allocation", "must be an integer"),
        ({"amount": 100}, "/allocations/0/allocation", "allocation is required"),
        ({"allocation": OWN, "amount": 0}, "/allocations/0/amount", "at least 1"),
        ({"allocation": OWN, "amount": "5.00"}, "/allocations/0/amount", "minor units"),
        ({"allocation": OWN, "amount": 10_001}, "/allocations/0/amount", "left to refund"),
    ],
)
def test_bad_refund_lines_are_422_with_pointers(
    api: APIClient, book: Book, line: dict[str, Any], pointer: str, words: str
) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 10_000})
    (allocation,) = payment.charges[0].allocations
    line = {name: allocation.id if value is OWN else value for name, value in line.items()}

    # when
    response = _refund(api, payment.public_id, {"allocations": [line]})

    # then
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert errors[0]["pointer"] == pointer
    assert words in errors[0]["detail"]
    assert allocation.refunded_minor == 0


def test_an_allocation_named_twice_is_422(api: APIClient, book: Book) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 10_000})
    (allocation,) = payment.charges[0].allocations
    line = {"allocation": allocation.id, "amount": 5_000}

    # when
    response = _refund(api, payment.public_id, {"allocations": [line, line]})

    # then
    assert response.status_code == 422
    (error,) = response.get_json()["errors"]
    assert error["pointer"] == "/allocations"
    assert f"{allocation.id} is named twice" in error["detail"]


def test_a_charge_still_processing_cannot_be_refunded(api: APIClient, book: Book) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 10_000}, method=PaymentMethod.ACH, instrument=ACH_OK)

    # when
    response = _refund(api, payment.public_id, {})

    # then
    assert response.status_code == 422
    assert "processing" in response.get_json()["errors"][0]["detail"]
    assert book.new.status is InvoiceStatus.OPEN


def test_the_client_filter_names_the_firms_client_only(
    api: APIClient, book: Book, other_firm: factories.FirmWithKey
) -> None:
    # given: another firm has a client with the same external id, and a payment of its own
    other_book = make_book(other_firm)
    pay(other_book, invoices={other_book.new.id: 1_000})
    paid = pay(book, invoices={book.new.id: 1_000}).public_id

    # then
    assert walk_ids(api, client="C-1") == [paid]
