"""The back office's lists: its bank accounts, ledger codes and transaction types, each entry a
code and a display name, synced by the back office and read back by anyone.

Once a list is synced, the merchant account field it governs takes only its codes
(`code_problems`); a list never synced, or removed, checks nothing. `set_lists` writes without
committing: the sync's use case (`portal.backoffice.lists`) owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from portal.db import db
from portal.errors import ValidationProblem
from portal.firms.models import BackOfficeList

#: Each list, and the merchant account field whose values it lists.
LISTS: Mapping[str, str] = {
    "bank_accounts": "bank_account_code",
    "ledger_codes": "ledger_code",
    "transaction_types": "transaction_type",
}
#: The merchant account fields a list may govern.
CODE_FIELDS = tuple(LISTS.values())
#: How many allowed values a refusal names before it says "and N more".
SHOWN = 20


def lists_of(firm_id: int) -> dict[str, list[dict[str, str]] | None]:
    """Every list by name: its entries, or None when the back office has not synced it."""
    rows = db.session.scalars(select(BackOfficeList).where(BackOfficeList.firm_id == firm_id))
    found = {row.name: list(row.entries) for row in rows}
    return {name: found.get(name) for name in LISTS}


def set_lists(
    firm_id: int, lists: Mapping[str, Sequence[Mapping[str, str]] | None]
) -> dict[str, tuple[Any, Any]]:
    """Replace each list given (None removes it), leaving the others (not committed).

    Returns what changed: list name -> (entries before, entries after), for the audit log.
    """
    rows = {
        row.name: row
        for row in db.session.scalars(
            select(BackOfficeList).where(BackOfficeList.firm_id == firm_id)
        )
    }
    changed: dict[str, tuple[Any, Any]] = {}
    for name, entries in lists.items():
        row = rows.get(name)
        before = None if row is None else list(row.entries)
        after = None if entries is None else [dict(entry) for entry in entries]
        if before == after:
            continue
        changed[name] = (before, after)
        if after is None:
            assert row is not None  # noqa: S101 (before differs from None, so the row exists)
            db.session.delete(row)
        elif row is None:
            db.session.add(BackOfficeList(firm_id=firm_id, name=name, entries=after))
        else:
            row.entries = after
    db.session.flush()
    return changed


def code_problems(firm_id: int, values: Mapping[str, str | None]) -> list[ValidationProblem]:
    """A problem for each merchant account field whose value its synced list does not hold."""
    wanted = {field: value for field, value in values.items() if value}
    if not wanted:
        return []
    lists = lists_of(firm_id)
    problems = []
    for name, field in LISTS.items():
        entries = lists[name]
        if field not in wanted or entries is None:
            continue
        codes = [entry["code"] for entry in entries]
        if wanted[field] in codes:
            continue
        shown = ", ".join(codes[:SHOWN]) or "none"
        if len(codes) > SHOWN:
            shown += f" and {len(codes) - SHOWN} more (GET /back-office/lists)"
        problems.append(
            ValidationProblem(
                code="code_not_listed",
                where=f"/{field}",
                detail=f"{field} must be one of the back office's {name.replace('_', ' ')}: "
                f"{shown}",
                params={"list": name, "allowed": codes},
            )
        )
    return problems
