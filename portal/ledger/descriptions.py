"""The words on the trust entries the portal itself appends, stored in English and shown in the
reader's language.

The stored description ("Portal deposit (pJHr…)") is what the back office and the API read;
the client pages show it through the catalogs at render time (`shown`), so a Spanish or French
page never carries the English. Back-office entries are shown as the firm wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext

from portal.ledger.services import PORTAL

#: What each kind of portal entry is stored as, before " (<payment id>)".
PORTAL_DEPOSIT = "Portal deposit"
DEPOSIT_RESTORED = "Deposit restored: dispute won"
REFUND = "Refund"
REVERSAL_ACH_RETURN = "Reversal: ACH return"
REVERSAL_DISPUTE = "Reversal: dispute"

_STORED = re.compile(r"^(?P<kind>.+) \((?P<payment>[^()]+)\)$")

_SHOWN: dict[str, Callable[[str], str]] = {
    PORTAL_DEPOSIT: lambda payment: gettext("Portal deposit (%(payment)s)", payment=payment),
    DEPOSIT_RESTORED: lambda payment: gettext(
        "Deposit restored: dispute won (%(payment)s)", payment=payment
    ),
    REFUND: lambda payment: gettext("Refund (%(payment)s)", payment=payment),
    REVERSAL_ACH_RETURN: lambda payment: gettext(
        "Reversal: returned by the bank (%(payment)s)", payment=payment
    ),
    REVERSAL_DISPUTE: lambda payment: gettext("Reversal: dispute (%(payment)s)", payment=payment),
}


def stored(kind: str, payment_public_id: str) -> str:
    """The description a portal entry of `kind` (one of the constants above) is stored with."""
    return f"{kind} ({payment_public_id})"


def shown(description: str, source: str) -> str:
    """`description` for the page being rendered: a portal entry's words translated, anything
    else (the back office's own text, an entry of an unknown shape) as it was written."""
    if source != PORTAL:
        return description
    found = _STORED.match(description)
    if found is None:
        return description
    translate = _SHOWN.get(found["kind"])
    return translate(found["payment"]) if translate else description
