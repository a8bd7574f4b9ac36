"""How long a Stripe charge can hold a web worker: the figure gunicorn.conf.py derives from.

The SDK runs on a transport whose every attempt takes the full connect and read timeouts on
a simulated clock, and whose backoff sleeps are added to that clock at their longest (the
jitter at its top), so the worst case is measured through the SDK's own retry loop.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from portal.gateways.base import ChargeStatus
from portal.gateways.stripe import (
    CALLS_BEFORE_CHARGES,
    CALLS_PER_CHARGE,
    CONNECT_TIMEOUT_SECONDS,
    NETWORK_RETRIES,
    READ_TIMEOUT_SECONDS,
    StripeGateway,
    longest_call_seconds,
    longest_request_seconds,
)
from tests.gateways.conftest import FakeStripe, intent_answer
from tests.gateways.test_stripe_wire import request_for

pytestmark = pytest.mark.usefixtures("session")

#: In the script of answers: this attempt times out.
TIMEOUT = object()


class SlowStripe(FakeStripe):
    """FakeStripe on a simulated clock: each attempt costs the longest it may take."""

    name = "slow-fake-stripe"

    def __init__(self, *answers: Any) -> None:
        self._script = list(answers)
        super().__init__(*[a for a in answers if a is not TIMEOUT])
        self.elapsed = 0.0
        self.attempts = 0

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **kw: Any) -> Any:
        self.attempts += 1
        self.elapsed += CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
        if self._script and self._script[0] is TIMEOUT:
            self._script.pop(0)
            raise stripe.APIConnectionError("Read timed out.", should_retry=True)
        if self._script:
            self._script.pop(0)
        return super().request(method, url, headers, post_data, **kw)

    def _add_jitter_time(self, sleep_seconds: float) -> float:
        return sleep_seconds  # the top of the SDK's jitter range

    def _sleep_time_seconds(self, num_retries: int) -> float:
        self.elapsed += stripe.HTTPClient._sleep_time_seconds(self, num_retries)
        return 0.0


def test_one_call_lasts_at_most_longest_call_seconds(operating) -> None:
    # given a Stripe that times out on every attempt
    fake = SlowStripe(*[TIMEOUT] * (NETWORK_RETRIES + 1))
    # when a charge is made, the SDK retries and gives up
    with pytest.raises(stripe.APIConnectionError):
        StripeGateway(operating, http_client=fake).charge(
            request_for(operating), idempotency_key="timing:1"
        )
    # then it made every attempt, and the time they took is the figure gunicorn relies on
    assert fake.attempts == NETWORK_RETRIES + 1
    assert fake.elapsed == pytest.approx(longest_call_seconds())


def test_a_charge_makes_at_most_calls_per_charge_calls(operating) -> None:
    # given a decline that names only the failed charge (two more calls to find its intent),
    # each call answered only on its last attempt
    declined = (
        402,
        {"error": {"type": "card_error", "code": "card_declined", "charge": "ch_slow"}},
    )
    charge = (200, {"id": "ch_slow", "object": "charge", "payment_intent": "pi_slow"})
    retries = [TIMEOUT] * NETWORK_RETRIES
    fake = SlowStripe(
        *retries, declined, *retries, charge, *retries, intent_answer("requires_payment_method")
    )
    # when
    result = StripeGateway(operating, http_client=fake).charge(
        request_for(operating), idempotency_key="timing:2"
    )
    # then the charge is recorded as failed, after exactly the calls the budget counts
    assert result.status is ChargeStatus.FAILED
    assert fake.attempts == CALLS_PER_CHARGE * (NETWORK_RETRIES + 1)
    assert fake.elapsed == pytest.approx(CALLS_PER_CHARGE * longest_call_seconds())
    # and a payment (one charge per account kind, after the card is kept on a Customer)
    # fits in the request budget
    before = CALLS_BEFORE_CHARGES * longest_call_seconds()
    assert 2 * fake.elapsed + before == pytest.approx(longest_request_seconds())
