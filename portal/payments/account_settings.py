"""The firm's merchant account settings: labels, posting defaults, methods, kind and gateway,
and going live on Stripe (a connected account of the platform, checked on save).

It lives in payments, not firms, because two of its rules ask about payments: an account's
kind cannot change once it has charges, and it cannot leave Stripe while Stripe charges are in
flight. Commits: `update_merchant_account` and `start_stripe_onboarding` are the use cases the
API (and later the console) calls. Each reads, commits, makes its Stripe call with no
transaction open, then writes the change and its audit events in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal import gateways
from portal.audit import services as audit
from portal.audit.services import Actor
from portal.db import db
from portal.errors import Conflict, PortalError, ValidationFailed, ValidationProblem
from portal.firms import services as firms
from portal.firms.account_lists import CODE_FIELDS, code_problems
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.payments.models import IN_FLIGHT, Charge
from portal.text import text_problem

#: The settings a firm may change, in the order the audit log lists them.
FIELDS = (
    "label",
    "labels",
    "ledger_code",
    "transaction_type",
    "bank_account_code",
    "accepts_card",
    "accepts_ach",
    "kind",
    "gateway",
    "stripe_account",
)
GATEWAYS = ("sandbox", "stripe")
#: Longest label, in characters (the column's size).
LABEL_MAX = 100
ENTITY = "merchant_account"


class ProcessorUnavailable(PortalError):
    """Stripe did not answer, so nothing could be checked and nothing was saved."""

    status = 503
    code = "processor-unavailable"
    title = "The payment processor could not be reached"


class AccountInUse(Conflict):
    """A change the account's payments forbid (its kind, or leaving Stripe mid-payment)."""

    code = "merchant-account-in-use"
    title = "The merchant account's payments forbid this change"


@dataclass(frozen=True)
class Onboarding:
    """The answer to `start_stripe_onboarding`: the account, and where the firm goes next."""

    account: MerchantAccount
    url: str
    created: bool


def settings_of(account: MerchantAccount) -> dict[str, Any]:
    """The account's settings as the audit log records them (plain JSON values)."""
    return {
        "label": account.label,
        "labels": dict(account.labels or {}),
        "ledger_code": account.ledger_code,
        "transaction_type": account.transaction_type,
        "bank_account_code": account.bank_account_code,
        "accepts_card": account.accepts_card,
        "accepts_ach": account.accepts_ach,
        "kind": account.kind.value,
        "gateway": account.gateway,
        "stripe_account": account.stripe_account,
    }


def update_merchant_account(
    firm_id: int,
    public_id: str,
    changes: Mapping[str, Any],
    *,
    actor: Actor,
    reason: str | None = None,
) -> MerchantAccount:
    """Change the firm's merchant account `public_id` (commits); fields left out stay. Each
    change is audited by `actor`, with `reason` (why) if given.

    Raises NotFound (another firm's account too), ValidationFailed (422, naming each field:
    an unsupported language, a bad label, a code not in the back office's list, Stripe without
    a usable connected account), AccountInUse (409: the kind of an account with payments, or
    back to the sandbox while Stripe payments are in flight) and ProcessorUnavailable (503).
    Nothing is saved unless everything holds.
    """
    account = firms.merchant_account_for_firm(firm_id, public_id)
    wanted = {**settings_of(account), **{k: v for k, v in changes.items() if k in FIELDS}}
    problems = _field_problems(firm_id, changes, wanted)
    if problems:
        raise ValidationFailed("Some fields are invalid; nothing was saved.", errors=problems)
    stripe_check = _stripe_check(account, changes, wanted)
    db.session.commit()  # End the read: no transaction stays open across the call to Stripe.
    if stripe_check is not None:
        _check_at_stripe(*stripe_check)
    with db.transaction():
        account = firms.merchant_account_for_firm(firm_id, public_id)
        before = settings_of(account)
        _check_payments_allow(account, wanted)
        _apply(account, wanted)
        audit.record_changes(
            firm_id,
            actor,
            action="merchant_account.updated",
            entity=ENTITY,
            entity_id=account.public_id,
            before=before,
            after=settings_of(account),
            reason=reason,
        )
    return account


