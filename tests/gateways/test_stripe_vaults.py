"""Where a saved method is kept on Stripe (localstripe answers customers, payment methods and
attach): operating and trust charged through one Stripe account share one Customer and one
attached PaymentMethod; with trust on its own Stripe account, a PaymentMethod the Payment
Element made with the operating account's key is kept at the operating account only."""

from __future__ import annotations

from typing import Any

import pytest

from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways import for_account
from portal.gateways.base import Instrument
from portal.payers import services as payers
from portal.payers.models import ConsentHow, ConsentScope, MethodKind
from tests import factories
from tests.gateways.conftest import SECRET_KEY, LocalStripe, merchant_accounts

pytestmark = pytest.mark.usefixtures("session")

K = MerchantAccountKind


@pytest.fixture
def accounts(firm: Any, on_localstripe: LocalStripe) -> dict[MerchantAccountKind, MerchantAccount]:
    found = merchant_accounts(firm.id)
    for account in found.values():
        account.gateway = "stripe"
    return found


def _trust_on(app: Any, accounts: dict[MerchantAccountKind, MerchantAccount], **entry: Any) -> None:
    app.config["STRIPE_ACCOUNTS"] = {str(accounts[K.TRUST].id): entry}


def _save(firm: Any, payment_method: str, home: MerchantAccount | None = None) -> Any:
    client = factories.client(firm)
    payer = payers.add_payer(firm_id=firm.id, client=client, name="Ada Parent", email=None)
    return payers.save_method(
        payer=payer,
        kind=MethodKind.CARD,
        instrument=Instrument(payment_method_id=payment_method),
        currency="USD",
        consent=payers.ConsentGiven(
            words="I authorize it.", how=ConsentHow.STAFF_PHONE, scope=ConsentScope.THIS_PAYMENT
        ),
        home=home,
    )


def test_one_stripe_account_behind_both_keeps_the_card_once_for_both(
    app: Any,
    firm: Any,
    accounts: dict[MerchantAccountKind, MerchantAccount],
    on_localstripe: LocalStripe,
) -> None:
    _trust_on(app, accounts, connect_account="acct_trust_1")  # a destination charge's account
    assert for_account(accounts[K.OPERATING]).vault() == for_account(accounts[K.TRUST]).vault()
    card = on_localstripe.card("4242424242424242")

    # when
    method = _save(firm, card, home=accounts[K.OPERATING])

    # then one Customer holds it, and both accounts charge it through that Customer
    refs = {(t.customer_ref, t.method_ref) for t in method.tokens}
    assert len(method.tokens) == 2 and len(refs) == 1
    ((customer, method_ref),) = refs
    assert method_ref == card
    assert on_localstripe.api.v1.payment_methods.retrieve(card).customer == customer

    # removing it detaches it once, and it stays removed
    payers._remove(method)
    assert on_localstripe.api.v1.payment_methods.retrieve(card).customer is None
    assert method.removed_at is not None


def test_trust_on_its_own_stripe_account_is_left_out(
    app: Any,
    firm: Any,
    accounts: dict[MerchantAccountKind, MerchantAccount],
    on_localstripe: LocalStripe,
) -> None:
    _trust_on(
        app,
        accounts,
        secret_key="sk_test_matterpay_trust_own_account",
        trust_fees_billed_elsewhere=True,
    )
    operating, trust = for_account(accounts[K.OPERATING]), for_account(accounts[K.TRUST])
    assert operating.vault() != trust.vault()
    assert SECRET_KEY not in operating.vault()  # a digest names it, never the key
    card = on_localstripe.card("4242424242424242")

    # when the operating account's key made the PaymentMethod
    method = _save(firm, card, home=accounts[K.OPERATING])

    # then it is kept there only: no Customer at trust's Stripe account tried it
    assert [t.merchant_account_id for t in method.tokens] == [accounts[K.OPERATING].id]
    assert on_localstripe.api.v1.payment_methods.retrieve(card).customer == (
        method.tokens[0].customer_ref
    )


def test_a_form_sent_twice_keeps_the_card_attached(
    app: Any,
    firm: Any,
    accounts: dict[MerchantAccountKind, MerchantAccount],
    on_localstripe: LocalStripe,
) -> None:
    _trust_on(app, accounts, connect_account="acct_trust_1")
    card = on_localstripe.card("4242424242424242")
    client = factories.client(firm)
    payer = payers.add_payer(firm_id=firm.id, client=client, name="Ada Parent", email=None)
    given = payers.ConsentGiven(
        words="I authorize it.", how=ConsentHow.STAFF_PHONE, scope=ConsentScope.THIS_PAYMENT
    )

    def keep() -> Any:
        return payers.save_method(
            payer=payer,
            kind=MethodKind.CARD,
            instrument=Instrument(payment_method_id=card),
            currency="USD",
            consent=given,
            home=accounts[K.OPERATING],
        )

    first, second = keep(), keep()

    # the older copy is replaced here, but the one PaymentMethod both name stays attached
    assert first.removed_at is not None and second.removed_at is None
    assert {t.customer_ref for t in second.tokens} == {t.customer_ref for t in first.tokens}
    assert on_localstripe.api.v1.payment_methods.retrieve(card).customer == (
        second.tokens[0].customer_ref
    )
