"""A client's saved cards on the review page: the choice of a saved card, the box that saves a
new one (with its exact words kept as consent), and removing one.

The words of the box are built here once, in the page's language, and the same function
gives the words recorded as consent when the box was ticked, so what is kept is what was shown.
The use cases are `portal.payers.services` (save, remove, list); nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from portal.firms.models import Firm
from portal.firms.services import firm_today
from portal.gateways.base import Instrument
from portal.links.models import Link
from portal.payers import services as payers
from portal.payers.models import ConsentHow, ConsentScope, MethodKind, SavedMethod
from portal.payments.instruments import instrument_text

#: The confirm form's field naming the saved card chosen ("new" or none: a new card).
CHOICE = "saved_method"
#: The confirm form's box that saves the new card.
SAVE = "save_method"


@dataclass(frozen=True)
class SavedChoice:
    """A saved card as the review page offers it."""

    id: str
    text: str
    exp_month: int | None
    exp_year: int | None
    #: Stops working within 30 days (or already has): the page says so.
    expiring: bool
    expired: bool


def save_words(firm: Firm) -> str:
    """The words next to the box, in the page's language; kept as the consent when ticked."""
    return _("Save this card for future payments to %(firm)s", firm=firm.name)


def choices(link: Link, firm: Firm) -> list[SavedChoice]:
    """The client's saved cards, for the review page (a card's brand, last four, expiry)."""
    today = firm_today(firm)
    return [
        SavedChoice(
            id=method.public_id,
            text=instrument_text(method.brand, method.last4),
            exp_month=method.exp_month,
            exp_year=method.exp_year,
            expiring=payers.is_expiring(method, today),
            expired=_expired(method, today),
        )
        for method in payers.active_methods(link.firm_id, link.client_id)
        if method.kind is MethodKind.CARD
    ]


def _expired(method: SavedMethod, today: dt.date) -> bool:
    last = payers.last_valid_day(method)
    return last is not None and last < today


def chosen(link: Link, form: MultiDict[str, str]) -> SavedMethod | None:
    """The saved card the confirm form chose, if any (NotFound for one not this client's)."""
    public_id = form.get(CHOICE, "")
    if not public_id or public_id == "new":
        return None
    return payers.method_for_client(link.firm_id, link.client_id, public_id)


def wants_saving(form: MultiDict[str, str]) -> bool:
    return form.get(SAVE) == "yes" and chosen_is_new(form)


def chosen_is_new(form: MultiDict[str, str]) -> bool:
    return form.get(CHOICE, "new") in ("", "new")


def save_new_card(
    link: Link, firm: Firm, instrument: Instrument, *, currency: str, ip: str
) -> SavedMethod:
    """Keep the card just typed for the client, with the box's words as consent (the use
    case commits). Raises payers.MethodNotSaved when the processor will not keep it."""
    return payers.save_method(
        payer=payers.client_payer(link.client),
        kind=MethodKind.CARD,
        instrument=instrument,
        currency=currency,
        consent=payers.ConsentGiven(
            words=save_words(firm),
            how=ConsentHow.CLIENT_PAY_PAGE,
            scope=ConsentScope.FUTURE_FIRM_INITIATED,
            ip=ip,
        ),
    )
