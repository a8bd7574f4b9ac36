"""What an API key may do: the scopes every API route declares one of.

A key's `scopes` column lists the scopes it was issued with; None (every key issued before
scopes existed, and a key issued without any) may use them all.
"""

from __future__ import annotations

from collections.abc import Iterable

from portal.firms.models import APIKey

SYNC = "sync"
LINKS = "links"
PAYMENTS_READ = "payments:read"
PAYMENTS_REFUND = "payments:refund"
PAYMENTS_CHARGE = "payments:charge"
SETTINGS = "settings"
WEBHOOKS = "webhooks"

#: Every scope, with what it opens (the README and the OpenAPI document say the same).
SCOPES: dict[str, str] = {
    SYNC: "the back office's records: clients, matters, invoices, trust entries and /sync",
    LINKS: "client links and trust requests (create, send, revoke, cancel) and their reports",
    PAYMENTS_READ: "payments, the dashboard and reconciliation, read only (and as CSV)",
    PAYMENTS_REFUND: "money moves on a payment: refunds, and applying an unmatched payment",
    PAYMENTS_CHARGE: "charging a client's saved payment method, and removing saved methods",
    SETTINGS: "the firm's settings: email words, branding, logo, website origins, evergreen",
    WEBHOOKS: "webhook endpoints, postings (release, replay) and their messages",
}


class UnknownScope(ValueError):
    """A scope that is not one of SCOPES."""


def checked_scopes(scopes: Iterable[str] | None) -> list[str] | None:
    """`scopes` sorted and without repeats, or None for every scope; UnknownScope otherwise."""
    if scopes is None:
        return None
    chosen = sorted(set(scopes))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown:
        raise UnknownScope(
            f"unknown scope {', '.join(unknown)}; the scopes are {', '.join(SCOPES)}"
        )
    return chosen


def key_allows(api_key: APIKey, scope: str) -> bool:
    """Whether `api_key` may use a route that declares `scope`."""
    return api_key.scopes is None or scope in api_key.scopes
