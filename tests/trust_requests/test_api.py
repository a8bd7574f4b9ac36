"""POST/GET /api/v1/trust-requests, cancel, the evergreen setting, and every refusal."""

from __future__ import annotations

from portal.billing.models import Matter
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.models import ChargeStatus, PaymentMethod
from tests import factories
from tests.payments.conftest import ACH_OK, MANDATE, VISA
from tests.trust_requests.conftest import make_request, request_body


def _pay(matter: Matter, request_id: int, amount: int, *, ach: bool = False):
    link = factories.link(matter.client)
    return payments.start_payment(
        link=link,
        basket=allocation.Basket(trust_requests={request_id: amount}),
        method=PaymentMethod.ACH if ach else PaymentMethod.CARD,
        instrument=ACH_OK if ach else VISA,
        idempotency_key=f"k-{request_id}-{amount}-{ach}",
        payer=payments.Payer(name="Ada", email="ada@example.com", ip="203.0.113.1", user_agent="t"),
        mandate_text=MANDATE if ach else None,
    )


def test_a_request_is_created_open_and_read_back(api, matter) -> None:
    created = api.post("/api/v1/trust-requests", json=request_body())
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["id"].startswith("tr_")
    assert body["matter"] == "M-1"
    assert (body["status"], body["kind"], body["source"]) == ("open", "retainer", "api")
    assert (body["amount"], body["paid"], body["remaining"]) == (250_000, 0, 250_000)
    assert (body["currency"], body["due_on"]) == ("USD", "2030-01-31")
    assert body["memo"] == "Retainer for the trial phase"
    assert body["canceled_at"] is None and body["emailed_at"] is None

    read = api.get(f"/api/v1/trust-requests/{body['id']}")
    assert read.status_code == 200
    assert read.get_json() == body


