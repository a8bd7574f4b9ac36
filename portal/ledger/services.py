"""The trust ledger's rules: entries the back office sends are appended once, never edited.

A trust entry's `external_id` names one movement of client money for good. Sending the same
entry again is harmless; sending it with different content is refused, because changing a
recorded movement would rewrite the ledger a three-way reconciliation relies on. The back
office corrects a mistake by posting a new, correcting entry.

A deposit taken through the portal is appended by the portal itself. When the back office then
sends its own entry for the same money (naming the payment), the portal's entry is marked as
superseded by it, and every balance counts only entries that are not superseded: the money
counts once, through the back office's record.

Only this module appends TrustEntry rows (`append_portal_entry` for the portal's own money
moves, `append_back_office_entries` for what the back office sends) and computes a trust
balance (`trust_balances`, in minor units; `trust_balance` is its one-matter form). Nothing
here commits: every function runs inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, tuple_

from portal import clock
from portal.billing.models import Matter
from portal.db import CHUNK, chunked, db, insert_by_external_id
from portal.errors import Conflict
from portal.firms.services import firm_by_id, firm_today
from portal.ledger.models import TrustEntry

#: How many ids go into one `IN (...)` list when loading rows in bulk.


class LedgerAppendOnly(Conflict):
    """A recorded trust entry was sent again with different content."""

    code = "ledger-append-only"
    title = "Trust entries cannot be changed once recorded"


@dataclass(frozen=True, slots=True)
class TrustEntryRecord:
    """A trust entry as the back office describes it; `matter` is the matter's external id."""

    external_id: str
    matter: str
    posted_on: dt.date
    #: Signed minor units of `currency`: deposits positive, disbursements negative, never 0.
    amount_minor: int
    currency: str
    description: str = ""
    #: Public id of the portal payment whose trust deposit this entry records, if it does.
    portal_payment: str | None = None


#: Who wrote an entry: the back office (through the API) or the portal (payments, refunds).
BACK_OFFICE = "back_office"
PORTAL = "portal"


def entries_by_external_id(firm_id: int, external_ids: Collection[str]) -> dict[str, TrustEntry]:
    """Load a firm's trust entries with these external ids, a few hundred per query."""
    found: dict[str, TrustEntry] = {}
    for chunk in chunked(external_ids):
        rows = db.session.scalars(
            select(TrustEntry).where(
                TrustEntry.firm_id == firm_id, TrustEntry.external_id.in_(chunk)
            )
        )
        found.update((row.external_id, row) for row in rows if row.external_id is not None)
    return found


def matters_with_entries(matter_ids: Collection[int]) -> set[int]:
    """Which of these matters already have at least one trust entry."""
    found: set[int] = set()
    ids = sorted(matter_ids)
    for start in range(0, len(ids), CHUNK):
        found.update(
            db.session.scalars(
                select(TrustEntry.matter_id)
                .where(TrustEntry.matter_id.in_(ids[start : start + CHUNK]))
                .distinct()
            )
        )
    return found


def _recorded_values(
    record: TrustEntryRecord, matter_id: int, charge_id: int | None
) -> dict[str, Any]:
    return {
        "matter_id": matter_id,
        "posted_on": record.posted_on,
        "amount_minor": record.amount_minor,
        "currency": record.currency,
        "description": record.description,
        "charge_id": charge_id,
    }


#: The API's name for each column, so a refusal can point at the field the caller sent.
_FIELD = {
    "matter_id": "matter",
    "posted_on": "posted_on",
    "amount_minor": "amount",
    "currency": "currency",
    "description": "description",
    # The portal charge a back-office entry records; the API names it by its payment.
    "charge_id": "portal_payment",
}


def entry_differences(
    entry: TrustEntry, record: TrustEntryRecord, matter_id: int, charge_id: int | None
) -> list[str]:
    """Name the API fields in which `record` differs from the recorded `entry` (none: same).

    `charge_id` is the trust charge of the payment `record` names in `portal_payment`, so
    adding, dropping or changing that reference later is a change like any other.
    """
    return [
        _FIELD[column]
        for column, value in _recorded_values(record, matter_id, charge_id).items()
        if getattr(entry, column) != value
    ]


def entry_values(
    *,
    firm_id: int,
    record: TrustEntryRecord,
    matter_id: int,
    now: dt.datetime,
    charge_id: int | None = None,
) -> dict[str, Any]:
    """Column values of the row for a trust entry seen for the first time."""
    return {
        "firm_id": firm_id,
        "external_id": record.external_id,
        "source": BACK_OFFICE,
        "created_at": now,
        **_recorded_values(record, matter_id, charge_id),
    }


def back_office_records(charge_ids: Collection[int]) -> dict[tuple[int, int], str]:
    """Which back-office entries already record these portal charges' deposits.

    Keyed by (charge id, matter id), valued by the entry's external id: a portal deposit may be
    recorded by one back-office entry only, or the money would count twice again.
    """
    found: dict[tuple[int, int], str] = {}
    ids = sorted(charge_ids)
    for start in range(0, len(ids), CHUNK):
        rows = db.session.execute(
            select(TrustEntry.charge_id, TrustEntry.matter_id, TrustEntry.external_id).where(
                TrustEntry.charge_id.in_(ids[start : start + CHUNK]),
                TrustEntry.source == BACK_OFFICE,
                TrustEntry.external_id.is_not(None),
            )
        )
        for charge_id, matter_id, external_id in rows:
            if charge_id is not None and external_id is not None:
                found.setdefault((charge_id, matter_id), external_id)
    return found


