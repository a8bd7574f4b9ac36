"""A client's saved payers (any staff): who pays for the client and the cards and bank accounts
kept for them, each with its brand or bank, last four, expiry, the consent it was kept under
(its scope, how and when) and an "expires soon" flag for a card within 30 days of its last
day; and removing one.

Removing asks first (a confirmation page), then posts (CSRF) to
`portal.payers.services.remove_method`, the use case the API's
`DELETE /api/v1/clients/{external_id}/payment-methods/{id}` calls: the method is forgotten
here and detached at the processor, and the removal is audited with the staff user as the
actor. Every lookup is the signed-in user's firm's: another firm's client or method is 404.
Step 4a of Make a payment links here for the client being paid for, and the firm's cards
expiring within 30 days (the dashboard's "needs a person" line) link here for theirs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext

from portal.audit.services import Actor
from portal.billing.models import Client
from portal.billing.services import client_by_external_id, clients_by_id
from portal.console.auth import bp, staff_required
from portal.console.forms import ActionForm
from portal.firms.services import firm_today, firm_zone
from portal.payers import services as payers
from portal.payers.models import Consent, ConsentHow, ConsentScope, SavedMethod
from portal.payments.instruments import instrument_text

SCOPE_TEXT: dict[ConsentScope, Any] = {
    ConsentScope.FUTURE_FIRM_INITIATED: lazy_gettext("Future payments the firm starts"),
    ConsentScope.THIS_PAYMENT: lazy_gettext("One payment at a time"),
}
HOW_TEXT: dict[ConsentHow, Any] = {
    ConsentHow.CLIENT_PAY_PAGE: lazy_gettext("on the pay page"),
    ConsentHow.STAFF_PHONE: lazy_gettext("by phone to staff"),
}


@dataclass(frozen=True)
class MethodRow:
    public_id: str
    text: str
    expiry: str | None
    expiring: bool
    expired: bool
    consent: Consent | None
    #: The consent to future payments, when the method was kept with one.
    future: bool


@dataclass(frozen=True)
class PayerRow:
    name: str
    email: str | None
    is_client: bool
    methods: tuple[MethodRow, ...]


def _row(method: SavedMethod, today: dt.date) -> MethodRow:
    last = payers.last_valid_day(method)
    expiry = None
    if method.exp_month is not None and method.exp_year is not None:
        expiry = f"{method.exp_month:02d}/{method.exp_year}"
    return MethodRow(
        public_id=method.public_id,
        text=instrument_text(method.brand, method.last4),
        expiry=expiry,
        expiring=payers.is_expiring(method, today),
        expired=last is not None and last < today,
        consent=method.consent,
        future=payers.covering_consent(method, ConsentScope.FUTURE_FIRM_INITIATED) is not None,
    )


def payer_rows(firm_id: int, client_id: int, today: dt.date) -> list[PayerRow]:
    """The client's payers, each with its methods not removed (a payer without any too)."""
    return [
        PayerRow(
            name=payer.name,
            email=payer.email,
            is_client=payer.is_client,
            methods=tuple(_row(m, today) for m in payer.methods if m.removed_at is None),
        )
        for payer in payers.list_payers(firm_id, client_id)
    ]


@dataclass(frozen=True)
class ExpiringRow:
    method: MethodRow
    payer: str
    client: Client


def expiring_rows(firm_id: int, today: dt.date) -> list[ExpiringRow]:
    """The firm's saved cards that expire within 30 days (or have), soonest first, each with
    its payer and the client it is kept for."""
    methods = payers.expiring(firm_id, today)
    clients = clients_by_id(firm_id, {m.payer.client_id for m in methods})
    return [
        ExpiringRow(_row(m, today), m.payer.name, clients[m.payer.client_id])
        for m in methods
        if m.payer.client_id in clients
    ]


@bp.get("/saved-cards/expiring")
@staff_required
def expiring_cards() -> ResponseReturnValue:
    """Saved cards to renew with their payers before a payment fails on them."""
    page = render_template(
        "console/expiring_cards.html",
        rows=expiring_rows(g.staff.firm_id, firm_today(g.staff.firm)),
        scope_text=SCOPE_TEXT,
    )
    return page, 200, {"Cache-Control": "no-store"}


def _client(external_id: str) -> Client:
    return client_by_external_id(g.staff.firm_id, external_id)


@bp.get("/clients/<external_id>/payers")
@staff_required
def client_payers(external_id: str) -> ResponseReturnValue:
    client = _client(external_id)
    page = render_template(
        "console/client_payers.html",
        client=client,
        payers=payer_rows(g.staff.firm_id, client.id, firm_today(g.staff.firm)),
        scope_text=SCOPE_TEXT,
        how_text=HOW_TEXT,
        page_zone=firm_zone(g.staff.firm),
    )
    return page, 200, {"Cache-Control": "no-store"}


def _confirm(client: Client, method: SavedMethod, status: int = 200, **extra: Any) -> Any:
    page = render_template(
        "console/remove_method.html",
        client=client,
        method=_row(method, firm_today(g.staff.firm)),
        payer=method.payer,
        scope_text=SCOPE_TEXT,
        how_text=HOW_TEXT,
        page_zone=firm_zone(g.staff.firm),
        action=ActionForm(),
        **extra,
    )
    return page, status, {"Cache-Control": "no-store"}


@bp.get("/clients/<external_id>/payment-methods/<method_id>/remove")
@staff_required
def confirm_remove_method(external_id: str, method_id: str) -> ResponseReturnValue:
    """What will be removed, and the button that removes it."""
    client = _client(external_id)
    return _confirm(client, payers.method_for_client(g.staff.firm_id, client.id, method_id))


@bp.post("/clients/<external_id>/payment-methods/<method_id>/remove")
@staff_required
def remove_method(external_id: str, method_id: str) -> ResponseReturnValue:
    client = _client(external_id)
    method = payers.method_for_client(g.staff.firm_id, client.id, method_id)
    if not ActionForm().validate_on_submit():
        problem = gettext("The form had expired. Please send it again.")
        return _confirm(client, method, 422, problems=[problem])
    text = instrument_text(method.brand, method.last4)
    payers.remove_method(
        g.staff.firm_id, client.id, method.public_id, actor=Actor.staff(g.staff.id)
    )
    flash(gettext("%(method)s is removed.", method=text), "info")
    return redirect(url_for("console.client_payers", external_id=client.external_id), code=303)