def test_the_idempotency_key_makes_a_retry_return_the_same_request(api, matter) -> None:
    headers = {"Idempotency-Key": "req-123"}
    first = api.post("/api/v1/trust-requests", json=request_body(), headers=headers)
    again = api.post("/api/v1/trust-requests", json=request_body(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    listed = api.get("/api/v1/trust-requests").get_json()["data"]
    assert len(listed) == 1

    other = api.post("/api/v1/trust-requests", json=request_body(amount=1), headers=headers)
    assert other.status_code == 409
    assert other.get_json()["type"] == "/problems/idempotency-key-reused"

    without_key = api.post("/api/v1/trust-requests", json=request_body())
    assert without_key.status_code == 201
    assert without_key.get_json()["id"] != first.get_json()["id"]


def test_another_firms_matter_is_not_found(api, matter, other_firm) -> None:
    theirs = factories.matter(factories.client(other_firm, external_id="C-X"), external_id="M-X")
    answer = api.post("/api/v1/trust-requests", json=request_body(matter=theirs.external_id))
    assert answer.status_code == 404
    assert answer.content_type == "application/problem+json"
    missing = api.post("/api/v1/trust-requests", json=request_body(matter="NOPE"))
    assert missing.status_code == 404


def test_another_firms_request_is_not_found(api, other_api, matter) -> None:
    mine = api.post("/api/v1/trust-requests", json=request_body()).get_json()["id"]
    assert other_api.get(f"/api/v1/trust-requests/{mine}").status_code == 404
    assert other_api.post(f"/api/v1/trust-requests/{mine}/cancel").status_code == 404
    assert other_api.get("/api/v1/trust-requests").get_json()["data"] == []
    assert api.get("/api/v1/trust-requests/tr_nope").status_code == 404


def test_an_amount_of_zero_or_less_is_refused(api, matter) -> None:
    for amount in (0, -100):
        answer = api.post("/api/v1/trust-requests", json=request_body(amount=amount))
        assert answer.status_code == 422, amount
        assert answer.get_json()["errors"][0]["pointer"] == "/amount"
    decimal = api.post("/api/v1/trust-requests", json=request_body(amount=12.5))
    assert decimal.status_code == 422


def test_a_currency_the_firms_trust_account_does_not_take_is_refused(api, matter) -> None:
    answer = api.post("/api/v1/trust-requests", json=request_body(currency="EUR"))
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["pointer"] == "/currency"
    unknown = api.post("/api/v1/trust-requests", json=request_body(currency="XYZ"))
    assert unknown.status_code == 422


def test_a_currency_other_than_the_matters_is_refused(api, firm, person) -> None:
    from portal.db import db
    from portal.firms.models import MerchantAccount, MerchantAccountKind

    # The firm also holds trust in CAD, but this matter's trust money is in USD.
    db.session.add(
        MerchantAccount(
            firm_id=firm.id, kind=MerchantAccountKind.TRUST, label="CAD trust", currency="CAD"
        )
    )
    db.session.flush()
    factories.matter(person, external_id="M-US", currency="USD")
    answer = api.post("/api/v1/trust-requests", json=request_body(matter="M-US", currency="CAD"))
    assert answer.status_code == 422
    (error,) = answer.get_json()["errors"]
    assert error["pointer"] == "/currency"
    assert "USD" in error["detail"]


def test_a_bad_kind_or_date_is_refused(api, matter) -> None:
    assert api.post("/api/v1/trust-requests", json=request_body(kind="fee")).status_code == 422
    assert (
        api.post("/api/v1/trust-requests", json=request_body(due_on="31/01/2030")).status_code
        == 422
    )
    assert api.post("/api/v1/trust-requests", json=request_body(extra=1)).status_code == 422


def test_the_list_filters_and_pages(api, matter, person) -> None:
    factories.matter(person, external_id="M-2")
    a = api.post("/api/v1/trust-requests", json=request_body(due_on="2030-01-10")).get_json()
    b = api.post(
        "/api/v1/trust-requests",
        json=request_body(matter="M-2", kind="replenishment", due_on="2030-02-10"),
    ).get_json()
    c = api.post("/api/v1/trust-requests", json=request_body(due_on=None)).get_json()
    api.post(f"/api/v1/trust-requests/{c['id']}/cancel")

    def ids(query: str) -> list[str]:
        answer = api.get(f"/api/v1/trust-requests{query}")
        assert answer.status_code == 200, answer.get_json()
        return [item["id"] for item in answer.get_json()["data"]]

    assert ids("") == [a["id"], b["id"], c["id"]]
    assert ids("?status=open") == [a["id"], b["id"]]
    assert ids("?status=canceled") == [c["id"]]
    assert ids("?matter=M-2") == [b["id"]]
    assert ids("?kind=replenishment") == [b["id"]]
    assert ids("?due_before=2030-02-01") == [a["id"]]
    assert ids("?due_after=2030-02-01") == [b["id"]]
    assert ids("?matter=M-2&kind=retainer") == []
    assert api.get("/api/v1/trust-requests?status=closed").status_code == 422

    first = api.get("/api/v1/trust-requests?limit=2").get_json()
    assert [item["id"] for item in first["data"]] == [a["id"], b["id"]]
    rest = api.get(f"/api/v1/trust-requests?limit=2&cursor={first['next_cursor']}").get_json()
    assert [item["id"] for item in rest["data"]] == [c["id"]]
    assert rest["next_cursor"] is None


def test_cancel_an_open_request_and_again(api, matter) -> None:
    made = api.post("/api/v1/trust-requests", json=request_body()).get_json()
    first = api.post(f"/api/v1/trust-requests/{made['id']}/cancel")
    assert first.status_code == 200
    assert first.get_json()["status"] == "canceled"
    again = api.post(f"/api/v1/trust-requests/{made['id']}/cancel")
    assert again.status_code == 200
    assert again.get_json()["canceled_at"] == first.get_json()["canceled_at"]


def test_cancel_a_paid_request_is_a_conflict(api, matter) -> None:
    request = make_request(matter, 150_000)
    _pay(matter, request.id, 150_000)
    answer = api.post(f"/api/v1/trust-requests/{request.public_id}/cancel")
    assert answer.status_code == 409
    assert answer.get_json()["type"] == "/problems/trust-request-not-cancelable"
    assert api.get(f"/api/v1/trust-requests/{request.public_id}").get_json()["status"] == "paid"


def test_cancel_while_a_payment_is_processing_is_a_conflict(api, matter) -> None:
    request = make_request(matter, 150_000)
    payment = _pay(matter, request.id, 50_000, ach=True)
    assert payment.charges[0].status.value == "processing"
    assert api.post(f"/api/v1/trust-requests/{request.public_id}/cancel").status_code == 409
    # once the debit clears it is partly paid, and may then be canceled
    payments.transition(payment.charges[0], ChargeStatus.SUCCEEDED, source="gateway")
    answer = api.post(f"/api/v1/trust-requests/{request.public_id}/cancel")
    assert answer.status_code == 200
    assert (answer.get_json()["status"], answer.get_json()["paid"]) == ("canceled", 50_000)


def test_a_partly_paid_request_can_be_canceled_and_keeps_what_was_paid(api, matter) -> None:
    request = make_request(matter, 150_000)
    _pay(matter, request.id, 50_000)
    answer = api.post(f"/api/v1/trust-requests/{request.public_id}/cancel").get_json()
    assert (answer["status"], answer["paid"], answer["remaining"]) == ("canceled", 50_000, 100_000)


def test_the_evergreen_setting_is_read_and_set(api, other_api) -> None:
    assert api.get("/api/v1/firm/evergreen").get_json() == {"mode": "off", "due_days": 7}
    answer = api.put("/api/v1/firm/evergreen", json={"mode": "create_and_email"})
    assert answer.status_code == 200
    assert answer.get_json()["mode"] == "create_and_email"
    assert api.get("/api/v1/firm/evergreen").get_json()["mode"] == "create_and_email"
    assert other_api.get("/api/v1/firm/evergreen").get_json()["mode"] == "off"
    assert api.put("/api/v1/firm/evergreen", json={"mode": "always"}).status_code == 422


def test_the_openapi_document_describes_the_routes(api) -> None:
    document = api.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert "post" in paths["/api/v1/trust-requests"] and "get" in paths["/api/v1/trust-requests"]
    assert "get" in paths["/api/v1/trust-requests/{id}"]
    assert "post" in paths["/api/v1/trust-requests/{id}/cancel"]
    assert "409" in paths["/api/v1/trust-requests/{id}/cancel"]["post"]["responses"]
    assert "put" in paths["/api/v1/firm/evergreen"]
    assert "get" in paths["/api/v1/trust-request-reports/unpaid"]
    assert "get" in paths["/api/v1/trust-request-reports/payments"]
