"""The reports: unpaid trust requests with their age, and payments made through requests,
as JSON and as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

from portal import clock
from tests.trust_requests.conftest import make_request
from tests.trust_requests.test_payments import pay


def _days_ago(days: int) -> dt.datetime:
    return clock.now() - dt.timedelta(days=days)


def test_unpaid_requests_with_their_age(api, session, matter) -> None:
    today = clock.today()
    old = make_request(matter, 250_000, due_on=today - dt.timedelta(days=1), memo="=HYPERLINK()")
    old.created_at = _days_ago(12)
    paid = make_request(matter, 100_000)
    pay(matter, requests={paid.id: 100_000})
    partly = make_request(matter, 300_000, due_on=today + dt.timedelta(days=30))
    partly.created_at = _days_ago(3)
    pay(matter, requests={partly.id: 100_000})
    canceled = make_request(matter, 100_000)
    api.post(f"/api/v1/trust-requests/{canceled.public_id}/cancel")
    session.flush()

    rows = api.get("/api/v1/trust-request-reports/unpaid").get_json()["data"]
    assert [(r["id"], r["status"], r["age_days"], r["overdue"]) for r in rows] == [
        (old.public_id, "open", 12, True),
        (partly.public_id, "partially_paid", 3, False),
    ]
    assert (rows[1]["paid"], rows[1]["remaining"]) == (100_000, 200_000)
    assert (rows[0]["matter"], rows[0]["client"], rows[0]["matter_number"]) == (
        "M-1",
        "C-1",
        "2026-001",
    )

    answer = api.get("/api/v1/trust-request-reports/unpaid?format=csv")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["id"], r["age_days"], r["overdue"]) for r in table] == [
        (old.public_id, "12", "true"),
        (partly.public_id, "3", "false"),
    ]
    assert table[0]["memo"] == "'=HYPERLINK()"  # never a formula in a spreadsheet
    assert table[0]["due_on"] == (today - dt.timedelta(days=1)).isoformat()
    # by Accept too
    by_accept = api.get("/api/v1/trust-request-reports/unpaid", headers={"Accept": "text/csv"})
    assert by_accept.mimetype == "text/csv"


def test_payments_made_through_requests(api, session, matter) -> None:
    request = make_request(matter, 250_000)
    first = pay(matter, requests={request.id: 100_000})
    first.created_at = dt.datetime(2026, 3, 16, 15, 0, tzinfo=dt.UTC)
    second = pay(matter, requests={request.id: 150_000}, trust={matter.id: 5_000})
    second.created_at = dt.datetime(2026, 3, 18, 9, 30, tzinfo=dt.UTC)
    session.flush()

    rows = api.get("/api/v1/trust-request-reports/payments").get_json()["data"]
    assert [(r["payment"], r["amount"], r["charge_status"]) for r in rows] == [
        (first.public_id, 100_000, "succeeded"),
        (second.public_id, 150_000, "succeeded"),
    ]
    assert {r["trust_request"] for r in rows} == {request.public_id}
    assert rows[0]["kind"] == "retainer" and rows[0]["matter"] == "M-1"

    only_later = api.get("/api/v1/trust-request-reports/payments?from=2026-03-17").get_json()
    assert [r["payment"] for r in only_later["data"]] == [second.public_id]
    only_first = api.get("/api/v1/trust-request-reports/payments?to=2026-03-16").get_json()
    assert [r["payment"] for r in only_first["data"]] == [first.public_id]
    bad = api.get("/api/v1/trust-request-reports/payments?from=2026-03-17&to=2026-03-16")
    assert bad.status_code == 422

    table = list(
        csv.DictReader(
            io.StringIO(api.get("/api/v1/trust-request-reports/payments?format=csv").text)
        )
    )
    assert [r["amount"] for r in table] == ["100000", "150000"]
    assert table[0]["created_at"] == "2026-03-16T15:00:00Z"


def test_payments_report_days_are_the_firms(api, session, firm, matter) -> None:
    # given a firm in New York and a payment at 23:30 there on 16 March (03:30 UTC the 17th)
    firm.firm.time_zone = "America/New_York"
    request = make_request(matter, 250_000)
    evening = pay(matter, requests={request.id: 100_000})
    evening.created_at = dt.datetime(2026, 3, 17, 3, 30, tzinfo=dt.UTC)
    session.flush()

    def listed(query: str) -> list[str]:
        answer = api.get(f"/api/v1/trust-request-reports/payments?{query}").get_json()
        return [row["payment"] for row in answer["data"]]

    # then it was made on the firm's 16th, not on the UTC 17th
    assert listed("from=2026-03-16&to=2026-03-16") == [evening.public_id]
    assert listed("from=2026-03-17") == []
    # and the API's description says so
    document = api.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/trust-request-reports/payments"]["get"]
    described = {p["name"]: p.get("description", "") for p in operation["parameters"]}
    for name in ("from", "to"):
        assert "the firm's time zone" in described[name] and "UTC" not in described[name]
    assert "UTC" not in operation["description"]
    assert "the firm's time zone" in operation["description"]


def test_reports_are_per_firm(api, other_api, matter) -> None:
    request = make_request(matter, 250_000)
    pay(matter, requests={request.id: 100_000})
    assert other_api.get("/api/v1/trust-request-reports/unpaid").get_json()["data"] == []
    assert other_api.get("/api/v1/trust-request-reports/payments").get_json()["data"] == []
