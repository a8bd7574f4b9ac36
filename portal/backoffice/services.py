"""The back office's use cases, as the firm API calls them: the sync (clients, matters,
invoices and trust entries by external id, one at a time or in bulk), evergreen top-ups after
it, and the readings back that need more than one feature (trust entries with the portal
payment they record; matters' trust balances).

Single upserts and the bulk sync run through the same code (`sync`), so a record is judged by
the same rules whichever way it arrives. Each function that writes owns its unit of work and
commits; what it calls (`portal.backoffice.sync`, trust requests' evergreen check) never does.
Single-feature lookups (a client, matter or invoice by external id, their pages) are in
`portal.billing.services`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from portal.backoffice import check
from portal.backoffice.records import (
    RACE_ATTEMPTS,
    ClientRecord,
    InvoiceRecord,
    MatterRecord,
    Outcome,
    SyncBatch,
    SyncResult,
)
from portal.backoffice.sync import Sync
from portal.billing.models import Client, Invoice, Matter
from portal.billing.services import RECORD_MODELS, Page, keyset_page, matter_id_of
from portal.db import chunked, db
from portal.errors import NotFound
from portal.ledger import services as ledger
from portal.ledger.models import TrustEntry
from portal.ledger.services import TrustEntryRecord
from portal.payments import trust_money
from portal.payments.models import Charge, Payment
from portal.trust_requests import evergreen


@dataclass(frozen=True, slots=True)
class TrustEntryRow:
    """A trust entry with the references the API shows by external or public id."""

    entry: TrustEntry
    matter: str
    #: Public id of the portal payment the entry records (or, for a portal entry, came from).
    portal_payment: str | None
    #: External id of the back-office entry that supersedes this portal entry, if one does.
    superseded_by: str | None


def sync(*, firm_id: int, batch: SyncBatch) -> SyncResult:
    """Apply every record of `batch` as one unit of work and commit, or change nothing at all.

    All records are checked before anything is written, and every problem is reported at once:
    ValidationFailed lists each bad field; when the only problems are trust entries sent with
    new content, LedgerAppendOnly (409) lists those. A record identical to what is stored is
    left alone, so repeating a sync writes nothing and keeps every `updated_at`.

    The writes run inside a savepoint. If a concurrent request inserts one of our external ids
    first, the unique constraint on (firm_id, external_id) stops our insert, the savepoint
    takes back only our writes, and the batch runs again: it now finds that row and updates it.
    """
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            with db.session.begin_nested():
                result = Sync(firm_id, batch).run()
                _evergreen(firm_id, result)
        except IntegrityError:
            if attempt == RACE_ATTEMPTS:
                raise
            continue
        db.session.commit()
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def _evergreen(firm_id: int, result: SyncResult) -> None:
    """Ask for a trust top-up where the batch lowered trust below a matter's minimum.

    The matters looked at are those with a new trust entry in the batch and existing matters
    the batch changed (a raised minimum); a matter created by the batch is not asked for a
    top-up, since its first deposit is a retainer, not a replenishment.
    """
    if not evergreen.evergreen_enabled(firm_id):
        return
    matter_ids = {
        row_id
        for row_id, (_external_id, outcome) in zip(
            result.ids.get("matters", []), result.outcomes.get("matters", []), strict=True
        )
        if outcome == "updated"
    }
    entry_ids = [
        row_id
        for row_id, (_external_id, outcome) in zip(
            result.ids.get("trust_entries", []),
            result.outcomes.get("trust_entries", []),
            strict=True,
        )
        if outcome == "created"
    ]
    for chunk in chunked(entry_ids):
        matter_ids |= set(
            db.session.scalars(select(TrustEntry.matter_id).where(TrustEntry.id.in_(chunk)))
        )
    if matter_ids:
        evergreen.evergreen_after_sync(
            firm_id, matter_ids, pending_deposits=trust_money.pending_trust_deposits
        )


def sync_problems(*, firm_id: int, batch: SyncBatch) -> list[dict[str, str]]:
    """The validation problems `sync` would report for `batch`, without writing anything."""
    return check.problems(firm_id=firm_id, batch=batch)


def upsert_client(*, firm_id: int, record: ClientRecord) -> tuple[Client, Outcome]:
    """Create or update one client by external id (commits)."""
    return _upsert_one(firm_id, "clients", SyncBatch(clients=[record], single=True))


def upsert_matter(*, firm_id: int, record: MatterRecord) -> tuple[Matter, Outcome]:
    """Create or update one matter by external id (commits)."""
    return _upsert_one(firm_id, "matters", SyncBatch(matters=[record], single=True))


def upsert_invoice(*, firm_id: int, record: InvoiceRecord) -> tuple[Invoice, Outcome]:
    """Create or update one invoice by external id (commits)."""
    return _upsert_one(firm_id, "invoices", SyncBatch(invoices=[record], single=True))


def upsert_trust_entry(*, firm_id: int, record: TrustEntryRecord) -> tuple[TrustEntry, Outcome]:
    """Append one trust entry by external id (commits); resending it unchanged is a no-op.

    Raises LedgerAppendOnly when the entry is already recorded with other content.
    """
    return _upsert_one(firm_id, "trust_entries", SyncBatch(trust_entries=[record], single=True))


def _upsert_one(firm_id: int, kind: str, batch: SyncBatch) -> tuple[Any, Outcome]:
    result = sync(firm_id=firm_id, batch=batch)
    model = TrustEntry if kind == "trust_entries" else RECORD_MODELS[kind]
    row = db.session.get(model, result.ids[kind][0])
    return row, result.outcomes[kind][0][1]


def _trust_entry_rows() -> Select[TrustEntry, str, str, str | None]:
    """Trust entries with their matter's external id, the payment they record (by public id)
    and the back-office entry superseding them (by external id)."""
    superseding = aliased(TrustEntry)
    return (
        select(TrustEntry, Matter.external_id, Payment.public_id, superseding.external_id)
        .join(Matter, Matter.id == TrustEntry.matter_id)
        .outerjoin(Charge, Charge.id == TrustEntry.charge_id)
        .outerjoin(Payment, Payment.id == Charge.payment_id)
        .outerjoin(superseding, superseding.id == TrustEntry.superseded_by_id)
    )


def _trust_entry_row(row: Any) -> TrustEntryRow:
    return TrustEntryRow(entry=row[0], matter=row[1], portal_payment=row[2], superseded_by=row[3])


def trust_entry_by_external_id(firm_id: int, external_id: str) -> TrustEntryRow:
    """The firm's trust entry with this external id, with the references the API shows."""
    row = db.session.execute(
        _trust_entry_rows().where(
            TrustEntry.firm_id == firm_id, TrustEntry.external_id == external_id
        )
    ).first()
    if row is None:
        raise NotFound("No trust entry has this external_id.")
    return _trust_entry_row(row)


def trust_entries_page(
    *, firm_id: int, after_id: int | None, limit: int, matter: str | None = None
) -> Page[TrustEntryRow]:
    """A page of the firm's trust entries in id order, with the references the API shows;
    with `matter` (an external id), only that matter's (another firm's matches nothing)."""
    statement = _trust_entry_rows().where(TrustEntry.firm_id == firm_id)
    if matter is not None:
        statement = statement.where(TrustEntry.matter_id == matter_id_of(firm_id, matter))
    rows, last_id = keyset_page(statement, TrustEntry.id, after_id, limit)
    return Page([_trust_entry_row(row) for row in rows], last_id)


def trust_balances(matters: Iterable[Matter]) -> dict[int, int]:
    """The trust balance of each matter in minor units, by matter id, in one query per 500.

    The ledger's one balance function computes it (superseded portal deposits left out)."""
    return ledger.trust_balances(matter.id for matter in matters)
