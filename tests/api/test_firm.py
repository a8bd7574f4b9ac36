"""GET and PATCH /api/v1/firm: posting settings, alerts, time zone, identity and link email words;
every change audited, nothing saved on a 422, the same PATCH twice changing nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent
from portal.firms.services import authenticate
from tests import factories
from tests.conftest import APIClient

FIRM = "/api/v1/firm"
ADDRESS = "1 Main St.\nSuite 400\nNew York, NY 10001"


def patch(api: APIClient, body: Any) -> Any:
    return api.client.patch(FIRM, json=body, headers={"Authorization": f"Bearer {api.key}"})


def _events(session: Session, firm: factories.FirmWithKey) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.firm_id == firm.id, AuditEvent.entity == "firm")
            .order_by(AuditEvent.id)
        )
    )


def test_get_shows_every_setting_with_the_defaults_in_force(api: APIClient) -> None:
    response = api.get(FIRM)
    assert response.status_code == 200
    assert response.get_json() == {
        "name": "Okafor & Lindqvist LLP",
        "slug": "okafor-lindqvist-llp",
        "auto_post": True,
        "use_posted_date": False,
        "ar_message": "Portal payment",
        "ar_message_is_default": True,
        "auto_apply_order": "oldest_due",
        "notify_email": None,
        "time_zone": "UTC",
        "time_zone_is_default": True,
        "contact_email": None,
        "contact_phone": None,
        "postal_address": None,
        "website": None,
        "email_message": None,
        "email_signature": None,
        "refund_reauth_above_minor": None,
        "refund_reauth_currency": "USD",
        "held_postings": 0,
        "held_notice": None,
    }


def test_the_default_zone_comes_from_the_portal_setting(app: Flask, api: APIClient) -> None:
    app.config["DEFAULT_TIME_ZONE"] = "America/Chicago"
    body = api.get(FIRM).get_json()
    assert (body["time_zone"], body["time_zone_is_default"]) == ("America/Chicago", True)


@pytest.mark.parametrize(
    ("field", "sent", "shown"),
    [
        ("auto_post", False, False),
        ("use_posted_date", True, True),
        ("auto_apply_order", "smallest_first", "smallest_first"),
        ("auto_apply_order", "oldest_issued", "oldest_issued"),
        ("ar_message", "  Paid through the portal ", "Paid through the portal"),
        ("ar_message", "x" * 200, "x" * 200),
        ("notify_email", "alerts@okafor.example", "alerts@okafor.example"),
        ("notify_email", "Alerts@OKAFOR.example", "Alerts@okafor.example"),
        ("time_zone", "America/New_York", "America/New_York"),
        ("time_zone", "Asia/Kolkata", "Asia/Kolkata"),
        ("contact_email", "office@okafor.example", "office@okafor.example"),
        ("contact_phone", "+1 (212) 555-0100", "+1 (212) 555-0100"),
        ("contact_phone", "212.555.0100  x 12", "212.555.0100 ext. 12"),
        ("contact_phone", "020 7946 0958 ext.7", "020 7946 0958 ext. 7"),
        ("postal_address", "1 Main St.  \r\nSuite 400\nNew York, NY 10001", ADDRESS),
        ("website", "HTTPS://WWW.Okafor.example", "https://www.okafor.example/"),
        ("website", "http://okafor.example:80/about?x=1#team", "http://okafor.example/about?x=1"),
        ("website", "https://bücher.example:8443/", "https://xn--bcher-kva.example:8443/"),
        ("email_message", "Your statement\nis ready.", "Your statement\nis ready."),
        ("email_signature", "Okafor & Lindqvist", "Okafor & Lindqvist"),
    ],
)
def test_each_setting_is_stored_normalised_and_audited(
    session: Session, api: APIClient, firm: factories.FirmWithKey, field: str, sent: Any, shown: Any
) -> None:
    before = api.get(FIRM).get_json()

    # when
    response = patch(api, {field: sent})

    # then
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body[field] == shown
    assert api.get(FIRM).get_json() == body
    assert {name for name in body if body[name] != before[name]} <= {
        field,
        f"{field}_is_default",
        "held_notice",
    }
    (event,) = _events(session, firm)
    key = authenticate(firm.key)
    assert (event.actor_kind, event.actor_id) == ("api_key", str(key.id))
    assert (event.action, event.entity, event.entity_id) == (
        "firm.updated",
        "firm",
        "okafor-lindqvist-llp",
    )
    assert (event.field, event.after) == (field, shown)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": "Renamed LLP"}, "/name"),
        ({"logo_digest": "ab"}, "/logo_digest"),
        ({"auto_post": "false"}, "/auto_post"),
        ({"auto_post": 0}, "/auto_post"),
        ({"auto_post": None}, "/auto_post"),
        ({"use_posted_date": "yes"}, "/use_posted_date"),
        ({"ar_message": "x" * 201}, "/ar_message"),
        ({"ar_message": "Paid\nonline"}, "/ar_message"),
        ({"ar_message": "Paid\u0007online"}, "/ar_message"),
        ({"ar_message": 5}, "/ar_message"),
        ({"notify_email": "not an address"}, "/notify_email"),
        ({"notify_email": "a@b"}, "/notify_email"),
        ({"notify_email": ["a@example.com"]}, "/notify_email"),
        ({"time_zone": "Mars/Olympus_Mons"}, "/time_zone"),
        ({"time_zone": "America/New York"}, "/time_zone"),
        ({"time_zone": "../etc/passwd"}, "/time_zone"),
        ({"time_zone": "x" * 65}, "/time_zone"),
        ({"contact_email": "office@"}, "/contact_email"),
        ({"contact_phone": "call us maybe"}, "/contact_phone"),
        ({"contact_phone": "12"}, "/contact_phone"),
        ({"contact_phone": "+1 212 555 0100 +2"}, "/contact_phone"),
        ({"contact_phone": "1" * 41}, "/contact_phone"),
        ({"contact_phone": "555\n0100"}, "/contact_phone"),
        ({"postal_address": "1 Main St.\tSuite 4"}, "/postal_address"),
        ({"postal_address": "1 Main St.\u0000"}, "/postal_address"),
        ({"postal_address": "1 Main St.\x1b[31m"}, "/postal_address"),
        ({"postal_address": "x" * 501}, "/postal_address"),
        ({"postal_address": "\n".join("line" for _ in range(9))}, "/postal_address"),
        ({"website": "ftp://okafor.example/"}, "/website"),
        ({"website": "okafor.example"}, "/website"),
        ({"website": "https://user:pw@okafor.example/"}, "/website"),
        ({"website": "https://okafor .example/"}, "/website"),
        ({"website": "https://okafor.example:0/"}, "/website"),
        ({"website": "https://" + "a" * 300 + ".example/"}, "/website"),
        ({"email_message": "x" * 2001}, "/email_message"),
        ({"email_signature": "x" * 1001}, "/email_signature"),
        ({"auto_apply_order": "newest_first"}, "/auto_apply_order"),
        ({"auto_apply_order": None}, "/auto_apply_order"),
        ({"reason": "x" * 501}, "/reason"),
        ({"reason": "Moved\nbanks"}, "/reason"),
        ({"reason": 42}, "/reason"),
    ],
)
def test_a_bad_field_is_a_422_naming_it_and_nothing_is_saved(
    session: Session,
    api: APIClient,
    firm: factories.FirmWithKey,
    body: dict[str, Any],
    pointer: str,
) -> None:
    # given: a good change sent beside the bad one
    before = api.get(FIRM).get_json()

    # when
    response = patch(api, {"ar_message": "Must not be saved", **body})

    # then
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert [error["pointer"] for error in errors] == [pointer]
    assert pointer[1:] in errors[0]["detail"]
    assert api.get(FIRM).get_json() == before
    assert _events(session, firm) == []


def test_null_restores_the_defaults(app: Flask, api: APIClient) -> None:
    # given
    app.config["DEFAULT_TIME_ZONE"] = "Europe/Madrid"
    patch(
        api, {"time_zone": "America/New_York", "ar_message": "Paid", "website": "https://a.example"}
    )

    # when
    body = patch(api, {"time_zone": None, "ar_message": None, "website": None}).get_json()

    # then
    assert (body["time_zone"], body["time_zone_is_default"]) == ("Europe/Madrid", True)
    assert (body["ar_message"], body["ar_message_is_default"]) == ("Portal payment", True)
    assert body["website"] is None


def test_the_same_patch_twice_changes_and_records_nothing_more(
    session: Session, api: APIClient, firm: factories.FirmWithKey
) -> None:
    body = {
        "auto_post": False,
        "ar_message": "Portal payment - Okafor",
        "time_zone": "America/New_York",
        "contact_phone": "+1 212 555 0100",
        "website": "https://okafor.example",
    }
    first = patch(api, body)
    second = patch(api, body)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert sorted(e.field or "" for e in _events(session, firm)) == sorted(body)

    # a partial resend of values already held records nothing either
    assert patch(api, {"auto_post": False}).status_code == 200
    assert len(_events(session, firm)) == len(body)


def test_one_event_per_changed_field_with_before_and_after(
    session: Session, api: APIClient, firm: factories.FirmWithKey
) -> None:
    patch(api, {"time_zone": "America/New_York", "notify_email": "a@okafor.example"})
    patch(api, {"time_zone": "America/Chicago", "notify_email": "a@okafor.example"})
    changes = [(e.field, e.before, e.after) for e in _events(session, firm)]
    assert sorted(changes[:2], key=str) == [
        ("notify_email", None, "a@okafor.example"),
        ("time_zone", None, "America/New_York"),
    ]
    assert changes[2:] == [("time_zone", "America/New_York", "America/Chicago")]


def test_email_settings_keep_working_and_are_audited(
    session: Session, api: APIClient, firm: factories.FirmWithKey
) -> None:
    assert patch(api, {"email_message": "  Your statement is ready.  "}).status_code == 200
    body = patch(api, {"email_signature": "Okafor & Lindqvist\n+1 555 0100"}).get_json()
    assert body["email_message"] == "Your statement is ready."
    assert body["email_signature"] == "Okafor & Lindqvist\n+1 555 0100"
    cleared = patch(api, {"email_message": "   "}).get_json()
    assert cleared["email_message"] is None
    assert [(e.field, e.after) for e in _events(session, firm)] == [
        ("email_message", "Your statement is ready."),
        ("email_signature", "Okafor & Lindqvist\n+1 555 0100"),
        ("email_message", None),
    ]


def test_each_firm_sees_and_changes_only_its_own(
    session: Session, api: APIClient, other_api: APIClient, other_firm: factories.FirmWithKey
) -> None:
    patch(api, {"email_signature": "Ours", "auto_post": False, "time_zone": "Asia/Tokyo"})
    theirs = other_api.get(FIRM).get_json()
    assert (theirs["email_signature"], theirs["auto_post"], theirs["time_zone"]) == (
        None,
        True,
        "UTC",
    )
    assert theirs["name"] == "Brandt Legal Group"
    assert _events(session, other_firm) == []


def test_needs_a_key(api: APIClient) -> None:
    assert api.client.patch(FIRM, json={}).status_code == 401
    assert api.client.get(FIRM).status_code == 401


def test_the_document_describes_the_settings(api: APIClient) -> None:
    document = api.get("/api/v1/openapi.json").get_json()
    schema = document["components"]["schemas"]["FirmPatchIn"]
    assert {"auto_post", "ar_message", "time_zone", "contact_phone", "website", "reason"} <= set(
        schema["properties"]
    )
    assert schema["properties"]["reason"]["anyOf"][0]["maxLength"] == 500
    assert schema["additionalProperties"] is False


def test_the_refund_password_threshold_is_set_audited_and_cleared(
    api: APIClient, session: Session, firm: factories.FirmWithKey
) -> None:
    # given no threshold, when one is set
    response = patch(api, {"refund_reauth_above_minor": 500_000})
    # then it is stored, shown with its currency, and audited under the key
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["refund_reauth_above_minor"], body["refund_reauth_currency"]) == (500_000, "USD")
    event = _events(session, firm)[-1]
    assert (event.field, event.after) == ("refund_reauth_above_minor", 500_000)
    assert event.actor_kind == "api_key"
    # and null clears it
    cleared = patch(api, {"refund_reauth_above_minor": None}).get_json()
    assert cleared["refund_reauth_above_minor"] is None


@pytest.mark.parametrize("sent", [-1, 1.5, "5000", True, 10**12])
def test_a_bad_refund_threshold_is_refused_and_nothing_saved(
    api: APIClient, session: Session, firm: factories.FirmWithKey, sent: object
) -> None:
    response = patch(api, {"refund_reauth_above_minor": sent, "ar_message": "Kept out"})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [e["pointer"] for e in errors] == ["/refund_reauth_above_minor"]
    assert api.get(FIRM).get_json()["ar_message"] != "Kept out"
