"""The API's endpoints: each validates through the registry, calls one service and answers.

PUT upserts by the back office's external id (201 when created, 200 otherwise), GET reads one
record or a page of them, POST /sync applies many records at once, and /links issues, shows
and revokes client links. The payment routes live in `portal.api.payments`. Every lookup is
scoped to the calling firm (`g.firm_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from flask import Response, current_app, g, jsonify

from portal.api import bp, schemas
from portal.api.openapi import document
from portal.api.registry import Registry
from portal.api.schemas import (
    ClientIn,
    ClientOut,
    ClientPage,
    ExternalIdPath,
    InvoiceIn,
    InvoiceListQuery,
    InvoiceOut,
    InvoicePage,
    LinkCreatedOut,
    LinkIn,
    LinkListQuery,
    LinkOut,
    LinkPage,
    LinkPath,
    ListQuery,
    MatterIn,
    MatterOut,
    MatterPage,
    SyncIn,
    SyncOut,
    TrustEntryIn,
    TrustEntryListQuery,
    TrustEntryOut,
    TrustEntryPage,
    encode_cursor,
)
from portal.backoffice import services as backoffice
from portal.backoffice.records import KINDS, Outcome
from portal.billing import services as billing
from portal.billing.models import Matter
from portal.firms import scopes
from portal.firms.services import firm_currencies
from portal.links import issuing
from portal.links import services as links
from portal.links.lines import LineRequest


def _validation_context() -> Mapping[str, Any]:
    return {
        "currencies": firm_currencies(g.firm_id),
        "max_records": current_app.config["SYNC_MAX_RECORDS"],
        "link_max_age": current_app.config["LINK_MAX_AGE_SECONDS"],
    }


api = Registry(bp, context=_validation_context)


def _status(outcome: Outcome) -> int:
    return 201 if outcome == "created" else 200


def page_size(query: ListQuery) -> int:
    """The page size a list request asked for, or the configured default."""
    return query.limit or int(current_app.config["API_PAGE_SIZE"])


# Clients


@api.route(
    "PUT",
    "/clients/<external_id>",
    scope=scopes.SYNC,
    summary="Create or update a client",
    tag="clients",
    path=ExternalIdPath,
    body=ClientIn,
    responses={200: ClientOut, 201: ClientOut},
)
def put_client(external_id: str, body: ClientIn) -> tuple[ClientOut, int]:
    """201 when the client is new, 200 when it was updated or is unchanged."""
    client, outcome = backoffice.upsert_client(firm_id=g.firm_id, record=body.record(external_id))
    return ClientOut.of(client), _status(outcome)


@api.route(
    "GET",
    "/clients/<external_id>",
    scope=scopes.SYNC,
    summary="Read a client",
    tag="clients",
    path=ExternalIdPath,
    responses={200: ClientOut},
    errors=(404,),
)
def get_client(external_id: str) -> ClientOut:
    return ClientOut.of(billing.client_by_external_id(g.firm_id, external_id))


@api.route(
    "GET",
    "/clients",
    scope=scopes.SYNC,
    summary="List clients",
    tag="clients",
    query=ListQuery,
    responses={200: ClientPage},
)
def list_clients(query: ListQuery) -> ClientPage:
    """Oldest first; follow `next_cursor` until it is null."""
    page = billing.clients_page(firm_id=g.firm_id, after_id=query.after_id, limit=page_size(query))
    return ClientPage(
        data=[ClientOut.of(c) for c in page.items], next_cursor=encode_cursor(page.last_id)
    )


# Matters


@api.route(
    "PUT",
    "/matters/<external_id>",
    scope=scopes.SYNC,
    summary="Create or update a matter",
    tag="matters",
    path=ExternalIdPath,
    body=MatterIn,
    responses={200: MatterOut, 201: MatterOut},
)
def put_matter(external_id: str, body: MatterIn) -> tuple[MatterOut, int]:
    """`client` names an existing client by external id; an unknown one is a 422."""
    matter, outcome = backoffice.upsert_matter(firm_id=g.firm_id, record=body.record(external_id))
    return _matter_out(matter), _status(outcome)


def _matter_out(matter: Matter) -> MatterOut:
    return MatterOut.of(matter, backoffice.trust_balances([matter])[matter.id])


@api.route(
    "GET",
    "/matters/<external_id>",
    scope=scopes.SYNC,
    summary="Read a matter",
    tag="matters",
    path=ExternalIdPath,
    responses={200: MatterOut},
    errors=(404,),
)
def get_matter(external_id: str) -> MatterOut:
    return _matter_out(billing.matter_by_external_id(g.firm_id, external_id))


@api.route(
    "GET",
    "/matters",
    scope=scopes.SYNC,
    summary="List matters",
    tag="matters",
    query=ListQuery,
    responses={200: MatterPage},
)
def list_matters(query: ListQuery) -> MatterPage:
    """Oldest first; follow `next_cursor` until it is null."""
    page = billing.matters_page(firm_id=g.firm_id, after_id=query.after_id, limit=page_size(query))
    balances = backoffice.trust_balances(page.items)
    return MatterPage(
        data=[MatterOut.of(m, balances[m.id]) for m in page.items],
        next_cursor=encode_cursor(page.last_id),
    )


# Invoices


@api.route(
    "PUT",
    "/invoices/<external_id>",
    scope=scopes.SYNC,
    summary="Create or update an invoice",
    tag="invoices",
    path=ExternalIdPath,
    body=InvoiceIn,
    responses={200: InvoiceOut, 201: InvoiceOut},
)
def put_invoice(external_id: str, body: InvoiceIn) -> tuple[InvoiceOut, int]:
    """The stored status is void if sent void, else paid when the effective balance due is 0,
    else open. The effective balance due is the one sent less the settled portal payments on
    the invoice that `portal_payments` does not list."""
    invoice, outcome = backoffice.upsert_invoice(firm_id=g.firm_id, record=body.record(external_id))
    return InvoiceOut.of(invoice), _status(outcome)


@api.route(
    "GET",
    "/invoices/<external_id>",
    scope=scopes.SYNC,
    summary="Read an invoice",
    tag="invoices",
    path=ExternalIdPath,
    responses={200: InvoiceOut},
    errors=(404,),
)
def get_invoice(external_id: str) -> InvoiceOut:
    return InvoiceOut.of(billing.invoice_by_external_id(g.firm_id, external_id))


@api.route(
    "GET",
    "/invoices",
    scope=scopes.SYNC,
    summary="List invoices",
    tag="invoices",
    query=InvoiceListQuery,
    responses={200: InvoicePage},
)
def list_invoices(query: InvoiceListQuery) -> InvoicePage:
    """Oldest first; follow `next_cursor` until it is null. Every filter given must hold:
    `client` and `matter` are external ids (one of another firm matches nothing), `number` is
    matched exactly, `due_before` and `due_after` are dates and neither is inclusive."""
    page = billing.invoices_page(
        firm_id=g.firm_id,
        after_id=query.after_id,
        limit=page_size(query),
        filters=query.filters(),
    )
    return InvoicePage(
        data=[InvoiceOut.of(i) for i in page.items], next_cursor=encode_cursor(page.last_id)
    )


# Trust entries


@api.route(
    "PUT",
    "/trust-entries/<external_id>",
    scope=scopes.SYNC,
    summary="Record a trust entry",
    tag="trust entries",
    path=ExternalIdPath,
    body=TrustEntryIn,
    responses={200: TrustEntryOut, 201: TrustEntryOut},
    errors=(409,),
)
def put_trust_entry(external_id: str, body: TrustEntryIn) -> tuple[TrustEntryOut, int]:
    """The ledger is append-only: resending an entry unchanged answers 200, sending it with
    other content answers 409. Correct a mistake with a new entry under a new external_id."""
    entry, outcome = backoffice.upsert_trust_entry(
        firm_id=g.firm_id, record=body.record(external_id)
    )
    return TrustEntryOut.of(entry, body.matter, body.portal_payment), _status(outcome)


@api.route(
    "GET",
    "/trust-entries/<external_id>",
    scope=scopes.SYNC,
    summary="Read a trust entry",
    tag="trust entries",
    path=ExternalIdPath,
    responses={200: TrustEntryOut},
    errors=(404,),
)
def get_trust_entry(external_id: str) -> TrustEntryOut:
    return TrustEntryOut.of_row(backoffice.trust_entry_by_external_id(g.firm_id, external_id))


@api.route(
    "GET",
    "/trust-entries",
    scope=scopes.SYNC,
    summary="List trust entries",
    tag="trust entries",
    query=TrustEntryListQuery,
    responses={200: TrustEntryPage},
)
def list_trust_entries(query: TrustEntryListQuery) -> TrustEntryPage:
    """Oldest first; follow `next_cursor` until it is null. `matter` (an external id) keeps
    that matter's entries; one of another firm matches nothing."""
    page = backoffice.trust_entries_page(
        firm_id=g.firm_id, after_id=query.after_id, limit=page_size(query), matter=query.matter
    )
    return TrustEntryPage(
        data=[TrustEntryOut.of_row(row) for row in page.items],
        next_cursor=encode_cursor(page.last_id),
    )


