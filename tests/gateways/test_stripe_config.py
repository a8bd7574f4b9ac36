"""Where each merchant account's Stripe keys come from, and the settings the gateway refuses."""

from __future__ import annotations

import json

import pytest

from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways import for_account
from portal.gateways.stripe import StripeGateway
from portal.gateways.stripe_events import sign_payload
from portal.gateways.stripe_settings import (
    StripeConfigurationError,
    settings_for,
    webhook_secret_for,
)
from tests.gateways.conftest import WEBHOOK_SECRET, FakeStripe

pytestmark = pytest.mark.usefixtures("session")


@pytest.fixture
def trust(accounts) -> MerchantAccount:
    return accounts[MerchantAccountKind.TRUST]


def test_operating_without_an_entry_uses_the_platform_key(operating) -> None:
    settings = settings_for(operating)
    assert (settings.charge_type, settings.connect_account) == ("standalone", None)
    assert settings.secret_key.startswith("sk_test_")
    assert settings.publishable_key.startswith("pk_test_")


def test_an_account_may_have_its_own_keys(operating, stripe_settings) -> None:
    stripe_settings["STRIPE_ACCOUNTS"] = json.dumps(
        {  # as PORTAL_STRIPE_ACCOUNTS would give it
            str(operating.id): {"secret_key": "sk_test_own", "publishable_key": "pk_test_own"}
        }
    )
    settings = settings_for(operating)
    assert (settings.secret_key, settings.publishable_key) == ("sk_test_own", "pk_test_own")


def test_the_browser_gets_the_publishable_key_through_the_protocol(
    operating, stripe_settings
) -> None:
    assert for_account(operating).publishable_key() == settings_for(operating).publishable_key
    assert for_account(operating).publishable_key().startswith("pk_test_")
    stripe_settings["STRIPE_ACCOUNTS"] = {
        str(operating.id): {"secret_key": "sk_test_own", "publishable_key": "pk_test_own"}
    }
    assert for_account(operating).publishable_key() == "pk_test_own"


def test_the_accounts_own_connected_account_comes_first(trust, operating, stripe_settings) -> None:
    # given connected accounts set through the API, and older config entries
    trust.stripe_account, operating.stripe_account = "acct_api_t", "acct_api_o"
    stripe_settings["STRIPE_ACCOUNTS"] = {str(trust.id): {"connect_account": "acct_cfg"}}
    # then the API's win, trust as a destination charge and operating as a direct one
    trust_settings, operating_settings = settings_for(trust), settings_for(operating)
    assert (trust_settings.charge_type, trust_settings.connect_account) == (
        "destination",
        "acct_api_t",
    )
    assert trust_settings.secret_key == stripe_settings["STRIPE_SECRET_KEY"]
    assert operating_settings.request_options() == {"stripe_account": "acct_api_o"}
    # and an account with its own key besides a connected account is refused
    stripe_settings["STRIPE_ACCOUNTS"] = {str(operating.id): {"secret_key": "sk_test_own"}}
    with pytest.raises(StripeConfigurationError, match="both"):
        settings_for(operating)


def test_trust_on_connect_is_a_destination_charge(trust, stripe_settings) -> None:
    stripe_settings["STRIPE_ACCOUNTS"] = {str(trust.id): {"connect_account": "acct_t"}}
    settings = settings_for(trust)
    assert (settings.charge_type, settings.connect_account) == ("destination", "acct_t")
    assert settings.request_options() == {}  # charged on the platform, not on trust


def test_operating_on_connect_is_a_direct_charge(operating, stripe_settings) -> None:
    stripe_settings["STRIPE_ACCOUNTS"] = {str(operating.id): {"connect_account": "acct_o"}}
    settings = settings_for(operating)
    assert settings.charge_type == "direct"
    assert settings.request_options("k") == {"idempotency_key": "k", "stripe_account": "acct_o"}


