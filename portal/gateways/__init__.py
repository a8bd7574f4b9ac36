"""Payment processors behind one Protocol: the offline sandbox (default) and Stripe."""

from __future__ import annotations

from portal.firms.models import MerchantAccount
from portal.gateways.base import Gateway


def for_account(account: MerchantAccount) -> Gateway:
    """The gateway that charges for `account`, as its `gateway` column says."""
    if account.gateway == "sandbox":
        from portal.gateways.sandbox import SandboxGateway

        return SandboxGateway(account.id)
    if account.gateway == "stripe":
        from portal.gateways.stripe import StripeGateway

        return StripeGateway(account)
    raise LookupError(f"unknown gateway {account.gateway!r}")


def webhook_secret(account: MerchantAccount) -> str:
    """The secret that signs this account's processor events."""
    if account.gateway == "sandbox":
        from portal.gateways.sandbox import webhook_secret as sandbox_secret

        return sandbox_secret(account.id)
    from portal.gateways.stripe import webhook_secret_for

    return webhook_secret_for(account)
