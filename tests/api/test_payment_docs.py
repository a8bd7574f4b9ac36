"""The OpenAPI document describes the payment routes and the echo fields from their models."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from portal.payments.queries import PAYMENT_STATUSES


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").get_json()


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/v1/payments", "get", {"200", "401", "403", "422", "429"}),
        ("/api/v1/payments/{id}", "get", {"200", "401", "403", "404", "422", "429"}),
        (
            "/api/v1/payments/{id}/refunds",
            "post",
            {"200", "201", "400", "401", "403", "404", "409", "415", "422", "429"},
        ),
        (
            "/api/v1/payments/{id}/apply",
            "post",
            {"200", "400", "401", "403", "404", "409", "415", "422", "429"},
        ),
        ("/api/v1/dashboard", "get", {"200", "401", "403", "429"}),
    ],
)
def test_payment_routes_document_their_answers(
    document: dict[str, Any], path: str, method: str, statuses: set[str]
) -> None:
    # then
    assert set(document["paths"][path][method]["responses"]) == statuses


def test_the_refund_route_documents_its_header_and_optional_body(
    document: dict[str, Any],
) -> None:
    # when
    operation = document["paths"]["/api/v1/payments/{id}/refunds"]["post"]

    # then
    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert (header["name"], header["required"]) == ("Idempotency-Key", True)
    assert header["schema"]["maxLength"] == 100
    assert "same key again" in header["description"]
    assert operation["requestBody"]["required"] is False
    refund_in = _schema(document, "RefundIn")
    assert refund_in["additionalProperties"] is False
    assert "required" not in refund_in


def test_the_list_documents_its_filters(document: dict[str, Any]) -> None:
    # when
    parameters = {p["name"]: p for p in document["paths"]["/api/v1/payments"]["get"]["parameters"]}

    # then
    assert set(parameters) == {
        "limit",
        "cursor",
        "status",
        "created_from",
        "created_to",
        "matter",
        "client",
        "invoice",
        "unmatched",
        "method",
        "account_kind",
        "source",
        "amount_min",
        "amount_max",
        "declines",
        "sort",
        "format",
        "number",
    }
    assert all(p["in"] == "query" and not p["required"] for p in parameters.values())
    words = parameters["status"]["schema"]["anyOf"][0]["enum"]
    assert words == [*PAYMENT_STATUSES, "canceled"]


def test_payment_answers_show_the_history_words(document: dict[str, Any]) -> None:
    # then
    event = _schema(document, "ChargeEventOut")
    assert {"from", "to", "source", "source_ref", "reason", "amount", "recorded_at"} == set(
        event["properties"]
    )
    payment = _schema(document, "PaymentOut")
    assert payment["properties"]["status"]["enum"] == list(PAYMENT_STATUSES)


def test_the_echo_fields_are_explained(document: dict[str, Any]) -> None:
    # then
    invoice_in = _schema(document, "InvoiceIn")["properties"]["portal_payments"]
    assert "already reflects" in invoice_in["description"]
    assert "on every send" in invoice_in["description"]
    entry_in = _schema(document, "TrustEntryIn")["properties"]["portal_payment"]
    assert "whichever arrives first" in entry_in["description"]
    invoice_out = _schema(document, "InvoiceOut")["properties"]
    assert "not listed" in invoice_out["balance_due"]["description"]
    assert (
        "exactly as the back office last sent" in invoice_out["synced_balance_due"]["description"]
    )
    matter_out = _schema(document, "MatterOut")["properties"]
    assert "counts once" in matter_out["trust_balance"]["description"]