def start_stripe_onboarding(
    firm_id: int, public_id: str, *, actor: Actor, refresh_url: str, return_url: str
) -> Onboarding:
    """Create the account's Stripe connected account if it has none, and an onboarding link.

    The connected account is stored at once (and audited), but the merchant account stays on
    its gateway: it goes live only when a PATCH switches it to Stripe and Stripe says the
    account can take charges. Commits before and after each Stripe call.
    """
    account = firms.merchant_account_for_firm(firm_id, public_id)
    connected, created = account.stripe_account, False
    firm = firms.firm_by_id(firm_id)
    email = firm.contact_email or firm.notify_email
    db.session.commit()  # End the read before calling Stripe.
    if connected is None:
        with _asking_stripe():
            connected = gateways.create_connected_account(
                email=email, reference=public_id, idempotency_key=f"onboard-{public_id}"
            )
        with db.transaction():
            account = firms.merchant_account_for_firm(firm_id, public_id)
            if account.stripe_account is None:  # Unless another request stored one meanwhile.
                audit.record(
                    firm_id,
                    actor,
                    action="merchant_account.stripe_onboarding",
                    entity=ENTITY,
                    entity_id=public_id,
                    field="stripe_account",
                    before=None,
                    after=connected,
                )
                account.stripe_account = connected
                created = True
            connected = account.stripe_account
    assert connected is not None  # noqa: S101 (set above, or there from the start)
    with _asking_stripe():
        url = gateways.onboarding_link(connected, refresh_url=refresh_url, return_url=return_url)
    return Onboarding(account=account, url=url, created=created)


# -- the rules ---------------------------------------------------------------------------------


def _problem(name: str, code: str, detail: str, **params: Any) -> ValidationProblem:
    return ValidationProblem(code=code, where=f"/{name}", detail=f"{name} {detail}", params=params)


def _field_problems(
    firm_id: int, changes: Mapping[str, Any], wanted: Mapping[str, Any]
) -> list[ValidationProblem]:
    """What is wrong with the fields themselves (no payment, no network needed)."""
    problems = []
    if "label" in changes:
        problems += _label_problems("label", changes["label"])
    if "labels" in changes:
        languages = firms.supported_languages()
        for language, text in sorted((changes["labels"] or {}).items()):
            if language not in languages:
                problems.append(
                    _problem(
                        f"labels/{language}",
                        "language_unsupported",
                        f"is not a supported language; use one of {', '.join(languages)}",
                        language=language,
                    )
                )
            else:
                problems += _label_problems(f"labels/{language}", text)
    if wanted["gateway"] not in GATEWAYS:
        problems.append(
            _problem("gateway", "gateway_unknown", f"must be one of {', '.join(GATEWAYS)}")
        )
    stripe_account = wanted["stripe_account"]
    if stripe_account is not None and not str(stripe_account).startswith("acct_"):
        problems.append(
            _problem("stripe_account", "stripe_account_format", "must be a Stripe acct_… id")
        )
    elif (
        wanted["gateway"] == "stripe"
        and stripe_account is None
        and ("gateway" in changes or "stripe_account" in changes)
    ):
        problems.append(
            _problem(
                "stripe_account",
                "stripe_account_required",
                "is required to take payments on Stripe: give the connected account (acct_…), "
                "or create one with POST /merchant-accounts/{id}/stripe-onboarding",
            )
        )
    codes = {name: changes[name] for name in CODE_FIELDS if name in changes}
    problems += code_problems(firm_id, codes)
    return problems


def _label_problems(where: str, text: Any) -> list[ValidationProblem]:
    if not isinstance(text, str) or not text.strip():
        return [_problem(where, "label_empty", "must not be empty")]
    if len(text) > LABEL_MAX:
        return [_problem(where, "label_too_long", f"must be at most {LABEL_MAX} characters")]
    found = text_problem(text)
    if found is not None:
        return [_problem(where, "text_invalid", found)]
    return []


