"""Payment processors behind one Protocol (gateways/base.py): the offline sandbox and Stripe.

Everything a caller needs from a processor goes through `for_account(account)`: charges,
refunds, fetches, verifying and translating delivered events (`parse_event`, which looks up
the account's webhook secret itself) and the browser's publishable key. Going live on Stripe
Connect (checking a connected account, creating one, its onboarding link) is re-exported here
from stripe_connect.py, so no feature imports the adapter itself.
"""

from __future__ import annotations

from portal.firms.models import MerchantAccount
from portal.gateways.base import Gateway
from portal.gateways.sandbox import SandboxGateway
from portal.gateways.stripe import StripeConfigurationError, StripeGateway
from portal.gateways.stripe_connect import (
    ConnectedAccount,
    StripeAccountRefused,
    StripeUnreachable,
    check_connected_account,
    create_connected_account,
    fetch_connected_account,
    onboarding_link,
)

__all__ = [
    "ConnectedAccount",
    "StripeAccountRefused",
    "StripeConfigurationError",
    "StripeUnreachable",
    "check_connected_account",
    "create_connected_account",
    "fetch_connected_account",
    "for_account",
    "onboarding_link",
]


def for_account(account: MerchantAccount) -> Gateway:
    """The gateway that charges for `account`, as its `gateway` column says."""
    if account.gateway == "sandbox":
        return SandboxGateway(account.id)
    if account.gateway == "stripe":
        return StripeGateway(account)
    raise LookupError(f"unknown gateway {account.gateway!r}")
