"""The firm's merchant accounts under /api/v1/merchant-accounts (settings, going live on Stripe)
and the back office's lists under /api/v1/back-office/lists.

Each route calls one use case (`portal.payments.account_settings`, `portal.backoffice.lists`),
which commits and appends the audit events; the API key is the actor. Ids are the accounts'
public ids (ma_...); another firm's account is not found.
"""

from __future__ import annotations

from flask import g

from portal import urls
from portal.api.auth import actor
from portal.api.schemas import (
    BackOfficeListsIn,
    BackOfficeListsOut,
    MerchantAccountList,
    MerchantAccountPatchIn,
    MerchantAccountPath,
    MerchantAccountSettingsOut,
    StripeOnboardingIn,
    StripeOnboardingOut,
)
from portal.api.views import api
from portal.backoffice import lists
from portal.firms import scopes
from portal.firms import services as firms
from portal.payments import account_settings

TAG = "merchant-accounts"


@api.route(
    "GET",
    "/merchant-accounts",
    scope=scopes.SETTINGS,
    summary="List the firm's merchant accounts",
    tag=TAG,
    responses={200: MerchantAccountList},
)
def list_merchant_accounts() -> MerchantAccountList:
    """Every merchant account of the firm, oldest first (a firm has a handful)."""
    return MerchantAccountList(
        data=[MerchantAccountSettingsOut.of(a) for a in firms.merchant_accounts_of(g.firm_id)]
    )


@api.route(
    "GET",
    "/merchant-accounts/<id>",
    scope=scopes.SETTINGS,
    summary="Read a merchant account",
    tag=TAG,
    path=MerchantAccountPath,
    responses={200: MerchantAccountSettingsOut},
    errors=(404,),
)
def get_merchant_account(id: str) -> MerchantAccountSettingsOut:
    return MerchantAccountSettingsOut.of(firms.merchant_account_for_firm(g.firm_id, id))


@api.route(
    "PATCH",
    "/merchant-accounts/<id>",
    scope=scopes.SETTINGS,
    summary="Change a merchant account's settings, or put it on Stripe",
    tag=TAG,
    path=MerchantAccountPath,
    body=MerchantAccountPatchIn,
    responses={200: MerchantAccountSettingsOut},
    errors=(404, 409, 503),
)
def patch_merchant_account(id: str, body: MerchantAccountPatchIn) -> MerchantAccountSettingsOut:
    """Fields left out stay. `{"gateway": "stripe", "stripe_account": "acct_..."}` puts the
    account on Stripe once Stripe says the connected account exists and can take charges (422
    naming `stripe_account` otherwise; 503 when Stripe cannot be reached). A `kind` change of an
    account with payments, and a switch back to the sandbox while Stripe payments are in
    flight, are 409. A code not in the back office's synced list is a 422 listing the allowed
    ones. Every change is appended to the audit log, with the body's `reason` if any."""
    account = account_settings.update_merchant_account(
        g.firm_id, id, body.changes(), actor=actor(), reason=body.reason or None
    )
    return MerchantAccountSettingsOut.of(account)


@api.route(
    "POST",
    "/merchant-accounts/<id>/stripe-onboarding",
    scope=scopes.SETTINGS,
    summary="Start (or resume) the merchant account's Stripe onboarding",
    tag=TAG,
    path=MerchantAccountPath,
    body=StripeOnboardingIn,
    body_required=False,
    responses={200: StripeOnboardingOut},
    errors=(404, 503),
)
def start_stripe_onboarding(id: str, body: StripeOnboardingIn) -> StripeOnboardingOut:
    """Creates the account's Stripe connected account when it has none (stored at once, but the
    account stays on its gateway until a PATCH puts it on Stripe) and answers a fresh Stripe
    onboarding link. Ask again for a new link when one has expired."""
    done = urls.absolute("/hooks/stripe/onboarding")
    onboarding = account_settings.start_stripe_onboarding(
        g.firm_id,
        id,
        actor=actor(),
        refresh_url=body.refresh_url or done + "?expired=1",
        return_url=body.return_url or done,
    )
    return StripeOnboardingOut(
        url=onboarding.url,
        stripe_account=onboarding.account.stripe_account or "",
        created=onboarding.created,
        merchant_account=MerchantAccountSettingsOut.of(onboarding.account),
    )


# The back office's lists


@api.route(
    "GET",
    "/back-office/lists",
    scope=scopes.SYNC,
    summary="Read the back office's lists",
    tag="back-office",
    responses={200: BackOfficeListsOut},
)
def get_back_office_lists() -> BackOfficeListsOut:
    """Bank accounts, ledger codes and transaction types; null for a list never synced."""
    return BackOfficeListsOut.of(lists.read_lists(g.firm_id))


@api.route(
    "PUT",
    "/back-office/lists",
    scope=scopes.SYNC,
    summary="Sync the back office's lists",
    tag="back-office",
    body=BackOfficeListsIn,
    responses={200: BackOfficeListsOut},
)
def put_back_office_lists(body: BackOfficeListsIn) -> BackOfficeListsOut:
    """Each list given replaces the one there was (null or [] removes it); a list left out
    stays. Idempotent. Once a list is synced, PATCH /merchant-accounts/{id} takes only its
    codes for the field it governs. Existing account settings are not changed."""
    given = {}
    for name in body.model_fields_set:
        entries = getattr(body, name)
        given[name] = None if entries is None else [entry.model_dump() for entry in entries]
    return BackOfficeListsOut.of(lists.sync_lists(g.firm_id, given, actor=actor()))
