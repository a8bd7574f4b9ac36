"""The back office's lists of bank accounts, ledger codes and transaction types: the sync that
replaces them (`sync_lists`, a use case: it commits) and the read.

The table belongs to firms (`portal.firms.account_lists`), since the lists govern the firm's
merchant account settings; this is the back office's side of it, like the records sync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from portal.audit import services as audit
from portal.audit.services import Actor
from portal.db import db
from portal.firms import account_lists

Lists = dict[str, list[dict[str, str]] | None]


def read_lists(firm_id: int) -> Lists:
    """Every list by name; None for a list the back office has not synced."""
    return account_lists.lists_of(firm_id)


def sync_lists(
    firm_id: int, lists: Mapping[str, Sequence[Mapping[str, str]] | None], *, actor: Actor
) -> Lists:
    """Replace each list given (null or [] removes it) and leave the others; commits.

    Idempotent: sending the same lists again changes nothing and audits nothing. Each list
    that changed is one audit event, with the entries before and after.
    """
    with db.transaction():
        replaced = {name: entries or None for name, entries in lists.items()}
        for name, (before, after) in account_lists.set_lists(firm_id, replaced).items():
            audit.record(
                firm_id,
                actor,
                action="back_office_list.synced",
                entity="back_office_list",
                entity_id=name,
                field="entries",
                before=before,
                after=after,
            )
    return read_lists(firm_id)
