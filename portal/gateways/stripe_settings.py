"""How each merchant account reaches Stripe: its keys, Connect account and webhook secret.

Resolved from STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET and the
per-account STRIPE_ACCOUNTS entries, refusing unsafe or contradictory settings (see
`settings_for`). Part of the Stripe adapter, with stripe.py and stripe_events.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe
from flask import current_app

from portal.firms.models import MerchantAccount, MerchantAccountKind

DEFAULT_API_BASE = "https://api.stripe.com"

#: Keys a STRIPE_ACCOUNTS entry may hold. Anything else is refused, so that a misspelt
#: "connect_account" cannot silently send a trust deposit to the platform's own balance.
_ACCOUNT_KEYS = frozenset(
    {
        "secret_key",
        "connect_account",
        "webhook_secret",
        "publishable_key",
        "trust_fees_billed_elsewhere",
    }
)


class StripeConfigurationError(RuntimeError):
    """The Stripe settings for a merchant account are missing, unsafe or contradictory."""


@dataclass(frozen=True)
class AccountSettings:
    """How one merchant account reaches Stripe, resolved from configuration."""

    merchant_account_id: int
    secret_key: str
    #: "standalone" (the key's own account), "destination" (a Connect destination charge
    #: made by the platform) or "direct" (a charge on a connected account via Stripe-Account).
    charge_type: str
    connect_account: str | None
    publishable_key: str

    def request_options(self, idempotency_key: str | None = None) -> stripe.RequestOptions:
        """Per-request options: our idempotency key, and the connected account if direct."""
        options: stripe.RequestOptions = {}
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        if self.charge_type == "direct" and self.connect_account:
            options["stripe_account"] = self.connect_account
        return options


def _accounts_setting() -> dict[str, Mapping[str, Any]]:
    raw = current_app.config.get("STRIPE_ACCOUNTS", {}) or {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise StripeConfigurationError("STRIPE_ACCOUNTS is not valid JSON") from None
    if not isinstance(raw, Mapping):
        raise StripeConfigurationError("STRIPE_ACCOUNTS must map merchant account ids to objects")
    entries: dict[str, Mapping[str, Any]] = {}
    for key, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise StripeConfigurationError(f"STRIPE_ACCOUNTS[{key!r}] must be an object")
        unknown = set(entry) - _ACCOUNT_KEYS
        if unknown:
            raise StripeConfigurationError(
                f"STRIPE_ACCOUNTS[{key!r}] has unknown keys {sorted(unknown)}; "
                f"allowed: {sorted(_ACCOUNT_KEYS)}"
            )
        entries[str(key)] = entry
    return entries


def _account_entry(merchant_account_id: int) -> Mapping[str, Any]:
    return _accounts_setting().get(str(merchant_account_id), {})


def _check_key_mode(key: str, *, what: str, live: tuple[str, ...], test: tuple[str, ...]) -> None:
    """Refuse live keys outside production and test keys in production."""
    production = current_app.config.get("ENV", "development") == "production"
    if key.startswith(live):
        if not production:
            raise StripeConfigurationError(
                f"{what} is a live key ({key[:8]}…) but ENV is not production; "
                "use a test-mode key outside production"
            )
    elif key.startswith(test):
        if production:
            raise StripeConfigurationError(
                f"{what} is a test-mode key ({key[:8]}…) but ENV is production"
            )
    else:
        raise StripeConfigurationError(f"{what} does not look like a Stripe key")


def api_base() -> str:
    """The Stripe API address (STRIPE_API_BASE), https only in production."""
    base = str(current_app.config.get("STRIPE_API_BASE", DEFAULT_API_BASE) or DEFAULT_API_BASE)
    production = current_app.config.get("ENV", "development") == "production"
    if production and not base.startswith("https://"):
        # The secret key travels in every request's Authorization header.
        raise StripeConfigurationError("STRIPE_API_BASE must be an https:// address in production")
    return base.rstrip("/")


def platform_secret_key() -> str:
    """The platform's secret key (STRIPE_SECRET_KEY), refused when missing or of the wrong mode."""
    key = str(current_app.config.get("STRIPE_SECRET_KEY", "") or "")
    if not key:
        raise StripeConfigurationError("STRIPE_SECRET_KEY (the platform's key) is not set")
    _check_key_mode(
        key,
        what="STRIPE_SECRET_KEY",
        live=("sk_live_", "rk_live_"),
        test=("sk_test_", "rk_test_"),
    )
    return key


