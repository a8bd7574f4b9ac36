"""GET and PATCH /api/v1/firm: the firm's default link email message and signature."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import APIClient


def patch(api: APIClient, body: Any) -> Any:
    return api.client.patch(
        "/api/v1/firm", json=body, headers={"Authorization": f"Bearer {api.key}"}
    )


def test_get_shows_the_firm_without_email_settings(api: APIClient) -> None:
    response = api.get("/api/v1/firm")
    assert response.status_code == 200
    assert response.get_json() == {
        "name": "Okafor & Lindqvist LLP",
        "slug": "okafor-lindqvist-llp",
        "email_message": None,
        "email_signature": None,
    }


def test_patch_sets_only_the_fields_sent(api: APIClient) -> None:
    # given
    assert patch(api, {"email_message": "  Your statement is ready.  "}).status_code == 200

    # when only the signature is sent
    response = patch(api, {"email_signature": "Okafor & Lindqvist\n+1 555 0100"})

    # then the message is kept (trimmed) and the signature is set
    assert response.status_code == 200
    body = response.get_json()
    assert body["email_message"] == "Your statement is ready."
    assert body["email_signature"] == "Okafor & Lindqvist\n+1 555 0100"
    assert api.get("/api/v1/firm").get_json() == body


@pytest.mark.parametrize("cleared", [None, "", "   "])
def test_null_or_blank_clears(api: APIClient, cleared: str | None) -> None:
    patch(api, {"email_message": "Hello", "email_signature": "Sig"})
    body = patch(api, {"email_message": cleared}).get_json()
    assert body["email_message"] is None
    assert body["email_signature"] == "Sig"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"email_message": "x" * 2001}, "/email_message"),
        ({"email_signature": "x" * 1001}, "/email_signature"),
        ({"email_message": 5}, "/email_message"),
        ({"name": "Renamed LLP"}, "/name"),
    ],
)
def test_bad_fields_are_422(api: APIClient, body: dict[str, Any], pointer: str) -> None:
    response = patch(api, body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert [e["pointer"] for e in response.get_json()["errors"]] == [pointer]
    assert api.get("/api/v1/firm").get_json()["name"] == "Okafor & Lindqvist LLP"


def test_each_firm_sees_and_changes_only_its_own(api: APIClient, other_api: APIClient) -> None:
    patch(api, {"email_signature": "Ours"})
    assert other_api.get("/api/v1/firm").get_json()["email_signature"] is None
    assert other_api.get("/api/v1/firm").get_json()["name"] == "Brandt Legal Group"


def test_needs_a_key(api: APIClient) -> None:
    assert api.client.patch("/api/v1/firm", json={}).status_code == 401
    assert api.client.get("/api/v1/firm").status_code == 401
