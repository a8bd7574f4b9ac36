"""GET /api/v1/audit-events, and the audit events every settings use case appends: branding,
logo, origins, evergreen, webhook endpoints (never a secret) and API keys from the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import services as audit
from portal.audit.models import AuditEvent
from portal.firms.models import APIKey
from portal.firms.services import authenticate
from tests import factories
from tests.conftest import APIClient

EVENTS = "/api/v1/audit-events"


def patch(api: APIClient, path: str, body: Any) -> Any:
    return api.client.patch(path, json=body, headers={"Authorization": f"Bearer {api.key}"})


def _listed(api: APIClient, query: str = "") -> list[dict[str, Any]]:
    response = api.get(f"{EVENTS}{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def _key_id(firm: factories.FirmWithKey) -> str:
    return str(authenticate(firm.key).id)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 60, 120)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def loopback(app: Flask) -> Flask:
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=1)
    return app


# The list


def test_events_are_listed_newest_first_with_who_what_and_when(
    api: APIClient, firm: factories.FirmWithKey
) -> None:
    # given
    patch(api, "/api/v1/firm", {"auto_post": False})
    patch(api, "/api/v1/firm", {"time_zone": "America/New_York"})

    # when
    events = _listed(api, "?entity=firm")

    # then
    assert [(e["field"], e["before"], e["after"]) for e in events] == [
        ("time_zone", None, "America/New_York"),
        ("auto_post", True, False),
    ]
    newest = events[0]
    assert set(newest) == {
        "id",
        "at",
        "actor",
        "action",
        "entity",
        "entity_id",
        "field",
        "before",
        "after",
        "reason",
    }
    assert newest["actor"] == {"kind": "api_key", "id": _key_id(firm)}
    assert (newest["action"], newest["entity_id"], newest["reason"]) == (
        "firm.updated",
        "okafor-lindqvist-llp",
        None,
    )
    assert dt.datetime.fromisoformat(newest["at"]).tzinfo is not None


def test_a_reason_sent_with_a_patch_is_on_each_of_its_events(api: APIClient) -> None:
    # given a change of two settings, and one left as it was, with a reason
    why = "Ticket 4812: the firm moved to New York"
    patch(api, "/api/v1/firm", {"auto_post": True})  # already true: no event

    # when
    answer = patch(
        api,
        "/api/v1/firm",
        {"auto_post": True, "time_zone": "America/New_York", "ar_message": "Paid", "reason": why},
    )

    # then the reason is on each changed field's event, and stored nowhere else
    assert answer.status_code == 200, answer.get_json()
    assert "reason" not in answer.get_json()
    events = _listed(api, "?entity=firm")
    assert sorted((e["field"], e["reason"]) for e in events) == [
        ("ar_message", why),
        ("time_zone", why),
    ]
    # a merchant account's change carries its reason the same way
    account = api.get("/api/v1/merchant-accounts").get_json()["data"][0]["id"]
    changed = patch(
        api, f"/api/v1/merchant-accounts/{account}", {"ledger_code": "1010", "reason": "  Audit  "}
    )
    assert changed.status_code == 200, changed.get_json()
    (event,) = _listed(api, "?entity=merchant_account")
    assert (event["field"], event["after"], event["reason"]) == ("ledger_code", "1010", "Audit")


def test_an_over_long_reason_is_a_422_and_changes_nothing(api: APIClient) -> None:
    # when
    answer = patch(api, "/api/v1/firm", {"auto_post": False, "reason": "x" * 501})

    # then
    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    assert [e["pointer"] for e in answer.get_json()["errors"]] == ["/reason"]
    assert api.get("/api/v1/firm").get_json()["auto_post"] is True
    assert _listed(api, "?entity=firm") == []


def test_pages_follow_the_cursor_newest_first(api: APIClient) -> None:
    # given: five changes
    for n in range(5):
        patch(api, "/api/v1/firm", {"ar_message": f"Message {n}"})

    # when
    first = api.get(f"{EVENTS}?entity=firm&limit=2").get_json()
    second = api.get(f"{EVENTS}?entity=firm&limit=2&cursor={first['next_cursor']}").get_json()
    third = api.get(f"{EVENTS}?entity=firm&limit=2&cursor={second['next_cursor']}").get_json()

    # then
    seen = [e["after"] for page in (first, second, third) for e in page["data"]]
    assert seen == [f"Message {n}" for n in (4, 3, 2, 1, 0)]
    assert third["next_cursor"] is None


def _seed(session: Session, firm: factories.FirmWithKey) -> None:
    """Events of every kind at known times (written as the use cases would)."""
    base = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    rows = [
        (audit.Actor.api_key(1), "firm.updated", "firm", "f", "auto_post", 0),
        (audit.Actor.staff(9), "firm.updated", "firm", "f", "time_zone", 1),
        (audit.CLI, "api_key.issued", "api_key", "k42", None, 2),
        (audit.SYSTEM, "webhook_endpoint.updated", "webhook_endpoint", "ep_1", "url", 3),
    ]
    for actor, action, entity, entity_id, field, hours in rows:
        event = audit.record(
            firm.id, actor, action=action, entity=entity, entity_id=entity_id, field=field
        )
        event.at = base + dt.timedelta(hours=hours)
    session.flush()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("entity=firm", ["time_zone", "auto_post"]),
        ("entity=api_key&entity_id=k42", [None]),
        ("field=url", ["url"]),
        ("action=firm.updated", ["time_zone", "auto_post"]),
        ("actor_kind=staff", ["time_zone"]),
        ("actor_kind=api_key&actor_id=1", ["auto_post"]),
        ("actor_kind=cli", [None]),
        ("since=2026-11-01T13:00:00Z", ["url", None, "time_zone"]),
        ("until=2026-11-01T13:00:00%2B00:00", ["auto_post"]),
        ("since=2026-11-01T08:00:00-05:00&until=2026-11-01T15:00:00Z", [None, "time_zone"]),
        ("entity=firm&field=url", []),
        ("entity_id=nothing", []),
    ],
)
def test_filters_all_hold(
    session: Session, api: APIClient, firm: factories.FirmWithKey, query: str, expected: list
) -> None:
    _seed(session, firm)
    # (the factory's own key, issued now by the system, is left out)
    listed = [e for e in _listed(api, f"?{query}") if e["entity_id"] != _key_id(firm)]
    assert [e["field"] for e in listed] == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("since=2026-11-01T13:00:00", "since"),
        ("until=yesterday", "until"),
        ("actor_kind=robot", "actor_kind"),
        ("entity=" + "x" * 65, "entity"),
        ("colour=red", "colour"),
        ("cursor=nonsense", "cursor"),
    ],
)
def test_bad_filters_are_422_naming_the_parameter(
    api: APIClient, query: str, parameter: str
) -> None:
    response = api.get(f"{EVENTS}?{query}")
    assert response.status_code == 422
    assert [e["parameter"] for e in response.get_json()["errors"]] == [parameter]


def test_another_firms_events_never_appear(
    session: Session,
    api: APIClient,
    other_api: APIClient,
    firm: factories.FirmWithKey,
    other_firm: factories.FirmWithKey,
) -> None:
    # given
    patch(api, "/api/v1/firm", {"contact_email": "office@okafor.example"})
    _seed(session, firm)

    # when
    theirs = _listed(other_api)
    filtered = _listed(other_api, f"?entity_id=okafor-lindqvist-llp&actor_id={_key_id(firm)}")

    # then: only the key the factory issued them
    assert [(e["action"], e["entity_id"]) for e in theirs] == [
        ("api_key.issued", str(authenticate(other_firm.key).id))
    ]
    assert filtered == []
    assert "office@okafor.example" not in json.dumps(theirs)


def test_needs_a_key_and_is_documented(api: APIClient) -> None:
    assert api.client.get(EVENTS).status_code == 401
    document = api.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/audit-events"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"entity", "entity_id", "field", "action", "actor_kind", "actor_id"} <= names
    assert {"since", "until", "cursor", "limit"} <= names
    (kind,) = [p for p in operation["parameters"] if p["name"] == "actor_kind"]
    (choices,) = [s["enum"] for s in kind["schema"]["anyOf"] if "enum" in s]
    assert choices == ["api_key", "staff", "client", "cli", "system"]


# The use cases that audit


def _firm_events(api: APIClient, **filters: str) -> list[tuple[Any, ...]]:
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return [
        (e["action"], e["field"], e["before"], e["after"])
        for e in reversed(_listed(api, f"?{query}"))
    ]


def test_branding_changes_are_audited_field_by_field(api: APIClient) -> None:
    body = {"name": "Okafor Lindqvist", "brand_colour": "#1F3A5F", "public_trust_deposits": True}
    assert api.put("/api/v1/firm/branding", json=body).status_code == 200
    assert api.put("/api/v1/firm/branding", json=body).status_code == 200  # unchanged: no rows
    assert sorted(_firm_events(api, entity="firm")) == [
        ("firm.updated", "brand_colour", None, "#1f3a5f"),
        ("firm.updated", "name", "Okafor & Lindqvist LLP", "Okafor Lindqvist"),
        ("firm.updated", "public_trust_deposits", False, True),
    ]


def test_origins_and_the_logo_are_audited(api: APIClient) -> None:
    # when
    api.put("/api/v1/firm/origins", json={"origins": ["https://www.okafor.example"]})
    data = _png()
    uploaded = api.client.put(
        "/api/v1/firm/logo",
        data=data,
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "image/png"},
    )
    assert uploaded.status_code == 200, uploaded.get_json()
    assert api.delete("/api/v1/firm/logo").status_code == 200
    assert api.delete("/api/v1/firm/logo").status_code == 200  # no logo left: no row

    # then: the logo by its digest, never its bytes
    digest = _listed(api, "?field=logo_digest")[-1]["after"]
    assert len(digest) == 64
    assert _firm_events(api, entity="firm") == [
        ("firm.updated", "website_origins", [], ["https://www.okafor.example"]),
        ("firm.updated", "logo_digest", None, digest),
        ("firm.updated", "logo_digest", digest, None),
    ]


def test_the_evergreen_mode_is_audited(api: APIClient) -> None:
    assert api.put("/api/v1/firm/evergreen", json={"mode": "create"}).status_code == 200
    assert _firm_events(api, field="evergreen_mode") == [
        ("firm.updated", "evergreen_mode", "off", "create")
    ]


def test_webhook_endpoints_are_audited_without_secrets_or_url_tokens(
    api: APIClient, loopback: Flask
) -> None:
    # when
    url = "http://127.0.0.1:9/hooks?token=s3cr3t-t0ken&v=2"
    created = api.post("/api/v1/webhook-endpoints", json={"url": url, "description": "Books"})
    assert created.status_code == 201
    endpoint = created.get_json()
    path = f"/api/v1/webhook-endpoints/{endpoint['id']}"
    patch(api, path, {"enabled": False, "description": "Ledger", "event_types": ["payment.*"]})
    patch(api, path, {"enabled": False})  # unchanged: no rows
    rotated = api.post(f"{path}/rotate-secret").get_json()
    assert api.delete(path).status_code == 204

    # then
    shown_url = "http://127.0.0.1:9/hooks?token=***&v=***"
    settings = {"url": shown_url, "description": "Books", "event_types": None, "enabled": True}
    assert _firm_events(api, entity="webhook_endpoint", entity_id=endpoint["id"]) == [
        ("webhook_endpoint.created", None, None, settings),
        ("webhook_endpoint.updated", "description", "Books", "Ledger"),
        ("webhook_endpoint.updated", "event_types", None, ["payment.*"]),
        ("webhook_endpoint.updated", "enabled", True, False),
        ("webhook_endpoint.secret_rotated", "secret", None, "rotated"),
        (
            "webhook_endpoint.deleted",
            None,
            {**settings, "description": "Ledger", "enabled": False, "event_types": ["payment.*"]},
            None,
        ),
    ]
    logged = json.dumps(_listed(api))
    for secret in (endpoint["secret"], rotated["secret"], "s3cr3t-t0ken", "whsec_"):
        assert secret not in logged


def test_api_keys_issued_and_revoked_from_the_cli_are_audited(
    app: Flask, session: Session, firm: factories.FirmWithKey, api: APIClient
) -> None:
    # when
    runner = app.test_cli_runner()
    issued = runner.invoke(args=["create-api-key", str(firm.id), "--label", "billing"])
    secret = issued.output.strip()
    key = session.scalar(select(APIKey).where(APIKey.label == "billing"))
    assert key is not None
    revoked = runner.invoke(args=["revoke-api-key", key.prefix])
    assert revoked.exit_code == 0, revoked.output

    # then
    rows = list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == str(key.id)).order_by(AuditEvent.id)
        )
    )
    assert [(r.actor_kind, r.actor_id, r.action, r.entity, r.field) for r in rows] == [
        ("cli", None, "api_key.issued", "api_key", None),
        ("cli", None, "api_key.revoked", "api_key", "revoked_at"),
    ]
    assert rows[0].after == {"prefix": key.prefix, "label": "billing", "scopes": None}
    assert secret not in json.dumps([r.after for r in rows])
    assert [e["action"] for e in _listed(api, "?actor_kind=cli&entity=api_key")] == [
        "api_key.revoked",
        "api_key.issued",
    ]
