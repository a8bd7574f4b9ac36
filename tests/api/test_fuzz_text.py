"""Hostile text in every API field, path and query parameter: never a 5xx, on either database.

Every string the API reads is found from the route registry itself (each operation's body
model, walked through its JSON schema; its path and query parameters), so a new route or field
is covered without touching this file. Each gets, on top of a valid body, every value of
HOSTILE (NUL, C0/C1 controls, DEL, line separators, lone surrogates, CR LF, 10,000-character
strings) and then Hypothesis's text with surrogates and controls allowed. The answer must be
below 500: PostgreSQL refuses a NUL and a lone surrogate at the driver, so a string that slips
past validation to a query shows up here as a 500 on the PostgreSQL pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from portal.api.registry import Operation
from portal.api.views import api
from tests.api.test_schemathesis import Seeded, seeded  # noqa: F401 (`seeded` is a fixture)
from tests.conftest import make_test_app

HOSTILE = [
    "a\x00b",
    "\x1b[31mred",
    "\x7f",
    "\x85\x9b",
    "a\u2028b\u2029",
    "\ud800",
    "a\udfffb",
    "\r\nBcc: x@example.com",
    "x" * 10_000,
    "\x00" * 10_000,
]
#: Extra Hypothesis examples over all (field, text) pairs, per test: bounded so the module
#: stays well under a minute on either database.
EXAMPLES = 50

hostile_text = st.sampled_from(HOSTILE) | st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=30
)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The usual test app with abuse limits off: the fuzzer is not an attacker to slow down."""
    app = make_test_app(database_url, RATELIMIT_ENABLED=False, WEBHOOK_ALLOW_PRIVATE_TARGETS=True)
    with app.app_context():
        yield app
    app.extensions["portal.engine"].dispose()


#: A valid body per body model, so the hostile value is judged with everything else right.
def _bases(known: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        "ClientIn": {"name": "Ana Morales", "email": "ana@example.com", "locale": "es_US"},
        "MatterIn": {"client": "C-1", "number": "2024-9", "title": "Morales v. Acme"},
        "InvoiceIn": {
            "matter": "M-1",
            "number": "INV-9",
            "issued_on": "2024-03-01",
            "due_on": "2024-03-31",
            "currency": "USD",
            "total": 1000,
            "balance_due": 1000,
            "description": "Fees",
        },
        "TrustEntryIn": {
            "matter": "M-1",
            "posted_on": "2024-03-02",
            "amount": 1000,
            "currency": "USD",
            "description": "Deposit",
        },
        "LinkIn": {"client": "C-1", "send": {"message": "Hello"}, "ar_note": "note"},
        "TrustRequestIn": {
            "matter": "M-1",
            "amount": 1000,
            "currency": "USD",
            "kind": "retainer",
            "memo": "memo",
        },
        "BrandingIn": {"name": "Firm", "brand_colour": None, "public_trust_deposits": False},
        "OriginsIn": {"origins": ["https://example.com"]},
        "FirmPatchIn": {"email_message": "Hello", "email_signature": "Ana"},
        "EndpointIn": {"url": "http://127.0.0.1:9/hooks", "description": "d"},
        "RefundIn": {},
    }


def _string_paths(schema: dict[str, Any], defs: dict[str, Any]) -> list[tuple[str | int, ...]]:
    """Where a JSON document valid for `schema` may hold a string (lists as their first item)."""
    found: list[tuple[str | int, ...]] = []

    def walk(node: dict[str, Any], at: tuple[str | int, ...], depth: int) -> None:
        if depth > 6:
            return
        if "$ref" in node:
            walk(defs[node["$ref"].rsplit("/", 1)[-1]], at, depth + 1)
            return
        for option in node.get("anyOf", []) + node.get("allOf", []) + node.get("oneOf", []):
            walk(option, at, depth + 1)
        kind = node.get("type")
        is_string = kind == "string" or (isinstance(kind, list) and "string" in kind)
        if is_string and at not in found:
            found.append(at)
        for name, sub in (node.get("properties") or {}).items():
            walk(sub, (*at, name), depth + 1)
        if isinstance(node.get("items"), dict):
            walk(node["items"], (*at, 0), depth + 1)

    walk(schema, (), 0)
    return found


