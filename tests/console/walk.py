"""What the console walks need: every console route from `app.url_map`, which guard each has,
a firm with one real object of every kind a console URL names, and the forms its pages show.

New pages are covered once they are registered: a URL part with no sample here fails loudly,
and a console route with no guard fails unless `PUBLIC` says why it has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import Rule

from portal.audit.models import AuditEvent
from portal.audit.services import SYSTEM
from portal.console.auth import GUARD
from portal.db import db
from portal.firms import services as firms
from portal.firms.models import APIKey
from portal.links.models import Link
from portal.payers.models import SavedMethod
from portal.payments.models import Charge
from portal.postings import endpoints
from portal.postings.models import OutboundMessage, WebhookEndpoint
from portal.trust_requests import services as trust
from portal.trust_requests.models import TrustRequest, TrustRequestKind
from tests import factories
from tests.api.payment_books import make_book
from tests.api.unmatched_books import public_payment
from tests.payers.helpers import saved_for
from tests.payments.conftest import Book, pay
from tests.postings.conftest import free_port

#: The console routes that have no guard, and why: they are how a person gets in (or out).
PUBLIC = {
    "console.sign_in": "the sign-in page itself",
    "console.sign_out": "ends whatever session the cookie names; signed out it only redirects",
    "console.accept_invitation": "opened by the single-use token in an invitation email",
    "console.enrol": "needs the half-made session the invitation starts, not a signed-in one",
    "console.forgot_password": "asks for a reset email: for people who cannot sign in",
    "console.reset_password": "opened by the single-use token in a reset email",
}

#: Which object of the firm fills each URL part; by endpoint where one name means two things.
PART_SAMPLES = {
    "public_id": "payment",
    "link_id": "link",
    "endpoint_id": "endpoint",
    "message_id": "message",
    "request_id": "trust_request",
    "user_id": "user",
    "key_id": "api_key",
    "external_id": "client",
    "method_id": "saved_method",
}
ENDPOINT_SAMPLES = {
    ("console.update_account", "public_id"): "account",
    ("console.apply_payment", "public_id"): "stray",
}


def console_rules(app: Flask) -> list[Rule]:
    return sorted(
        (r for r in app.url_map.iter_rules() if r.endpoint.startswith("console.")),
        key=lambda r: (r.rule, r.endpoint),
    )


def guard_of(app: Flask, rule: Rule) -> str | None:
    """'staff', 'admin', or None (a public route), as the view's guard marked it."""
    return getattr(app.view_functions[rule.endpoint], GUARD, None)


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


@dataclass
class Estate:
    """A firm with one of everything a console URL can name, and the words that are its data."""

    book: Book
    ids: dict[str, str]
    #: Text only this firm's pages may show (its client, payments, links, people).
    secrets: list[str]

    def path(self, rule: Rule) -> str:
        path = rule.rule
        for name in rule.arguments:
            kind = ENDPOINT_SAMPLES.get((rule.endpoint, name)) or PART_SAMPLES.get(name)
            assert kind is not None, (
                f"{rule.rule}: no sample for <{name}>; add one to PART_SAMPLES in {__name__}"
            )
            path = re.sub(rf"<(?:[a-z]+:)?{name}>", self.ids[kind], path)
        return path


