"""Trust request fixtures: a client with a matter short in trust (SMTP: tests/mailbox.py)."""

from __future__ import annotations

from typing import Any

import pytest

from portal.billing.models import Client, Matter
from portal.trust_requests.models import TrustRequest, TrustRequestKind
from portal.trust_requests.services import NewRequest, create_request
from tests import factories


@pytest.fixture
def person(firm: factories.FirmWithKey) -> Client:
    return factories.client(firm, external_id="C-1", name="Ada Client", email="ada@example.com")


@pytest.fixture
def matter(person: Client) -> Matter:
    """Held 2,000.00 in trust against a 5,000.00 minimum."""
    matter = factories.matter(
        person,
        external_id="M-1",
        number="2026-001",
        title="Client v. Northside",
        trust_minimum_minor=500_000,
    )
    factories.trust_entry(matter, 200_000, description="Retainer")
    return matter


def request_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "matter": "M-1",
        "amount": 250_000,
        "currency": "USD",
        "kind": "retainer",
        "due_on": "2030-01-31",
        "memo": "Retainer for the trial phase",
    }
    body.update(changes)
    return body


def make_request(matter: Matter, amount_minor: int = 250_000, **kw: Any) -> TrustRequest:
    new = NewRequest(
        matter=matter.external_id,
        amount_minor=amount_minor,
        currency=matter.currency,
        kind=kw.pop("kind", TrustRequestKind.RETAINER),
        due_on=kw.pop("due_on", None),
        memo=kw.pop("memo", "Trial retainer"),
    )
    request, _ = create_request(firm_id=matter.firm_id, new=new, **kw)
    return request


# The pay flow's browser and books, shared with the payment view tests.
from tests.payments.test_views import books, browser  # noqa: E402, F401
