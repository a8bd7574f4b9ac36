"""Evergreen retainers: a sync that leaves trust below a matter's minimum creates one
replenishment request for the shortfall (and emails it) as the firm's setting says."""

from __future__ import annotations

from sqlalchemy import select

from portal.firms.models import EvergreenMode
from portal.trust_requests.models import TrustRequest, TrustRequestSource, TrustRequestStatus
from tests.api.conftest import entry_body
from tests.trust_requests.conftest import parts

St = TrustRequestStatus


def _mode(api, mode: str) -> None:
    assert api.put("/api/v1/firm/evergreen", json={"mode": mode}).status_code == 200


def _requests(session) -> list[TrustRequest]:
    session.expire_all()
    return list(session.scalars(select(TrustRequest).order_by(TrustRequest.id)))


def _disburse(api, external_id: str, amount: int) -> None:
    answer = api.put(
        f"/api/v1/trust-entries/{external_id}",
        json=entry_body("M-1", amount=-amount, description="Expert fee"),
    )
    assert answer.status_code == 201, answer.get_json()


def test_off_creates_nothing(api, session, matter) -> None:
    _disburse(api, "T-1", 50_000)  # 2,000.00 -> 1,500.00, minimum 5,000.00
    assert _requests(session) == []


def test_a_sync_below_the_minimum_creates_one_request_for_the_shortfall(
    api, session, matter, smtp
) -> None:
    _mode(api, "create")
    _disburse(api, "T-1", 50_000)
    (request,) = _requests(session)
    assert request.kind.value == "replenishment"
    assert request.source is TrustRequestSource.EVERGREEN
    assert (request.amount_minor, request.currency, request.status) == (350_000, "USD", St.OPEN)
    assert request.due_on is not None
    assert "$5,000.00" in request.memo
    assert request.emailed_at is None and smtp.messages == []  # "create" does not email

    # a second sync while it is unpaid creates no other, even though trust fell further
    _disburse(api, "T-2", 10_000)
    assert [r.id for r in _requests(session)] == [request.id]

    listed = api.get("/api/v1/trust-requests?kind=replenishment").get_json()["data"]
    assert [(item["source"], item["amount"]) for item in listed] == [("evergreen", 350_000)]


def test_the_bulk_sync_and_a_raised_minimum_trigger_it_too(api, session, matter) -> None:
    _mode(api, "create")
    answer = api.post(
        "/api/v1/sync",
        json={
            "matters": [
                {
                    "external_id": "M-1",
                    "client": "C-1",
                    "number": "2026-001",
                    "title": "Client v. Northside",
                    "trust_minimum": 600_000,
                }
            ]
        },
    )
    assert answer.status_code == 200, answer.get_json()
    (request,) = _requests(session)
    assert request.amount_minor == 400_000


def test_above_the_minimum_nothing_is_asked(api, session, matter) -> None:
    _mode(api, "create")
    answer = api.put(
        "/api/v1/trust-entries/T-9", json=entry_body("M-1", amount=400_000, description="Top-up")
    )
    assert answer.status_code == 201
    assert _requests(session) == []


def test_once_paid_a_new_shortfall_asks_again(api, session, matter) -> None:
    from tests.trust_requests.test_payments import pay

    _mode(api, "create")
    _disburse(api, "T-1", 50_000)
    (first,) = _requests(session)
    pay(matter, requests={first.id: first.amount_minor})
    assert _requests(session)[0].status is St.PAID
    _disburse(api, "T-2", 100_000)  # 5,000.00 -> 4,000.00
    first_again, second = _requests(session)
    assert first_again.id == first.id
    assert (second.amount_minor, second.status) == (100_000, St.OPEN)


def test_create_and_email_sends_the_client_a_link(api, session, matter, smtp, firm) -> None:
    _mode(api, "create_and_email")
    _disburse(api, "T-1", 50_000)
    (request,) = _requests(session)
    assert request.emailed_at is not None
    (message,) = smtp.messages
    assert message["To"] == "ada@example.com"
    assert "top up your trust account" in message["Subject"]
    text, html = parts(message)
    for body in (text, html):
        assert "$3,500.00" in body
        assert "2026-001" in body
        assert "/l/" in body


def test_the_setting_is_per_firm(api, other_api, session, matter) -> None:
    assert other_api.put("/api/v1/firm/evergreen", json={"mode": "create"}).status_code == 200
    _disburse(api, "T-1", 50_000)
    assert _requests(session) == []
    assert api.get("/api/v1/firm/evergreen").get_json()["mode"] == EvergreenMode.OFF.value


def test_a_new_matter_below_its_minimum_is_not_asked_for_a_top_up(api, session, person) -> None:
    _mode(api, "create")
    answer = api.put(
        "/api/v1/matters/M-NEW",
        json={"client": "C-1", "number": "2026-009", "title": "New", "trust_minimum": 100_000},
    )
    assert answer.status_code == 201
    assert _requests(session) == []
    # its first disbursement below the minimum does ask
    answer = api.put(
        "/api/v1/trust-entries/T-N",
        json=entry_body("M-NEW", amount=-1_000, description="Filing fee"),
    )
    assert answer.status_code == 201
    (request,) = _requests(session)
    assert request.amount_minor == 101_000


def test_resending_an_entry_unchanged_does_not_ask(api, session, matter) -> None:
    _disburse(api, "T-1", 50_000)  # while evergreen is off
    _mode(api, "create")
    again = api.put(
        "/api/v1/trust-entries/T-1",
        json=entry_body("M-1", amount=-50_000, description="Expert fee"),
    )
    assert again.status_code == 200
    assert _requests(session) == []