def settings_for(account: MerchantAccount) -> AccountSettings:
    """Resolve how `account` reaches Stripe, refusing unsafe or contradictory settings.

    An account that went live through the API has its connected account (acct_…) in
    `account.stripe_account` and is charged through the platform key STRIPE_SECRET_KEY.
    Otherwise its STRIPE_ACCOUNTS entry gives either its own `secret_key` or the
    `connect_account` it settles into through the platform key. A trust account on Connect is
    charged as a destination charge (Stripe's fees and disputes stay on the platform, never on
    trust), an operating one as a direct charge. An operating account with neither uses the
    platform key directly. A trust account must have a connected account or an entry: charged
    on the platform's own key, client money would land in the platform's balance. A trust
    account with its own key has Stripe's fees, refunds and disputes taken from its balance,
    so it is refused unless the entry says `"trust_fees_billed_elsewhere": true` (the firm
    arranged for Stripe to bill them apart).
    """
    entry = _account_entry(account.id)
    own_key = entry.get("secret_key")
    connect_account = account.stripe_account or entry.get("connect_account")
    label = f"merchant account {account.id}"
    if own_key and connect_account:
        raise StripeConfigurationError(
            f"merchant account {account.id} has both its own secret_key in STRIPE_ACCOUNTS "
            "and a connected account"
        )
    is_trust = account.kind is MerchantAccountKind.TRUST
    if connect_account:
        if not str(connect_account).startswith("acct_"):
            raise StripeConfigurationError(f"connect_account for {label} must be an acct_… id")
        charge_type = "destination" if is_trust else "direct"
    elif own_key:
        if is_trust and entry.get("trust_fees_billed_elsewhere") is not True:
            raise StripeConfigurationError(
                f"{label} is a trust account with its own Stripe key: Stripe would take fees, "
                "refunds and disputes from trust. Configure it as a connect_account, or set "
                '"trust_fees_billed_elsewhere": true if Stripe bills them elsewhere'
            )
        charge_type = "standalone"
    elif is_trust:
        raise StripeConfigurationError(
            f"{label} is a trust account and has no connected account (stripe_account) and "
            "no STRIPE_ACCOUNTS entry; client money must "
            "not be charged into the platform's own balance"
        )
    else:
        charge_type = "standalone"
    secret_key = str(own_key or current_app.config.get("STRIPE_SECRET_KEY", "") or "")
    if not secret_key:
        raise StripeConfigurationError(
            f"no Stripe secret key for {label}: set STRIPE_SECRET_KEY or STRIPE_ACCOUNTS"
        )
    _check_key_mode(
        secret_key,
        what=f"the Stripe secret key for {label}",
        live=("sk_live_", "rk_live_"),
        test=("sk_test_", "rk_test_"),
    )
    publishable_key = str(
        entry.get("publishable_key") or current_app.config.get("STRIPE_PUBLISHABLE_KEY", "") or ""
    )
    if publishable_key:
        _check_key_mode(
            publishable_key,
            what=f"the Stripe publishable key for {label}",
            live=("pk_live_",),
            test=("pk_test_",),
        )
    return AccountSettings(
        merchant_account_id=account.id,
        secret_key=secret_key,
        charge_type=charge_type,
        connect_account=str(connect_account) if connect_account else None,
        publishable_key=publishable_key,
    )


def webhook_secret_for(account: MerchantAccount) -> str:
    """The whsec_ secret(s) of the endpoint that delivers this account's events.

    While a secret is being rolled, give both, comma-separated: `verify` accepts either (R7).
    """
    secret = _account_entry(account.id).get("webhook_secret") or current_app.config.get(
        "STRIPE_WEBHOOK_SECRET", ""
    )
    if isinstance(secret, list | tuple):
        secret = ",".join(str(s) for s in secret)
    secret = str(secret or "")
    if not secret or not all(s.strip().startswith("whsec_") for s in secret.split(",")):
        raise StripeConfigurationError(
            f"no whsec_ webhook secret for merchant account {account.id}: set "
            "STRIPE_WEBHOOK_SECRET or its STRIPE_ACCOUNTS webhook_secret"
        )
    return secret