# Bulk sync


def _check_rest_of_sync(
    data: Mapping[str, Any], problems: list[dict[str, Any]], context: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """When some sync records are malformed, check the references of the others too, so one
    answer lists every bad record."""
    refused = set()
    for problem in problems:
        parts = problem["pointer"].split("/")
        if len(parts) < 3 or not parts[2].isdigit():
            return problems  # The body's shape is wrong, not just some records.
        refused.add((parts[1], int(parts[2])))
    batch = schemas.valid_part_of_sync(data, refused, context)
    found = problems + backoffice.sync_problems(firm_id=g.firm_id, batch=batch)
    return sorted(found, key=_record_order)


def _record_order(problem: dict[str, Any]) -> tuple[int, int]:
    """Sort key: kinds in the order they are applied, then records in the order sent."""
    _, kind, index, *_ = problem["pointer"].split("/")
    return KINDS.index(kind), int(index)


@api.route(
    "POST",
    "/sync",
    scope=scopes.SYNC,
    summary="Upsert many records in one transaction",
    tag="sync",
    body=SyncIn,
    responses={200: SyncOut},
    errors=(409, 413),
    on_invalid=_check_rest_of_sync,
)
def sync(body: SyncIn) -> SyncOut:
    """Records are applied in the order clients, matters, invoices, trust entries, so a record
    may refer to one earlier in the same request. All are saved or none: a 422 lists every bad
    record by JSON pointer (e.g. /invoices/3/balance_due). Sending the same sync again
    changes nothing and reports every record as unchanged."""
    return SyncOut.of(backoffice.sync(firm_id=g.firm_id, batch=body.batch()))


# Links


@api.route(
    "POST",
    "/links",
    scope=scopes.LINKS,
    summary="Issue a client link",
    tag="links",
    body=LinkIn,
    responses={201: LinkCreatedOut},
)
def create_link(body: LinkIn) -> tuple[LinkCreatedOut, int]:
    """The answer holds the link's URL; it is never shown again. With `send`, the link is also
    emailed to the client; a client without an email on file and no `send.email` is a 422. A
    refused email still answers 201, with the delivery in state failed and the server's error,
    and raises a `link.delivery_failed` posting."""
    send = None
    if body.send is not None:
        send = issuing.SendRequest(email=body.send.email, message=body.send.message)
    link = issuing.create_link(
        firm_id=g.firm_id,
        client=body.client,
        matters=body.matters,
        expires_in=body.expires_in,
        send=send,
        ar_note=body.ar_note,
        lines=[
            LineRequest(
                index=i,
                invoice=line.invoice,
                amount_minor=line.amount,
                matter=line.matter,
                trust_amount_minor=line.trust_amount,
            )
            for i, line in enumerate(body.lines)
        ],
    )
    return LinkCreatedOut.of_new(link, links.url_for_link(link)), 201


@api.route(
    "GET",
    "/links",
    scope=scopes.LINKS,
    summary="List links",
    tag="links",
    query=LinkListQuery,
    responses={200: LinkPage},
)
def list_links(query: LinkListQuery) -> LinkPage:
    """Newest first; follow `next_cursor` until it is null. Every filter given must hold:
    `client` and `matter` are external ids (one of another firm matches nothing); `matter`
    keeps the links that can see it (limited to it, or its client's links limited to no
    matter); `state` is the link's state now. Each item is what GET /links/{id} shows."""
    page = links.links_page(
        firm_id=g.firm_id,
        filters=query.filters(),
        after_id=query.after_id,
        limit=page_size(query),
    )
    return LinkPage(
        data=[LinkOut.of(link) for link in page.items], next_cursor=encode_cursor(page.last_id)
    )


@api.route(
    "GET",
    "/links/<id>",
    scope=scopes.LINKS,
    summary="Read a link's state",
    tag="links",
    path=LinkPath,
    responses={200: LinkOut},
    errors=(404,),
)
def get_link(id: str) -> LinkOut:
    return LinkOut.of(links.link_for_firm(g.firm_id, id))


@api.route(
    "DELETE",
    "/links/<id>",
    scope=scopes.LINKS,
    summary="Revoke a link",
    tag="links",
    path=LinkPath,
    responses={200: LinkOut},
    errors=(404,),
)
def revoke_link(id: str) -> LinkOut:
    """Idempotent: revoking again answers 200 with the first revocation time."""
    return LinkOut.of(issuing.revoke(firm_id=g.firm_id, public_id=id))


# The document


@cache
def _document() -> dict[str, Any]:
    return document(api, title="MatterPay API", version="1.0.0")


@api.route(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    tag="meta",
    responses={200: None},
    public=True,
)
def openapi() -> Response:
    """Public: describes every route, generated from the models that validate requests."""
    return jsonify(_document())
