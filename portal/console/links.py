"""Links and trust requests (any staff): a client's links with their state and the emails that
carried them, create-and-send a link, revoke one or all of a client's links; trust requests
listed, created for a matter, emailed again and canceled.

Each action calls the use case its API route calls (portal.api.views' /links routes and
portal.api.trust_requests): issuing.create_link / revoke, links.links_page,
trust_requests.services.create_request / requests_page / resend / cancel, all scoped to
`g.staff.firm_id` (another firm's id is 404 there). The console's forms (and their checks)
are in `portal.console.link_forms`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from flask_wtf import FlaskForm

from portal import clock
from portal.console.auth import bp, staff_required
from portal.console.forms import ActionForm
from portal.console.link_forms import LinkForm, TrustRequestForm, currency_choices
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.firms.services import firm_zone
from portal.links import issuing
from portal.links import services as links
from portal.links.models import DeliveryOrigin
from portal.money import MoneyError, parse_money
from portal.text import unstorable
from portal.trust_requests import services as trust
from portal.trust_requests.models import TrustRequestKind

#: How many links and trust requests the page lists.
PAGE = 100

_EXPIRED_FORM = "The form had expired. Please send it again."


def _client_filter() -> str | None:
    value = (request.values.get("client") or "").strip()
    return None if unstorable(value) else value[:100] or None


def _page(
    link_form: LinkForm | None = None,
    request_form: TrustRequestForm | None = None,
    status: int = 200,
    **extra: Any,
) -> ResponseReturnValue:
    firm_id = g.staff.firm_id
    client = _client_filter()
    found = links.links_page(
        firm_id=firm_id, filters=links.LinkFilters(client=client), after_id=None, limit=PAGE
    )
    requests = trust.requests_page(
        firm_id=firm_id, filters=trust.Filters(), after_id=None, limit=PAGE
    ).items
    link_form = link_form or LinkForm(client=client or "")
    request_form = request_form or TrustRequestForm()
    request_form.currency.choices = currency_choices(firm_id)
    return (
        render_template(
            "console/links.html",
            client=client,
            links=found.items,
            now=clock.now(),
            requests=requests,
            matters=trust.matter_external_ids(requests),
            unpaid=trust.unpaid_report(firm_id),
            link_form=link_form,
            request_form=request_form,
            action=ActionForm(),
            page_zone=firm_zone(g.staff.firm),
            **extra,
        ),
        status,
        {"Cache-Control": "no-store"},
    )


def _back(client: str | None = None) -> ResponseReturnValue:
    return redirect(url_for("console.links", client=client or None), code=303)


def _put_problems(
    form: FlaskForm, problems: Iterable[Mapping[str, Any]], fields: Mapping[str, str]
) -> None:
    """A service's problems (JSON pointers) next to the console's fields, else at the top."""
    for problem in problems:
        pointer = str(problem.get("pointer", ""))
        name = next((f for p, f in fields.items() if pointer.startswith(p)), None)
        text = str(problem.get("detail", ""))
        field = getattr(form, name, None) if name else None
        if field is not None:
            field.errors = [*field.errors, text]
        else:
            form.form_errors.append(text)


@bp.get("/links", endpoint="links")
@staff_required
def links_page() -> ResponseReturnValue:
    return _page()


# -- links ---------------------------------------------------------------------------------


@bp.post("/links/new")
@staff_required
def create_link() -> ResponseReturnValue:
    """The new link's address is shown on this answer only (it is never shown again)."""
    form = LinkForm()
    if not form.validate_on_submit():
        return _page(link_form=form, status=422)
    send = None
    if form.send.data:
        send = issuing.SendRequest(
            email=(form.email.data or "").strip() or None,
            message=(form.message.data or "").strip() or None,
        )
    try:
        link = issuing.create_link(
            firm_id=g.staff.firm_id,
            client=(form.client.data or "").strip(),
            matters=form.matter_ids(),
            expires_in=form.expires_in_seconds(),
            send=send,
            origin=DeliveryOrigin.CONSOLE,
        )
    except ValidationFailed as exc:
        _put_problems(
            form,
            exc.errors,
            {"/client": "client", "/matters": "matters", "/send/email": "email"},
        )
        return _page(link_form=form, status=422)
    return _page(new_link=link, new_link_url=links.url_for_link(link))


