"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document that covers every API route."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.api import schemas
from portal.api.openapi import openapi_path
from tests.conftest import APIClient

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_api_route_is_documented_with_its_methods(
    app: Flask, document: dict[str, Any]
) -> None:
    # given: each path with every method Flask routes for it (one Rule per registration)
    routed: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            routed.setdefault(openapi_path("", rule.rule), set()).update(rule.methods or ())
    assert len(routed) >= 10

    # then
    for path, methods in routed.items():
        assert path in document["paths"], path
        documented = {method.upper() for method in document["paths"][path]}
        assert documented == methods - {"HEAD", "OPTIONS"}, path


def test_nothing_is_documented_that_is_not_routed(app: Flask, document: dict[str, Any]) -> None:
    # given
    routed = {
        (openapi_path("", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
    }

    # then
    for path, item in document["paths"].items():
        for method in item:
            assert (path, method) in routed


def test_document_has_the_openapi_31_structure(document: dict[str, Any]) -> None:
    # then
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    bearer = document["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearerAuth": []}]
    for path, item in document["paths"].items():
        assert path.startswith("/api/v1/")
        for operation in item.values():
            in_path = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            assert in_path == re.findall(r"{([^}]+)}", path), path
            assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")
        for method, operation in item.items():
            assert method in HTTP_METHODS
            assert operation["operationId"]
            assert operation["summary"]
            assert operation["responses"]
            for status in operation["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", status)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    # then
    refs = _refs(document)
    assert refs
    for ref in refs:
        assert _resolve(document, ref) is not None
    assert "$defs" not in str(refs)


def test_request_bodies_are_the_validating_models(document: dict[str, Any]) -> None:
    # given
    put_invoice = document["paths"]["/api/v1/invoices/{external_id}"]["put"]
    ref = put_invoice["requestBody"]["content"]["application/json"]["schema"]["$ref"]

    # when
    schema = _resolve(document, ref)

    # then the document shows exactly what InvoiceIn enforces
    expected = schemas.InvoiceIn.model_json_schema()
    assert schema["required"] == expected["required"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["total"]["type"] == "integer"
    assert schema["properties"]["total"]["maximum"] == 99_999_999_999
    assert schema["properties"]["balance_due"]["minimum"] == 0
    assert set(schema["properties"]) == set(schemas.InvoiceIn.model_fields)


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        (
            "/api/v1/clients/{external_id}",
            "put",
            {"200", "403", "201", "400", "401", "415", "422", "429"},
        ),
        ("/api/v1/clients/{external_id}", "get", {"200", "403", "401", "404", "422", "429"}),
        ("/api/v1/clients", "get", {"200", "403", "401", "422", "429"}),
        (
            "/api/v1/trust-entries/{external_id}",
            "put",
            {"200", "403", "201", "400", "401", "409", "415", "422", "429"},
        ),
        ("/api/v1/sync", "post", {"200", "403", "400", "401", "409", "413", "415", "422", "429"}),
        ("/api/v1/links", "post", {"201", "400", "403", "401", "415", "422", "429"}),
        ("/api/v1/links/{id}", "delete", {"200", "403", "401", "404", "422", "429"}),
        ("/api/v1/openapi.json", "get", {"200", "429"}),
    ],
)
def test_routes_document_their_answers(
    document: dict[str, Any], path: str, method: str, statuses: set[str]
) -> None:
    # when
    operation = document["paths"][path][method]

    # then
    assert set(operation["responses"]) == statuses
    for status in statuses - {"200", "201"}:
        response = _resolve(document, operation["responses"][status]["$ref"])
        schema = response["content"]["application/problem+json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Problem"}


def test_the_document_itself_needs_no_key(document: dict[str, Any]) -> None:
    # then
    assert document["paths"]["/api/v1/openapi.json"]["get"]["security"] == []
    assert document["paths"]["/api/v1/clients"]["get"]["security"] == [{"bearerAuth": ["sync"]}]


def test_list_parameters_are_documented(document: dict[str, Any]) -> None:
    # when
    parameters = document["paths"]["/api/v1/clients"]["get"]["parameters"]

    # then
    assert {(p["name"], p["in"], p["required"]) for p in parameters} == {
        ("limit", "query", False),
        ("cursor", "query", False),
    }


@pytest.mark.parametrize(
    ("path", "filters"),
    [
        ("/api/v1/invoices", {"status", "client", "matter", "number", "due_before", "due_after"}),
        ("/api/v1/links", {"client", "matter", "state"}),
        ("/api/v1/trust-entries", {"matter"}),
        ("/api/v1/payments", {"unmatched"}),
    ],
)
def test_list_filters_are_documented(
    document: dict[str, Any], path: str, filters: set[str]
) -> None:
    # when
    parameters = document["paths"][path]["get"]["parameters"]

    # then: optional query parameters beside the page's own
    documented = {p["name"]: (p["in"], p["required"]) for p in parameters}
    assert {name: documented.get(name) for name in filters} == dict.fromkeys(
        filters, ("query", False)
    )


def test_every_route_documents_the_rate_limit_with_retry_after(document: dict[str, Any]) -> None:
    # then: every API route is under the per-key limit, so every one may answer 429
    for item in document["paths"].values():
        for operation in item.values():
            assert operation["responses"]["429"] == {
                "$ref": "#/components/responses/TooManyRequests"
            }
    too_many = document["components"]["responses"]["TooManyRequests"]
    assert too_many["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_a_204_is_documented_and_sent_without_a_body_or_media_type(
    app: Flask, document: dict[str, Any], api: APIClient
) -> None:
    # given
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True
    created = api.post("/api/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hooks"})
    delete = document["paths"]["/api/v1/webhook-endpoints/{id}"]["delete"]

    # when
    response = api.delete(f"/api/v1/webhook-endpoints/{created.get_json()['id']}")

    # then
    assert "content" not in delete["responses"]["204"]
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers


def test_every_response_documents_its_request_id(document: dict[str, Any]) -> None:
    # then
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                if "$ref" in response:
                    response = _resolve(document, response["$ref"])
                assert "X-Request-ID" in response["headers"]


def test_re_enabling_an_endpoint_documents_what_it_missed(document: dict[str, Any]) -> None:
    patch = document["paths"]["/api/v1/webhook-endpoints/{id}"]["patch"]
    schema = _resolve(
        document, patch["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    )
    assert {"missed", "replay_since"} <= set(schema["required"])
    assert "replay?since=" in schema["properties"]["missed"]["description"]