def build_estate(firm: factories.FirmWithKey, staff_user_id: int) -> Estate:
    """The firm's books, a held posting, an unmatched payment, a link, an endpoint, a request,
    a saved card."""
    firm.firm.auto_post = False  # its postings wait in the held queue
    book = make_book(firm)
    book.client.name = "Zephyrine Quartermaine"
    book.client.email = "zephyrine@quartermaine.example"
    payment = pay(book, invoices={book.old.id: 10_000})
    stray = public_payment(firm.firm, "INV-1O01", 25_000)
    message = db.session.scalar(
        select(OutboundMessage).where(OutboundMessage.payment_id == payment.id)
    )
    endpoint = endpoints.create_endpoint(
        firm_id=firm.id,
        url=f"http://127.0.0.1:{free_port()}/quartermaine-hooks",
        description="Quartermaine back office",
        event_types=None,
        actor=SYSTEM,
    )
    request, _ = trust.create_request(
        firm_id=firm.id,
        new=trust.NewRequest(
            matter="M-1", amount_minor=250_000, currency="USD", kind=TrustRequestKind.RETAINER
        ),
    )
    method = saved_for(book.client)
    key = db.session.scalar(select(APIKey).where(APIKey.firm_id == firm.id))
    account = next(a for a in firms.merchant_accounts_of(firm.id))
    db.session.flush()
    assert message is not None and key is not None
    ids = {
        "payment": payment.public_id,
        "stray": stray.public_id,
        "account": account.public_id,
        "link": book.link.public_id,
        "endpoint": endpoint.public_id,
        "message": message.public_id,
        "trust_request": request.public_id,
        "user": str(staff_user_id),
        "api_key": str(key.id),
        "client": book.client.external_id,
        "saved_method": method.public_id,
    }
    secrets = [
        "Zephyrine",
        "quartermaine",
        payment.public_id,
        payment.number,
        stray.public_id,
        stray.number,
        book.link.public_id,
        message.public_id,
        request.public_id,
        endpoint.public_id,
        "quartermaine-hooks",
        method.public_id,
    ]
    return Estate(book=book, ids=ids, secrets=secrets)


def state_of(firm_id: int) -> tuple[object, ...]:
    """What a stranger must not be able to change: audit trail, postings, links, endpoints."""
    return (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.firm_id == firm_id)
        ),
        sorted(
            (m.public_id, m.status.value)
            for m in db.session.scalars(
                select(OutboundMessage).where(OutboundMessage.firm_id == firm_id)
            )
        ),
        sorted(
            (link.public_id, link.revoked_at is None)
            for link in db.session.scalars(select(Link).where(Link.firm_id == firm_id))
        ),
        sorted(
            (e.id, e.secret, e.disabled_at is None)
            for e in db.session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.firm_id == firm_id)
            )
        ),
        sorted(
            (r.public_id, r.status.value)
            for r in db.session.scalars(select(TrustRequest).where(TrustRequest.firm_id == firm_id))
        ),
        sorted(
            (c.public_id, c.status.value, c.refunded_minor)
            for c in db.session.scalars(select(Charge).where(Charge.firm_id == firm_id))
        ),
        sorted(
            (m.public_id, m.removed_at is None)
            for m in db.session.scalars(select(SavedMethod).where(SavedMethod.firm_id == firm_id))
        ),
    )


# -- the forms a page shows ---------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    #: Each field's kind: an input's type, or "select" / "textarea".
    kinds: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    """Every form of a page with the values it would send (first of each name, boxes ticked)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
            return
        if not self.forms or "name" not in a:
            if tag == "option" and self._select and self.forms:
                fields = self.forms[-1].fields
                if self._select not in fields or "selected" in a:
                    fields[self._select] = a.get("value", "")
            return
        fields = self.forms[-1].fields
        name = a["name"]
        self.forms[-1].kinds.setdefault(name, a.get("type", "text") if tag == "input" else tag)
        if tag == "input":
            kind = a.get("type", "text")
            if kind == "checkbox":  # ticked: a replayed form selects what it can
                fields.setdefault(name, a.get("value", "y"))
                return
            if kind == "radio" and "checked" not in a:
                fields.setdefault(name, a.get("value", "on"))
                return
            if kind not in ("submit", "button", "file"):
                fields[name] = a.get("value", "")
        elif tag == "select":
            self._select = name
        elif tag == "textarea":
            self._textarea = name
            fields.setdefault(name, "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            self.forms[-1].fields[self._textarea] += data


def forms_of(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def post_forms(pages: dict[str, str]) -> Iterator[Form]:
    """The POST forms of `pages` (path → html), first seen first."""
    seen: set[str] = set()
    for html in pages.values():
        for form in forms_of(html):
            if form.method == "post" and form.action not in seen:
                seen.add(form.action)
                yield form