@bp.post("/links/<link_id>/revoke")
@staff_required
def revoke_link(link_id: str) -> ResponseReturnValue:
    link = links.link_for_firm(g.staff.firm_id, link_id)
    if not ActionForm().validate_on_submit():
        return _page(status=422, problems=[gettext(_EXPIRED_FORM)])
    issuing.revoke(firm_id=g.staff.firm_id, public_id=link.public_id)
    flash(gettext("Link %(link)s is revoked.", link=link.public_id), "info")
    return _back(_client_filter())


@bp.post("/links/revoke-all")
@staff_required
def revoke_client_links() -> ResponseReturnValue:
    """Revoke every active link of the client named in the form (each through issuing.revoke)."""
    client = _client_filter()
    if not ActionForm().validate_on_submit():
        return _page(status=422, problems=[gettext(_EXPIRED_FORM)])
    if client is None:
        return _page(status=422, problems=[gettext("Enter the client's id.")])
    found = links.links_page(
        firm_id=g.staff.firm_id,
        filters=links.LinkFilters(client=client, state="active"),
        after_id=None,
        limit=10_000,
    )
    for link in found.items:
        issuing.revoke(firm_id=g.staff.firm_id, public_id=link.public_id)
    flash(
        gettext("%(count)s link(s) of %(client)s revoked.", count=len(found.items), client=client),
        "info",
    )
    return _back(client)


# -- trust requests ------------------------------------------------------------------------


@bp.post("/trust-requests/new")
@staff_required
def create_trust_request() -> ResponseReturnValue:
    form = TrustRequestForm()
    form.currency.choices = currency_choices(g.staff.firm_id)
    if not form.validate_on_submit():
        return _page(request_form=form, status=422)
    currency = form.currency.data or ""
    try:
        amount = parse_money(form.amount.data or "", currency, str(get_locale() or "en_US"))
    except MoneyError:
        form.amount.errors = [gettext("Enter an amount such as 2,500.00.")]
        return _page(request_form=form, status=422)
    new = trust.NewRequest(
        matter=(form.matter.data or "").strip(),
        amount_minor=amount,
        currency=currency,
        kind=TrustRequestKind(form.kind.data),
        due_on=form.due_on.data,
        memo=(form.memo.data or "").strip(),
    )
    try:
        created, _ = trust.create_request(
            firm_id=g.staff.firm_id, new=new, send=bool(form.send.data)
        )
    except NotFound:
        form.matter.errors = [gettext("The firm has no matter with this id.")]
        return _page(request_form=form, status=422)
    except ValidationFailed as exc:
        _put_problems(form, exc.errors, {"/currency": "currency"})
        return _page(request_form=form, status=422)
    flash(gettext("Trust request %(id)s created.", id=created.public_id), "info")
    return _back()


@bp.post("/trust-requests/<request_id>/send")
@staff_required
def send_trust_request(request_id: str) -> ResponseReturnValue:
    found = trust.request_for_firm(g.staff.firm_id, request_id)
    if not ActionForm().validate_on_submit():
        return _page(status=422, problems=[gettext(_EXPIRED_FORM)])
    try:
        trust.resend(firm_id=g.staff.firm_id, public_id=found.public_id)
    except Conflict as exc:
        return _page(status=409, problems=[str(exc)])
    flash(gettext("Trust request %(id)s emailed to the client.", id=found.public_id), "info")
    return _back()


@bp.post("/trust-requests/<request_id>/cancel")
@staff_required
def cancel_trust_request(request_id: str) -> ResponseReturnValue:
    found = trust.request_for_firm(g.staff.firm_id, request_id)
    if not ActionForm().validate_on_submit():
        return _page(status=422, problems=[gettext(_EXPIRED_FORM)])
    try:
        trust.cancel(firm_id=g.staff.firm_id, public_id=found.public_id)
    except Conflict as exc:
        return _page(status=409, problems=[str(exc)])
    flash(gettext("Trust request %(id)s canceled.", id=found.public_id), "info")
    return _back()
