"""Evergreen retainers: after a sync lowered trust below a matter's minimum, ask the client for
a top-up (a replenishment request), emailed when the firm's mode says so.

Runs inside the sync's transaction and never commits; the sync (`portal.backoffice`) owns the
unit of work. Trust deposits still on their way are the payments side's to count: the sync
hands in `pending_deposits`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from portal import clock
from portal.billing.models import Matter
from portal.db import db
from portal.firms.models import EvergreenMode, Firm
from portal.firms.services import firm_today
from portal.ledger import services as ledger
from portal.money import format_money
from portal.templating import locale_scope
from portal.trust_requests.emails import send_request_email
from portal.trust_requests.models import (
    PAYABLE,
    TrustRequest,
    TrustRequestKind,
    TrustRequestSource,
    TrustRequestStatus,
)
from portal.trust_requests.services import new_public_id, trust_currencies

St = TrustRequestStatus

#: Portal trust deposits still in flight for some matters, by matter id.
PendingDeposits = Callable[[Sequence[int]], Mapping[int, int]]


def evergreen_enabled(firm_id: int) -> bool:
    """Whether the firm asks for top-ups after syncs (one small query)."""
    mode = db.session.scalar(select(Firm.evergreen_mode).where(Firm.id == firm_id))
    return mode is not None and mode is not EvergreenMode.OFF


def evergreen_after_sync(
    firm_id: int, matter_ids: Iterable[int], *, pending_deposits: PendingDeposits
) -> list[TrustRequest]:
    """After a sync touched these matters, ask for a top-up where trust fell below the minimum.

    Runs inside the sync's transaction (not committed). For each matter with a minimum whose
    trust balance (plus portal deposits still processing) is below it, and with no unpaid
    replenishment request already, a replenishment request for the shortfall is created, and
    emailed when the firm's evergreen mode says so. Nothing happens when the mode is off.
    `pending_deposits` gives the portal trust deposits still in flight on some matters.
    """
    firm = db.session.get(Firm, firm_id)
    ids = sorted(set(matter_ids))
    if firm is None or firm.evergreen_mode is EvergreenMode.OFF or not ids:
        return []
    matters = list(
        db.session.scalars(
            select(Matter).where(
                Matter.firm_id == firm_id,
                Matter.id.in_(ids),
                Matter.trust_minimum_minor.is_not(None),
                Matter.trust_minimum_minor > 0,
            )
        )
    )
    if not matters:
        return []
    balances = ledger.trust_balances([matter.id for matter in matters])
    pending = pending_deposits([matter.id for matter in matters])
    asked = set(
        db.session.scalars(
            select(TrustRequest.matter_id).where(
                TrustRequest.matter_id.in_([matter.id for matter in matters]),
                TrustRequest.kind == TrustRequestKind.REPLENISHMENT,
                TrustRequest.status.in_(sorted(PAYABLE)),
            )
        )
    )
    currencies = trust_currencies(firm_id)
    due_days = int(current_app.config["TRUST_REQUEST_EVERGREEN_DUE_DAYS"])
    created = []
    for matter in matters:
        minimum = matter.trust_minimum_minor or 0
        shortfall = minimum - balances.get(matter.id, 0) - pending.get(matter.id, 0)
        if shortfall <= 0 or matter.id in asked or matter.currency not in currencies:
            continue
        request = TrustRequest(
            public_id=new_public_id(),
            firm_id=firm_id,
            matter_id=matter.id,
            kind=TrustRequestKind.REPLENISHMENT,
            status=St.OPEN,
            source=TrustRequestSource.EVERGREEN,
            amount_minor=shortfall,
            currency=matter.currency,
            paid_minor=0,
            due_on=firm_today(firm) + dt.timedelta(days=due_days),
            memo=_evergreen_memo(minimum, matter.currency),
            created_at=clock.now(),
        )
        db.session.add(request)
        db.session.flush()
        if firm.evergreen_mode is EvergreenMode.CREATE_AND_EMAIL:
            send_request_email(request)
        created.append(request)
    return created


def _evergreen_memo(minimum_minor: int, currency: str) -> str:
    # The memo is stored, so it is written once in the firm's default language; the email
    # and pages around it are in the client's.
    locale = str(current_app.config["DEFAULT_LOCALE"])
    with locale_scope(locale):
        return gettext(
            "Replenish trust to the agreed minimum of %(amount)s",
            amount=format_money(minimum_minor, currency, locale),
        )