def _stripe_check(
    account: MerchantAccount, changes: Mapping[str, Any], wanted: Mapping[str, Any]
) -> tuple[str, bool] | None:
    """Which connected account to check at Stripe, and whether it must take charges now."""
    target = wanted["stripe_account"]
    if target is None:
        return None
    going_live = wanted["gateway"] == "stripe" and (
        account.gateway != "stripe" or target != account.stripe_account
    )
    if going_live:
        return target, True
    if "stripe_account" in changes and target != account.stripe_account:
        return target, False  # Stored for later: it must exist, not yet take charges.
    return None


def _check_at_stripe(connected: str, charges_needed: bool) -> None:
    with _asking_stripe():
        if charges_needed:
            gateways.check_connected_account(connected)
        else:
            gateways.fetch_connected_account(connected)


@contextmanager
def _asking_stripe() -> Iterator[None]:
    """Stripe's refusal as a 422 naming `stripe_account` with its reason; Stripe out of reach
    as a 503. Either way nothing was saved: the call is made before anything is written."""
    try:
        yield
    except gateways.StripeAccountRefused as exc:
        raise ValidationFailed(
            "Stripe refused the connected account; nothing was saved.",
            errors=[_problem("stripe_account", "stripe_account_refused", f"is refused: {exc}")],
        ) from None
    except gateways.StripeUnreachable as exc:
        raise ProcessorUnavailable(f"{exc}; nothing was saved, try again later.") from None


def _check_payments_allow(account: MerchantAccount, wanted: Mapping[str, Any]) -> None:
    """Refuse what the account's payments forbid (read inside the writing transaction)."""
    kind = MerchantAccountKind(wanted["kind"])
    if kind is not account.kind:
        if _charges(account).first() is not None:
            raise AccountInUse(
                f"The account has payments, so it stays {account.kind.value}: its payments "
                f"were taken, posted and reconciled as {account.kind.value} money. Use another "
                "account for the other kind."
            )
        taken = db.session.scalar(
            select(MerchantAccount.public_id).where(
                MerchantAccount.firm_id == account.firm_id,
                MerchantAccount.kind == kind,
                MerchantAccount.currency == account.currency,
                MerchantAccount.id != account.id,
            )
        )
        if taken is not None:
            raise AccountInUse(
                f"The firm already has a {kind.value} account in {account.currency} ({taken})."
            )
    leaves_stripe = account.gateway == "stripe" and (
        wanted["gateway"] != "stripe" or wanted["stripe_account"] != account.stripe_account
    )
    if leaves_stripe:
        in_flight = (
            _charges(account)
            .filter(Charge.gateway == "stripe", Charge.status.in_(sorted(IN_FLIGHT)))
            .first()
        )
        if in_flight is not None:
            raise AccountInUse(
                "Stripe payments to this account are still in flight (pending or processing): "
                "it stays on its Stripe account until they settle or fail."
            )


def _charges(account: MerchantAccount) -> Any:
    return db.session.query(Charge.id).filter(Charge.merchant_account_id == account.id)


def _apply(account: MerchantAccount, wanted: Mapping[str, Any]) -> None:
    account.label = wanted["label"].strip()
    labels = wanted["labels"] or {}
    account.labels = {lang: text.strip() for lang, text in sorted(labels.items())}
    for name in ("ledger_code", "transaction_type", "bank_account_code"):
        value = wanted[name]
        setattr(account, name, value.strip() or None if isinstance(value, str) else None)
    account.accepts_card = bool(wanted["accepts_card"])
    account.accepts_ach = bool(wanted["accepts_ach"])
    account.kind = MerchantAccountKind(wanted["kind"])
    account.gateway = wanted["gateway"]
    account.stripe_account = wanted["stripe_account"]
