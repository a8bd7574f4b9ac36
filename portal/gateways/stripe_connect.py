"""Stripe Connect through the platform's key: check a connected account, create one, and ask for
its onboarding link. Part of the Stripe adapter (the only modules that import `stripe`).

Callers reach these through `portal.gateways` (`check_stripe_account`, ...). Each is one
network call with the SDK's retries; none may be made inside a database transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import stripe
from flask import current_app

from portal.gateways.stripe import (
    CONNECT_TIMEOUT_SECONDS,
    HTTP_CLIENT_EXTENSION,
    NETWORK_RETRIES,
    READ_TIMEOUT_SECONDS,
)
from portal.gateways.stripe_settings import (
    StripeConfigurationError,
    api_base,
    platform_secret_key,
)


class StripeAccountRefused(Exception):
    """The connected account cannot be used; `reason` says why, in words for the firm."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StripeUnreachable(Exception):
    """Stripe did not answer (or refused the platform's key): nothing could be checked."""


@dataclass(frozen=True)
class ConnectedAccount:
    """What the portal needs to know of a connected account (never a secret)."""

    id: str
    charges_enabled: bool
    details_submitted: bool


def _platform() -> stripe.StripeClient:
    try:
        key = platform_secret_key()
    except StripeConfigurationError as exc:
        raise StripeUnreachable(str(exc)) from None
    seam = current_app.extensions.get(HTTP_CLIENT_EXTENSION)
    return stripe.StripeClient(
        key,
        base_addresses={"api": api_base()},
        max_network_retries=NETWORK_RETRIES,
        http_client=seam
        or stripe.RequestsClient(timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)),
    )


def _unreachable(exc: stripe.StripeError) -> StripeUnreachable:
    if isinstance(exc, stripe.AuthenticationError):
        return StripeUnreachable("Stripe refused the platform's key (STRIPE_SECRET_KEY)")
    return StripeUnreachable(f"Stripe could not be reached: {type(exc).__name__}")


@contextmanager
def _asking_stripe(refusal: str) -> Iterator[None]:
    """Turn the SDK's errors into ours: Stripe refusing the request (400, or 403 and 404, its
    answers for an account that is not connected to this platform or does not exist) into
    StripeAccountRefused(refusal); anything else into StripeUnreachable."""
    try:
        yield
    except (stripe.InvalidRequestError, stripe.PermissionError) as exc:
        if exc.http_status in (400, 403, 404):
            raise StripeAccountRefused(refusal) from None
        raise _unreachable(exc) from None
    except stripe.StripeError as exc:
        raise _unreachable(exc) from None


def fetch_connected_account(account_id: str) -> ConnectedAccount:
    """Retrieve `account_id` with the platform key.

    Raises StripeAccountRefused when Stripe says no such account is connected to the
    platform, StripeUnreachable when Stripe does not answer.
    """
    client = _platform()
    with _asking_stripe(f"Stripe knows no account {account_id} connected to this platform"):
        account = client.v1.accounts.retrieve(account_id)
    return ConnectedAccount(
        id=str(account.id),
        charges_enabled=bool(getattr(account, "charges_enabled", False)),
        details_submitted=bool(getattr(account, "details_submitted", False)),
    )


def check_connected_account(account_id: str) -> ConnectedAccount:
    """The connected account, if it exists and can take charges; else StripeAccountRefused."""
    account = fetch_connected_account(account_id)
    if not account.charges_enabled:
        raise StripeAccountRefused(
            f"the Stripe account {account_id} cannot take charges yet (charges_enabled is "
            "false): finish its onboarding first"
        )
    return account


def create_connected_account(*, email: str | None, reference: str, idempotency_key: str) -> str:
    """Create a connected account whose fees and losses the platform carries; its acct_ id.

    The platform pays Stripe's fees and carries disputes (`controller`), so a trust account's
    money is never netted against them; the firm fills in its details through the onboarding
    link (`onboarding_link`).
    """
    client = _platform()
    params: stripe.params.AccountCreateParams = {
        "controller": {
            "fees": {"payer": "application"},
            "losses": {"payments": "application"},
            "requirement_collection": "stripe",
            "stripe_dashboard": {"type": "express"},
        },
        "capabilities": {
            "card_payments": {"requested": True},
            "transfers": {"requested": True},
            "us_bank_account_ach_payments": {"requested": True},
        },
        "metadata": {"merchant_account": reference},
    }
    if email:
        params["email"] = email
    with _asking_stripe("Stripe refused to create a connected account"):
        account = client.v1.accounts.create(params, {"idempotency_key": idempotency_key})
    return str(account.id)


def onboarding_link(account_id: str, *, refresh_url: str, return_url: str) -> str:
    """A one-time Stripe Account Link where the firm completes `account_id`'s onboarding."""
    client = _platform()
    with _asking_stripe(f"Stripe cannot onboard the account {account_id}"):
        link = client.v1.account_links.create(
            {
                "account": account_id,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            }
        )
    return str(link.url)