def supersede_portal_deposits(recorded_by: dict[tuple[int, int], int]) -> int:
    """Mark the portal's own deposits as superseded by the back-office entries that record them.

    `recorded_by` maps (charge id, matter id) to the id of the back-office entry. Only positive
    portal entries that still count are marked; a deposit the portal has not appended yet (an
    ACH debit still processing) is superseded by the payments side when it is appended.
    Returns how many entries were marked. Not committed.
    """
    if not recorded_by:
        return 0
    marked = 0
    keys = sorted(recorded_by)
    for start in range(0, len(keys), CHUNK):
        entries = db.session.scalars(
            select(TrustEntry).where(
                tuple_(TrustEntry.charge_id, TrustEntry.matter_id).in_(keys[start : start + CHUNK]),
                TrustEntry.source == PORTAL,
                TrustEntry.amount_minor > 0,
                TrustEntry.superseded_by_id.is_(None),
            )
        )
        for entry in entries:
            if entry.charge_id is None:
                continue
            entry.superseded_by_id = recorded_by[(entry.charge_id, entry.matter_id)]
            marked += 1
    db.session.flush()
    return marked


def hold_trust(matter_ids: Iterable[int]) -> None:
    """Lock these matters' trust ledgers until the caller's transaction ends.

    Taken before reading a balance that decides whether money may leave trust (a refund) and
    before appending what takes it out, so two such moves on one matter run one after the
    other and the second sees the first. It locks the matters' rows (SELECT ... FOR UPDATE on
    PostgreSQL, in id order so two holders never deadlock); SQLite serialises every writing
    transaction already (BEGIN IMMEDIATE, see portal.db).
    """
    for chunk in chunked(set(matter_ids)):
        db.session.execute(
            select(Matter.id).where(Matter.id.in_(chunk)).order_by(Matter.id).with_for_update()
        ).all()


def trust_balance(matter_id: int) -> int:
    """One matter's trust balance in minor units: `trust_balances` for a single matter."""
    return trust_balances([matter_id])[matter_id]


def trust_balances(matter_ids: Iterable[int]) -> dict[int, int]:
    """Trust balances in minor units for many matters at once (matters with no entries: 0).

    A portal deposit superseded by the back office's entry for the same money is left out, so
    the money is counted once.
    """
    ids = sorted(set(matter_ids))
    balances = dict.fromkeys(ids, 0)
    for start in range(0, len(ids), CHUNK):
        rows = db.session.execute(
            select(TrustEntry.matter_id, func.coalesce(func.sum(TrustEntry.amount_minor), 0))
            .where(
                TrustEntry.matter_id.in_(ids[start : start + CHUNK]),
                TrustEntry.superseded_by_id.is_(None),
            )
            .group_by(TrustEntry.matter_id)
        )
        balances.update((matter_id, int(total)) for matter_id, total in rows)
    return balances


# -- appending entries (never committed: the caller's transaction holds them) ----------------


def append_portal_entry(
    *,
    firm_id: int,
    matter_id: int,
    amount_minor: int,
    currency: str,
    description: str,
    charge_id: int,
) -> TrustEntry:
    """Append the portal's own entry for money a portal charge moved in or out of trust.

    A deposit (positive) the back office already recorded, naming this charge's payment on its
    own entry, is appended as superseded by that entry: the money counts once, through the
    back office's record. Not committed.
    """
    entry = TrustEntry(
        firm_id=firm_id,
        external_id=None,
        matter_id=matter_id,
        posted_on=firm_today(firm_by_id(firm_id)),  # the firm's day, as its books count
        amount_minor=amount_minor,
        currency=currency,
        description=description,
        source=PORTAL,
        charge_id=charge_id,
        created_at=clock.now(),
    )
    if amount_minor > 0:
        # The back office may have recorded this deposit before the portal did (it echoes the
        # payment on its own entry); then its entry counts and ours is history only.
        entry.superseded_by_id = db.session.scalar(
            select(TrustEntry.id)
            .where(
                TrustEntry.matter_id == matter_id,
                TrustEntry.source == BACK_OFFICE,
                TrustEntry.charge_id == charge_id,
                TrustEntry.amount_minor > 0,
            )
            .limit(1)
        )
    db.session.add(entry)
    db.session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class BackOfficeEntry:
    """A back-office trust entry to append: the record, its matter's id, and the portal charge
    whose deposit it records (from the record's `portal_payment`), if any."""

    record: TrustEntryRecord
    matter_id: int
    charge_id: int | None = None


def append_back_office_entries(
    *, firm_id: int, entries: Sequence[BackOfficeEntry], now: dt.datetime | None = None
) -> dict[str, int]:
    """Append back-office entries seen for the first time; return their new ids by external id.

    A Core executemany and one chunked SELECT of (external_id, id), rather than a unit-of-work
    flush of new objects: on PostgreSQL this is several times faster for thousands of rows.
    Rows are inserted in external-id order, so two requests racing on overlapping ids take the
    unique index's locks in the same order (the later one fails cleanly instead of
    deadlocking); a lost race raises IntegrityError here, inside the caller's savepoint.
    Pending changes are flushed first. Not committed. The caller marks the portal deposits
    these entries record with `supersede_portal_deposits`.
    """
    at = now or clock.now()
    rows = [
        entry_values(
            firm_id=firm_id,
            record=entry.record,
            matter_id=entry.matter_id,
            now=at,
            charge_id=entry.charge_id,
        )
        for entry in entries
    ]
    return insert_by_external_id(TrustEntry, firm_id, rows)
