"""A firm's books for the payment API tests: a client, a matter with two open invoices and
some trust money, and a link to pay through. Payments are made with the real services and the
sandbox gateway (`pay`, from the payment tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from portal import clock
from portal.payments.models import Payment
from tests import factories
from tests.conftest import APIClient
from tests.payments.conftest import Book
from tests.payments.conftest import settle_ach as settle_account


def make_book(firm: factories.FirmWithKey) -> Book:
    """Client C-1 with matter M-1 (INV-OLD 1,200.00, INV-NEW 800.00, 2,000.00 in trust) and
    an empty second matter M-2."""
    person = factories.client(firm, external_id="C-1")
    matter = factories.matter(person, external_id="M-1", trust_minimum_minor=500_000)
    other = factories.matter(person, external_id="M-2")
    today = clock.today()
    old = factories.invoice(
        matter,
        external_id="INV-OLD",
        number="INV-OLD",
        total_minor=120_000,
        due_on=today - dt.timedelta(days=5),
    )
    new = factories.invoice(
        matter,
        external_id="INV-NEW",
        number="INV-NEW",
        total_minor=80_000,
        due_on=today + dt.timedelta(days=25),
    )
    factories.trust_entry(matter, 200_000, external_id="T-OPENING")
    return Book(person, matter, other, old, new, factories.link(person))


def walk_ids(api: APIClient, **params: Any) -> list[str]:
    """Walk every page of GET /api/v1/payments with `params`, two payments a page; the ids."""
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, **params} | ({"cursor": cursor} if cursor else {})
        response = api.get("/api/v1/payments", query_string=query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        seen += [item["id"] for item in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def settle_ach(payment: Payment) -> None:
    """Let the banks settle every ACH debit of `payment` now (the sandbox's banking days)."""
    for account_id in {charge.merchant_account_id for charge in payment.charges}:
        settle_account(account_id)


def recording(session: Session) -> Iterator[list[str]]:
    """Yield a list that collects the SQL the test's connection runs (savepoints left out)."""
    statements: list[str] = []
    connection = session.connection()
    assert isinstance(connection, Connection)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", record)
