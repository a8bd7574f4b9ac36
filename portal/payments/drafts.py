"""Make a payment in progress, kept per staff user (`staff_payment_drafts`): the criteria of the
last search, "use this every time", and the ticked lines, so ticks survive further searches,
changed criteria and a new page. Each change commits (the console's use cases)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.db import db
from portal.payments.models import StaffPaymentDraft

#: What a ticked line is: ("invoice", invoice id) or ("matter", matter id, for trust).
Item = tuple[str, int]
KINDS = ("invoice", "matter")
#: The most lines one payment may gather.
MAX_SELECTED = 200


def draft_for(staff_user_id: int, firm_id: int) -> StaffPaymentDraft:
    """The user's draft, or a fresh unsaved one (nothing ticked, no criteria)."""
    draft = db.session.get(StaffPaymentDraft, staff_user_id)
    if draft is None or draft.firm_id != firm_id:
        return StaffPaymentDraft(
            staff_user_id=staff_user_id,
            firm_id=firm_id,
            criteria={},
            criteria_saved=False,
            selected=[],
        )
    return draft


def selected_items(draft: StaffPaymentDraft) -> list[Item]:
    return [
        (str(kind), int(item_id))
        for kind, item_id in (draft.selected or [])
        if kind in KINDS and isinstance(item_id, int)
    ]


def _stored(staff_user_id: int, firm_id: int) -> StaffPaymentDraft:
    """The user's draft row, locked until the caller commits; made on first use.

    Two requests of one user at once (a double click on the first-ever tick) both find no row:
    each inserts in a savepoint, the loser's insert waits for the winner's commit and fails on
    the primary key, and it reads the winner's row instead. The row is locked (`FOR UPDATE`)
    so the two changes to the ticks apply one after the other, neither lost.
    """
    draft = _locked(staff_user_id)
    if draft is None:
        try:
            with db.session.begin_nested():
                db.session.add(
                    StaffPaymentDraft(
                        staff_user_id=staff_user_id,
                        firm_id=firm_id,
                        criteria={},
                        criteria_saved=False,
                        selected=[],
                        updated_at=clock.now(),
                    )
                )
        except IntegrityError:
            pass  # the other request made it first: use theirs
        draft = _locked(staff_user_id)
        if draft is None:  # pragma: no cover - a row just made or just seen cannot vanish
            raise LookupError("the staff user's draft could not be made")
    if draft.firm_id != firm_id:  # a user never changes firm; start afresh if one did
        draft.firm_id, draft.criteria, draft.selected = firm_id, {}, []
    draft.updated_at = clock.now()
    return draft


def _locked(staff_user_id: int) -> StaffPaymentDraft | None:
    return db.session.get(
        StaffPaymentDraft, staff_user_id, with_for_update=True, populate_existing=True
    )


def save_criteria(
    staff_user_id: int, firm_id: int, criteria: Mapping[str, str], *, every_time: bool
) -> StaffPaymentDraft:
    """Keep the criteria of this search (and whether step 1 is skipped from now on); commits.
    The ticks are left as they are."""
    with db.transaction():
        draft = _stored(staff_user_id, firm_id)
        draft.criteria = {str(k): str(v) for k, v in criteria.items()}
        draft.criteria_saved = every_time
    return draft


def update_ticks(
    staff_user_id: int, firm_id: int, shown: Iterable[Item], ticked: Iterable[Item]
) -> list[Item]:
    """Of the lines `shown` on the page, keep ticked exactly those in `ticked`; lines not shown
    keep their ticks. Commits; returns the selection in the order ticked."""
    shown_set, ticked_list = set(shown), list(dict.fromkeys(ticked))
    with db.transaction():
        draft = _stored(staff_user_id, firm_id)
        kept = [item for item in selected_items(draft) if item not in shown_set]
        kept += [item for item in ticked_list if item in shown_set and item not in kept]
        draft.selected = [[kind, item_id] for kind, item_id in kept[:MAX_SELECTED]]
    return kept[:MAX_SELECTED]


def clear_selection(staff_user_id: int, firm_id: int) -> None:
    """Untick everything (after a payment is taken or sent); commits. A user without a draft
    has nothing ticked: no row is made (two requests of a double click would both insert it)."""
    with db.transaction():
        draft = db.session.get(StaffPaymentDraft, staff_user_id)
        if draft is not None and draft.firm_id == firm_id:
            draft.selected = []
            draft.updated_at = clock.now()
