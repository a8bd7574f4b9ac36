"""Schemathesis against /api/v1/openapi.json, through the Flask app (WSGI, no server).

Every operation in the document gets a bounded number of generated requests, valid and not,
sent with a real API key of a seeded firm; each answer must not be a 5xx and must match the
document: a documented status code, a documented content type, and a body that fits the
documented schema. The whole run stays inside the test's rolled-back transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from portal.api.openapi import openapi_path
from portal.api.views import api
from portal.db import db
from portal.postings import endpoints
from portal.postings.models import OutboundMessage
from tests import factories
from tests.api.payment_books import make_book
from tests.conftest import make_test_app
from tests.payments.conftest import pay

#: Generated requests per operation: enough to find the shapes a schema allows and refuses,
#: few enough that the ~35 operations run in well under a minute on SQLite.
EXAMPLES_PER_OPERATION = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The usual test app with abuse limits off: a generated burst is not an attack here."""
    app = make_test_app(database_url, RATELIMIT_ENABLED=False, WEBHOOK_ALLOW_PRIVATE_TARGETS=True)
    with app.app_context():
        yield app
    app.extensions["portal.engine"].dispose()


@dataclass
class Seeded:
    key: str
    #: Path parameter values that name real records, per path.
    known: dict[str, dict[str, str]]


@pytest.fixture
def seeded(session, firm: factories.FirmWithKey) -> Seeded:
    """The firm's books, one card payment, a link and a webhook endpoint with a posting."""
    book = make_book(firm)
    payment = pay(book, invoices={book.old.id: 10_000})
    endpoint = endpoints.register_endpoint(firm.firm, url="http://127.0.0.1:9/hooks")
    message = db.session.scalars(
        select(OutboundMessage).where(OutboundMessage.payment_id == payment.id)
    ).first()
    assert message is not None
    prefix = "/api/v1"
    return Seeded(
        key=firm.key,
        known={
            f"{prefix}/clients/{{external_id}}": {"external_id": "C-1"},
            f"{prefix}/clients/{{external_id}}/payment-methods": {"external_id": "C-1"},
            f"{prefix}/matters/{{external_id}}": {"external_id": "M-1"},
            f"{prefix}/invoices/{{external_id}}": {"external_id": "INV-OLD"},
            f"{prefix}/trust-entries/{{external_id}}": {"external_id": "T-OPENING"},
            f"{prefix}/links/{{id}}": {"id": book.link.public_id},
            f"{prefix}/payments/{{id}}": {"id": payment.public_id},
            f"{prefix}/payments/{{id}}/refunds": {"id": payment.public_id},
            f"{prefix}/webhook-endpoints/{{id}}": {"id": endpoint.public_id},
            f"{prefix}/webhook-endpoints/{{id}}/rotate-secret": {"id": endpoint.public_id},
            f"{prefix}/webhook-endpoints/{{id}}/test": {"id": endpoint.public_id},
            f"{prefix}/webhook-endpoints/{{id}}/replay": {"id": endpoint.public_id},
            f"{prefix}/webhook-messages/{{id}}": {"id": message.public_id},
            f"{prefix}/webhook-messages/{{id}}/replay": {"id": message.public_id},
        },
    )


#: The document as served, fetched once per run: building it takes a while, and every app
#: of the run builds the same one.
_DOCUMENT: dict[str, Any] = {}


@pytest.fixture
def api_schema(app: Flask) -> schemathesis.BaseSchema:
    """The document as served, bound to the app so every case is sent through WSGI."""
    if not _DOCUMENT:
        response = app.test_client().get("/api/v1/openapi.json")
        assert response.status_code == 200
        _DOCUMENT.update(response.get_json())
    loaded = schemathesis.openapi.from_dict(_DOCUMENT)
    loaded.app = app
    return loaded


def _operations() -> list[object]:
    # Read from the registry that writes the document (so a new route is fuzzed without
    # touching this file); the document itself needs an app, which collection does not have.
    prefix = api.blueprint.url_prefix or ""
    return [
        pytest.param(op.method, openapi_path(prefix, op.rule), id=f"{op.method} {op.rule}")
        for op in api.operations
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), _operations())
def test_the_api_keeps_to_its_document(
    api_schema: schemathesis.BaseSchema, seeded: Seeded, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {seeded.key}"}
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    if path in seeded.known:
        # Valid requests about records that exist, so 2xx answers are checked too.
        strategies.append(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=seeded.known[path])
        )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