def test_trust_with_its_own_key_needs_the_fees_billed_elsewhere(trust, stripe_settings) -> None:
    stripe_settings["STRIPE_ACCOUNTS"] = {str(trust.id): {"secret_key": "sk_test_trust"}}
    with pytest.raises(StripeConfigurationError, match="fees"):
        settings_for(trust)
    stripe_settings["STRIPE_ACCOUNTS"][str(trust.id)]["trust_fees_billed_elsewhere"] = True
    assert settings_for(trust).charge_type == "standalone"


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        # Client money charged on the platform's key would land in the platform's balance.
        ("trust", {}, "no STRIPE_ACCOUNTS entry"),
        ("operating", {"STRIPE_SECRET_KEY": ""}, "no Stripe secret key"),
        ("operating", {"STRIPE_SECRET_KEY": "sk_live_abc"}, "live key"),
        ("operating", {"STRIPE_SECRET_KEY": "rk_live_abc"}, "live key"),
        ("operating", {"STRIPE_SECRET_KEY": "pk_test_abc"}, "does not look like"),
        ("operating", {"STRIPE_PUBLISHABLE_KEY": "pk_live_abc"}, "live key"),
        ("operating", {"ENV": "production"}, "test-mode key"),
        (
            "operating",
            {
                "ENV": "production",
                "STRIPE_SECRET_KEY": "sk_live_abc",
                "STRIPE_PUBLISHABLE_KEY": "pk_live_abc",
                "STRIPE_API_BASE": "http://127.0.0.1:1",
            },
            "https",
        ),
        ("operating", {"STRIPE_ACCOUNTS": "{not json"}, "not valid JSON"),
        ("operating", {"STRIPE_ACCOUNTS": {"{id}": {"conect_account": "acct_x"}}}, "unknown keys"),
        (
            "operating",
            {"STRIPE_ACCOUNTS": {"{id}": {"secret_key": "sk_test_a", "connect_account": "acct_b"}}},
            "both",
        ),
        ("operating", {"STRIPE_ACCOUNTS": {"{id}": {"connect_account": "ba_123"}}}, "acct_"),
    ],
)
def test_unsafe_or_unclear_settings_are_refused(
    accounts, stripe_settings, kind: str, config: dict, message: str
) -> None:
    account = accounts[MerchantAccountKind(kind)]
    for name, value in config.items():
        if isinstance(value, dict):
            value = {key.format(id=account.id): entry for key, entry in value.items()}
        stripe_settings[name] = value
    with pytest.raises(StripeConfigurationError, match=message):
        StripeGateway(account, http_client=FakeStripe())


def test_live_keys_are_accepted_in_production(operating, stripe_settings) -> None:
    stripe_settings.update(
        ENV="production", STRIPE_SECRET_KEY="sk_live_abc", STRIPE_PUBLISHABLE_KEY="pk_live_abc"
    )
    assert settings_for(operating).secret_key == "sk_live_abc"


def test_the_secret_key_never_appears_whole_in_the_error(operating, stripe_settings) -> None:
    stripe_settings["STRIPE_SECRET_KEY"] = "sk_live_0123456789abcdef"
    with pytest.raises(StripeConfigurationError) as caught:
        settings_for(operating)
    assert "0123456789abcdef" not in str(caught.value)


def test_webhook_secrets_per_account_or_platform(operating, trust, stripe_settings) -> None:
    stripe_settings["STRIPE_ACCOUNTS"] = {
        str(trust.id): {"connect_account": "acct_t", "webhook_secret": ["whsec_new", "whsec_old"]}
    }
    assert webhook_secret_for(operating) == WEBHOOK_SECRET
    # what the hook route verifies with: the gateway's parse_event looks the secret up itself
    body = json.dumps({"id": "evt_1", "type": "ping", "created": 1, "data": {"object": {}}})
    event = for_account(operating).parse_event(body.encode(), sign_payload(body, WEBHOOK_SECRET))
    assert event.event_id == "evt_1"
    assert webhook_secret_for(trust) == "whsec_new,whsec_old"
    stripe_settings["STRIPE_WEBHOOK_SECRET"] = ""
    with pytest.raises(StripeConfigurationError, match="whsec_"):
        webhook_secret_for(operating)
    stripe_settings["STRIPE_WEBHOOK_SECRET"] = "not-a-whsec"
    with pytest.raises(StripeConfigurationError, match="whsec_"):
        webhook_secret_for(operating)
