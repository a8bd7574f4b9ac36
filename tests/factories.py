"""Builders for a valid firm → client → matter → invoice / trust entry graph.

Plain functions over the real services and models (no factory library): the graph is small,
and calling the services keeps the test data honest about what the app itself would create.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from portal import clock
from portal.audit.services import SYSTEM
from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import db
from portal.firms import services as firms
from portal.firms.models import Firm
from portal.ledger.models import TrustEntry
from portal.links import services as links
from portal.links.models import Link
from portal.trust_requests import services as trust_requests
from portal.trust_requests.models import TrustRequest, TrustRequestKind

_seq = itertools.count(1)


@dataclass
class FirmWithKey:
    firm: Firm
    key: str

    @property
    def id(self) -> int:
        return self.firm.id


def firm_with_key(name: str = "Test Firm LLP", currency: str = "USD") -> FirmWithKey:
    firm = firms.create_firm(name, currency=currency)
    issued = firms.issue_api_key(firm, label="tests", actor=SYSTEM)
    db.session.flush()
    return FirmWithKey(firm=firm, key=issued.secret)


def client(firm: Firm | FirmWithKey, **kw: Any) -> Client:
    firm = firm.firm if isinstance(firm, FirmWithKey) else firm
    n = next(_seq)
    values: dict[str, Any] = {
        "external_id": f"C-{n}",
        "name": f"Client {n}",
        "email": f"client{n}@example.com",
        "locale": "en_US",
    }
    values.update(kw)
    obj = Client(firm_id=firm.id, **values)
    db.session.add(obj)
    db.session.flush()
    return obj


def matter(client_: Client, **kw: Any) -> Matter:
    n = next(_seq)
    values: dict[str, Any] = {
        "external_id": f"M-{n}",
        "number": f"2024-{n:04d}",
        "title": f"Matter {n}",
        "currency": "USD",
    }
    values.update(kw)
    obj = Matter(firm_id=client_.firm_id, client_id=client_.id, **values)
    db.session.add(obj)
    db.session.flush()
    return obj


def invoice(matter_: Matter, **kw: Any) -> Invoice:
    n = next(_seq)
    today = clock.today()
    values: dict[str, Any] = {
        "external_id": f"INV-{n}",
        "number": f"INV-{n}",
        "issued_on": today - dt.timedelta(10),
        "due_on": today + dt.timedelta(20),
        "currency": matter_.currency,
        "total_minor": 100_000,
        "description": "Legal services",
    }
    values.update(kw)
    values.setdefault("balance_due_minor", values["total_minor"])
    values.setdefault(
        "status", InvoiceStatus.PAID if values["balance_due_minor"] == 0 else InvoiceStatus.OPEN
    )
    obj = Invoice(firm_id=matter_.firm_id, matter_id=matter_.id, **values)
    db.session.add(obj)
    db.session.flush()
    return obj


def trust_entry(matter_: Matter, amount_minor: int, **kw: Any) -> TrustEntry:
    n = next(_seq)
    values: dict[str, Any] = {
        "external_id": f"T-{n}",
        "posted_on": clock.today(),
        "currency": matter_.currency,
        "description": "Trust movement",
    }
    values.update(kw)
    obj = TrustEntry(
        firm_id=matter_.firm_id, matter_id=matter_.id, amount_minor=amount_minor, **values
    )
    db.session.add(obj)
    db.session.flush()
    return obj


def link(client_: Client, matters: list[Matter] | None = None, **kw: Any) -> Link:
    return links.issue_link(firm_id=client_.firm_id, client=client_, matters=matters or [], **kw)


def retainer(
    matter_: Matter,
    amount_minor: int = 50_000,
    *,
    due_on: dt.date | None = None,
    send: bool = False,
) -> TrustRequest:
    """A retainer request on the matter, made as the firm's API makes one (emailed with `send`)."""
    request, _new = trust_requests.create_request(
        firm_id=matter_.firm_id,
        new=trust_requests.NewRequest(
            matter=matter_.external_id,
            amount_minor=amount_minor,
            currency=matter_.currency,
            kind=TrustRequestKind.RETAINER,
            due_on=due_on,
        ),
        send=send,
    )
    return request
