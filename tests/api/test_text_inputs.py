"""Free text through the API: one rule (portal.text) for every field, NUL answered centrally,
and JSON only as JSON.

A control character, NUL, a line separator in a one-line field or a lone surrogate is a 422
naming the field by JSON pointer, never a 500 (PostgreSQL cannot store a NUL) and never stored
(a line break in the firm's name broke every email carrying it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal.billing.models import Matter
from tests.api.conftest import client_body, entry_body, invoice_body, matter_body, pointers
from tests.conftest import APIClient

BRANDING = {"name": "Morales & Reyes LLP", "brand_colour": None, "public_trust_deposits": False}


@pytest.mark.parametrize(
    "name",
    [
        "Morales LLP\r\nBcc: victim@example.com",
        "Morales\nLLP",
        "Morales\u2028LLP",
        "Morales\u2029LLP",
        "Morales\x85LLP",
        "Morales\tLLP",
        "Morales\x00LLP",
        "Morales\x1bLLP",
        "Morales\x9bLLP",
    ],
)
def test_a_firm_name_with_a_line_break_or_control_is_refused(api: APIClient, name: str) -> None:
    # when
    response = api.put("/api/v1/firm/branding", json={**BRANDING, "name": name})

    # then
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert pointers(response) == ["/name"]
    assert api.get("/api/v1/firm/branding").get_json()["name"] != name


def test_a_plain_firm_name_with_accents_is_kept(api: APIClient) -> None:
    # when
    response = api.put("/api/v1/firm/branding", json={**BRANDING, "name": " Muñoz & Søn "})

    # then
    assert response.status_code == 200
    assert response.get_json()["name"] == "Muñoz & Søn"


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        ("/api/v1/clients/C-9", client_body(name="Ana\x00"), "/name"),
        ("/api/v1/clients/C-9", client_body(name="Ana\x07Morales"), "/name"),
        ("/api/v1/clients/C-9", client_body(name="Ana\u2028Morales"), "/name"),
        ("/api/v1/matters/M-9", matter_body("C-1", title="Morales\nv. Acme"), "/title"),
        ("/api/v1/matters/M-9", matter_body("C-1", number="2024\x00"), "/number"),
        ("/api/v1/invoices/I-9", invoice_body("M-1", description="March\x00"), "/description"),
        ("/api/v1/invoices/I-9", invoice_body("M-1", description="a\x1bb"), "/description"),
        ("/api/v1/invoices/I-9", invoice_body("M-1", number="INV\r1"), "/number"),
        ("/api/v1/trust-entries/T-9", entry_body("M-1", description="x\x7fy"), "/description"),
        ("/api/v1/links", {"client": "C-1", "ar_note": "a\nb"}, "/ar_note"),
        ("/api/v1/links", {"client": "C-1", "ar_note": "a\x00b"}, "/ar_note"),
        ("/api/v1/links", {"client": "C\u0085-1"}, "/client"),
        ("/api/v1/links", {"client": "C-1", "send": {"message": "Hi\x00"}}, "/send/message"),
        ("/api/v1/firm", {"email_message": "Hel\x0blo"}, "/email_message"),
        ("/api/v1/firm", {"email_signature": "Ana\x00"}, "/email_signature"),
        ("/api/v1/payments/abc/refunds", {"reason": "Paid twice\nby mistake"}, "/reason"),
        ("/api/v1/payments/abc/refunds", {"reason": "a\x00b"}, "/reason"),
    ],
)
def test_every_free_text_field_refuses_controls_naming_the_field(
    api: APIClient, a_matter: Matter, path: str, body: dict[str, Any], pointer: str
) -> None:
    # when
    send = api.client.patch if path == "/api/v1/firm" else None
    if send is not None:
        response = send(path, json=body, headers={"Authorization": f"Bearer {api.key}"})
    elif path == "/api/v1/links":
        response = api.post(path, json=body)
    elif path.endswith("/refunds"):
        response = api.post(path, json=body, headers={"Idempotency-Key": "refund-text"})
    else:
        response = api.put(path, json=body)

    # then
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert pointer in pointers(response)


def test_a_trust_request_memo_refuses_controls_but_keeps_its_lines(
    api: APIClient, a_matter: Matter
) -> None:
    body = {"matter": "M-1", "amount": 100_00, "currency": "USD", "kind": "retainer"}

    # when
    refused = api.post("/api/v1/trust-requests", json={**body, "memo": "pay\x00 now"})
    kept = api.post("/api/v1/trust-requests", json={**body, "memo": "Line one\r\n\tLine two"})

    # then
    assert refused.status_code == 422
    assert pointers(refused) == ["/memo"]
    assert kept.status_code == 201, kept.get_data(as_text=True)
    assert kept.get_json()["memo"] == "Line one\n\tLine two"


def test_multi_line_fields_keep_line_feeds_and_tabs(api: APIClient, a_matter: Matter) -> None:
    # when
    response = api.put(
        "/api/v1/invoices/I-9", json=invoice_body("M-1", description="Fees:\n\t- March")
    )

    # then
    assert response.status_code == 201
    assert response.get_json()["description"] == "Fees:\n\t- March"


def test_a_lone_surrogate_anywhere_in_a_body_is_422(api: APIClient) -> None:
    # given: JSON may escape a lone surrogate; no column can store one
    raw = '{"name": "Ana \\ud800", "email": "ana@example.com", "extra": {"\\udfff": 1}}'

    # when
    response = api.put(
        "/api/v1/clients/C-9", data=raw, headers={"Content-Type": "application/json"}
    )

    # then
    assert response.status_code == 422
    assert "/name" in pointers(response)


def test_a_nul_in_a_webhook_body_is_422_without_reading_it(api: APIClient) -> None:
    # when: the webhook routes get the central check too
    response = api.post(
        "/api/v1/webhook-endpoints",
        json={"url": "https://example.com/\x00", "description": "x\x00"},
    )

    # then
    assert response.status_code == 422
    assert {"/url", "/description"} <= set(pointers(response))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/links/%00",
        "/api/v1/webhook-endpoints/%00",
        "/api/v1/webhook-messages/%00",
        "/api/v1/payments/%00",
        "/api/v1/clients/%00",
        "/api/v1/trust-requests/%00",
    ],
)
def test_a_nul_in_an_api_path_is_a_problem_not_a_500(api: APIClient, path: str) -> None:
    # when
    response = api.get(path)

    # then
    assert response.status_code in (404, 422)
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/payments", {"client": "C\x001"}),
        ("/api/v1/clients", {"cursor": "\x00"}),
        ("/api/v1/payments", {"\x00": "1"}),
    ],
)
def test_a_nul_in_a_query_parameter_is_422(
    api: APIClient, path: str, query: dict[str, str]
) -> None:
    # when
    response = api.get(path, query_string=query)

    # then
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert "parameter" in response.get_json()["errors"][0]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"],
)
def test_a_body_not_sent_as_json_is_415(api: APIClient, content_type: str | None) -> None:
    # given
    headers = {"Content-Type": content_type} if content_type else {}

    # when
    response = api.put("/api/v1/clients/C-9", data=json.dumps(client_body()), headers=headers)

    # then
    assert response.status_code == 415
    assert response.content_type == "application/problem+json"
    assert response.get_json()["type"] == "/problems/unsupported-media-type"


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"],
)
def test_json_media_types_are_read(api: APIClient, content_type: str) -> None:
    # when
    response = api.put(
        "/api/v1/clients/C-9",
        data=json.dumps(client_body()),
        headers={"Content-Type": content_type},
    )

    # then
    assert response.status_code == 201


def test_an_empty_optional_body_needs_no_content_type(api: APIClient) -> None:
    # when: a refund's body is optional (every field has a default); no body, no type
    response = api.client.post(
        "/api/v1/payments/abc/refunds",
        headers={"Authorization": f"Bearer {api.key}", "Idempotency-Key": "k-1"},
    )

    # then: judged on what it asks (no such payment), not on a missing media type
    assert response.status_code == 404