def _put(body: Any, path: tuple[str | int, ...], value: str) -> Any:
    """A copy of `body` with `value` at `path`, making the objects and lists on the way."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) else []
        first = items[0] if items else {}
        return [_put(first, rest, value), *items[1:]]
    node = dict(body) if isinstance(body, dict) else {}
    node[head] = _put(node.get(head, {}), rest, value)
    return node


def _url(operation: Operation, known: dict[str, str], override: dict[str, str] | None) -> str:
    prefix = api.blueprint.url_prefix or ""
    values = {**known, **(override or {})}
    path = prefix + operation.rule
    for name in _path_names(operation):
        raw = values.get(name, "x")
        path = path.replace(f"<{name}>", quote(raw, safe="", errors="surrogatepass"))
        path = path.replace(f"<int:{name}>", quote(raw, safe="", errors="surrogatepass"))
    return path


def _path_names(operation: Operation) -> list[str]:
    return list(operation.path.model_fields) if operation.path is not None else []


def _known(seeded: Seeded, operation: Operation) -> dict[str, str]:  # noqa: F811
    prefix = api.blueprint.url_prefix or ""
    templated = prefix + operation.rule.replace("<", "{").replace(">", "}")
    return seeded.known.get(templated, {})


def _send(
    client: FlaskClient,
    key: str,
    operation: Operation,
    url: str,
    *,
    body: Any = None,
    query: str = "",
) -> int:
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "fuzz-key"}
    data = None
    if body is not None:
        # ensure_ascii: a lone surrogate travels as its JSON escape, as any client sends it
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    response = client.open(
        url + (f"?{query}" if query else ""), method=operation.method, data=data, headers=headers
    )
    return response.status_code


def _body_cases(seeded: Seeded) -> list[tuple[Operation, tuple[str | int, ...], Any]]:  # noqa: F811
    bases = _bases({})
    cases = []
    for operation in api.operations:
        model: type[BaseModel] | None = operation.body
        if model is None:
            continue
        schema = model.model_json_schema()
        paths = _string_paths(schema, schema.get("$defs", {}))
        base = bases.get(model.__name__, {})
        cases += [(operation, path, base) for path in paths]
    return cases


def _parameter_cases() -> list[tuple[Operation, str, str]]:
    cases = []
    for operation in api.operations:
        cases += [(operation, "path", name) for name in _path_names(operation)]
        if operation.query is not None:
            cases += [(operation, "query", name) for name in operation.query.model_fields]
    return cases


def test_every_body_field_is_found(seeded: Seeded) -> None:  # noqa: F811
    # The walk must see the free-text fields the issue named, or the sweep proves nothing.
    fields = {(op.rule, path) for op, path, _ in _body_cases(seeded)}
    for expected in [
        ("/clients/<external_id>", ("name",)),
        ("/matters/<external_id>", ("title",)),
        ("/invoices/<external_id>", ("description",)),
        ("/links", ("ar_note",)),
        ("/links", ("send", "message")),
        ("/trust-requests", ("memo",)),
        ("/firm/branding", ("name",)),
        ("/firm", ("email_signature",)),
        ("/webhook-endpoints", ("url",)),
        ("/sync", ("clients", 0, "name")),
    ]:
        assert expected in fields, expected


@pytest.mark.slow
def test_hostile_text_in_every_body_field_is_never_a_5xx(
    client: FlaskClient,
    seeded: Seeded,  # noqa: F811
) -> None:
    cases = _body_cases(seeded)
    failures = []
    for operation, path, base in cases:
        url = _url(operation, _known(seeded, operation), None)
        for value in HOSTILE:
            status = _send(client, seeded.key, operation, url, body=_put(base, path, value))
            if status >= 500:
                failures.append((operation.method, operation.rule, path, value[:20], status))
    assert failures == []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.sampled_from(cases), value=hostile_text)
    def random_text(case: tuple[Operation, tuple[str | int, ...], Any], value: str) -> None:
        operation, path, base = case
        url = _url(operation, _known(seeded, operation), None)
        status = _send(client, seeded.key, operation, url, body=_put(base, path, value))
        assert status < 500, (operation.method, operation.rule, path, value)

    random_text()


@pytest.mark.slow
def test_hostile_text_in_every_path_and_query_parameter_is_never_a_5xx(
    client: FlaskClient,
    seeded: Seeded,  # noqa: F811
) -> None:
    failures = []
    for operation, where, name in _parameter_cases():
        known = _known(seeded, operation)
        for value in HOSTILE:
            if where == "path":
                url = _url(operation, known, {name: value})
                query = ""
            else:
                url = _url(operation, known, None)
                query = f"{name}={quote(value, safe='', errors='surrogatepass')}"
            status = _send(client, seeded.key, operation, url, body=None, query=query)
            if status >= 500:
                failures.append((operation.method, operation.rule, name, value[:20], status))
    assert failures == []
