"""API key scopes: every route declares one, a key without it gets 403 naming it, keys
issued before scopes (or without any) keep every right, and the document shows each."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.api import views
from portal.api.registry import Operation
from portal.audit.services import CLI
from portal.firms import services as firms
from portal.firms.scopes import SCOPES, UnknownScope
from tests import factories

OPERATIONS = views.api.operations


def _key(firm: factories.FirmWithKey, *scopes: str) -> str:
    return firms.issue_api_key(firm.firm, label="scoped", scopes=list(scopes), actor=CLI).secret


def _call(client: FlaskClient, operation: Operation, key: str) -> Any:
    """Call the route with placeholder path parameters and no body: the scope is checked
    before anything else is read."""
    path = "/api/v1" + re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "x", operation.rule)
    return client.open(path, method=operation.method, headers={"Authorization": f"Bearer {key}"})


def test_every_api_route_declares_a_scope_or_is_public(app: Flask) -> None:
    # given: every rule of the API blueprint, however it was added
    endpoints = {
        rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
    }

    # then
    undeclared = []
    for endpoint in sorted(endpoints):
        view = app.view_functions[endpoint]
        public = getattr(view, "is_public", False)
        scope = getattr(view, "scope", None)
        if not (public or scope in SCOPES):
            undeclared.append(endpoint)
    assert not undeclared, f"declare scope= on these API routes: {undeclared}"
    assert {op.scope for op in OPERATIONS if not op.public} == set(SCOPES)


@pytest.mark.parametrize(
    "operation",
    [op for op in OPERATIONS if not op.public],  # a public route has no scope to refuse
    ids=lambda op: f"{op.method} {op.rule}",
)
def test_a_key_without_the_scope_gets_403_naming_it(
    client: FlaskClient, session: Session, firm: factories.FirmWithKey, operation: Operation
) -> None:
    # given: a key with every scope but this route's
    others = [scope for scope in SCOPES if scope != operation.scope]

    # when
    refused = _call(client, operation, _key(firm, *others))
    allowed = _call(client, operation, _key(firm, str(operation.scope)))

    # then
    assert refused.status_code == 403
    assert refused.content_type == "application/problem+json"
    problem = refused.get_json()
    assert problem["type"] == "/problems/insufficient-scope"
    assert problem["scope"] == operation.scope
    assert f"`{operation.scope}`" in problem["detail"]
    assert f'scope="{operation.scope}"' in refused.headers["WWW-Authenticate"]
    assert allowed.status_code != 403


@pytest.mark.parametrize(
    ("scope", "method", "path"),
    [
        ("sync", "GET", "/api/v1/clients"),
        ("links", "GET", "/api/v1/links"),
        ("payments:read", "GET", "/api/v1/payments"),
        ("payments:read", "GET", "/api/v1/dashboard"),
        ("payments:refund", "POST", "/api/v1/payments/pay_x/refunds"),
        ("payments:charge", "DELETE", "/api/v1/clients/C-1/payment-methods/pm_x"),
        ("settings", "GET", "/api/v1/firm"),
        ("webhooks", "GET", "/api/v1/webhook-endpoints"),
    ],
)
def test_each_family_answers_only_its_scope(
    client: FlaskClient, firm: factories.FirmWithKey, scope: str, method: str, path: str
) -> None:
    # given
    only = _key(firm, scope)
    read_only = _key(firm, "payments:read")

    # when
    own = client.open(path, method=method, headers={"Authorization": f"Bearer {only}"})
    other = client.open(path, method=method, headers={"Authorization": f"Bearer {read_only}"})

    # then
    assert own.status_code != 403
    if scope != "payments:read":
        assert other.status_code == 403
        assert other.get_json()["scope"] == scope


def test_keys_without_scopes_keep_every_right(
    client: FlaskClient, firm: factories.FirmWithKey
) -> None:
    # given: the fixture's key was issued as keys were before scopes
    headers = {"Authorization": f"Bearer {firm.key}"}

    # then
    for path in ("/api/v1/clients", "/api/v1/links", "/api/v1/payments", "/api/v1/firm"):
        assert client.get(path, headers=headers).status_code == 200
    assert client.get("/api/v1/webhook-endpoints", headers=headers).status_code == 200


def test_the_document_names_each_operations_scope(client: FlaskClient, session: Session) -> None:
    # when
    document = client.get("/api/v1/openapi.json").get_json()

    # then
    for operation in OPERATIONS:
        path = "/api/v1" + re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", operation.rule)
        shown = document["paths"][path][operation.method.lower()]
        if operation.public:
            assert shown["security"] == []
            continue
        assert shown["x-scope"] == operation.scope
        assert shown["security"] == [{"bearerAuth": [operation.scope]}]
        assert "403" in shown["responses"]
    assert (
        "payments:refund" in document["components"]["securitySchemes"]["bearerAuth"]["description"]
    )


def test_an_unknown_scope_is_refused(session: Session, firm: factories.FirmWithKey) -> None:
    with pytest.raises(UnknownScope, match="payments:write"):
        firms.issue_api_key(firm.firm, scopes=["sync", "payments:write"], actor=CLI)


def test_the_cli_issues_scoped_keys(app: Flask, session: Session, client: FlaskClient) -> None:
    # given
    runner = app.test_cli_runner()
    firm = json.loads(runner.invoke(args=["create-firm", "Scoped LLP", "--json"]).output)

    # when
    made = runner.invoke(
        args=["create-api-key", str(firm["id"]), "--scope", "links", "--scope", "sync"]
    )
    bad = runner.invoke(args=["create-api-key", str(firm["id"]), "--scope", "everything"])

    # then
    assert made.exit_code == 0, made.output
    headers = {"Authorization": f"Bearer {made.output.strip()}"}
    assert client.get("/api/v1/links", headers=headers).status_code == 200
    assert client.get("/api/v1/payments", headers=headers).status_code == 403
    assert bad.exit_code == 2
    assert "unknown scope everything" in bad.output
    listed = runner.invoke(args=["list-api-keys", str(firm["id"])]).output
    assert "[links sync]" in listed and "[every scope]" in listed
