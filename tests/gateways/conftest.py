"""Gateway fixtures: a real localstripe server, a webhook receiver, and a fake Stripe transport.

localstripe runs in a subprocess (see localstripe_server.py): bound to 127.0.0.1 only, with its
state in memory only, on a free port. Running it in its own interpreter also keeps aiohttp's
event loop, and any warning it emits, out of this process, where `filterwarnings = error`
would turn them into failures of unrelated tests; so no warning filter is needed here.
"""

from __future__ import annotations

import hashlib
import json
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import stripe
from flask import Flask
from sqlalchemy import select

from portal.db import db
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways.base import BadSignature
from portal.gateways.stripe_events import verify
from tests.payments.conftest import book  # noqa: F401 (re-exported as a fixture for these tests)

SERVER = Path(__file__).with_name("localstripe_server.py")
SECRET_KEY = "sk_test_matterpay_gateway_tests"
PUBLISHABLE_KEY = "pk_test_matterpay_gateway_tests"
WEBHOOK_SECRET = "whsec_matterpay_gateway_tests"
STARTUP_SECONDS = 10.0


# -- localstripe -----------------------------------------------------------------------------


@dataclass
class Delivery:
    """One webhook POST localstripe made to the receiver, and what our verify() made of it."""

    body: bytes
    signature: str
    event: dict[str, Any] | None
    error: str | None


class WebhookReceiver:
    """An HTTP endpoint on 127.0.0.1 that records every delivery, verified with verify()."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signature = self.headers.get("Stripe-Signature", "")
                try:
                    event, error = verify(body, signature, receiver.secret), None
                except BadSignature as exc:
                    event, error = None, str(exc)
                with receiver._changed:
                    receiver.deliveries.append(Delivery(body, signature, event, error))
                    receiver._changed.notify_all()
                self.send_response(200 if error is None else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the deliveries list is the log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, event_type: str, object_id: str, timeout: float = 6.0) -> Delivery:
        """The delivery of `event_type` about `object_id` (localstripe sends after ~1 s)."""

        def found() -> Delivery | None:
            for delivery in self.deliveries:
                raw = json.loads(delivery.body)
                if raw.get("type") == event_type and raw["data"]["object"].get("id") == object_id:
                    return delivery
            return None

        deadline = time.monotonic() + timeout
        with self._changed:
            while (delivery := found()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event_type} for {object_id} within {timeout} s")
                self._changed.wait(left)
        return delivery

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass
class LocalStripe:
    """A running localstripe, with the test's own client for arranging things on it."""

    base: str
    api: stripe.StripeClient
    receiver: WebhookReceiver

    def card(self, number: str) -> str:
        """A PaymentMethod for a raw test card number (what Stripe.js would create)."""
        method = self.api.v1.payment_methods.create(
            {
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
            }
        )
        return method.id

    def authenticate(self, intent_id: str, client_secret: str, *, success: bool = True) -> None:
        """Complete (or fail) 3-D Secure, as localstripe's fake Stripe.js would."""
        response = requests.post(
            f"{self.base}/v1/payment_intents/{intent_id}/_authenticate",
            data={
                "client_secret": client_secret,
                "success": "true" if success else "false",
                "key": PUBLISHABLE_KEY,
            },
            timeout=5,
        )
        response.raise_for_status()

    def intent(self, intent_id: str) -> dict[str, Any]:
        return self.api.v1.payment_intents.retrieve(
            intent_id, {"expand": ["latest_charge"]}
        ).to_dict()


def _read_port(process: subprocess.Popen[str], log: Path) -> int:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=STARTUP_SECONDS):
            raise RuntimeError(f"localstripe did not start:\n{log.read_text()}")
    line = process.stdout.readline().strip()
    if not line.isdigit():
        raise RuntimeError(f"localstripe did not start:\n{log.read_text()}")
    return int(line)


def _wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    """localstripe on a free loopback port for the whole run, with a webhook receiver."""
    log = tmp_path_factory.mktemp("localstripe") / "stderr.log"
    with log.open("w") as stderr:
        # The command is fixed: this interpreter and the wrapper script next to this file.
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, str(SERVER)], stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    try:
        port = _read_port(process, log)
        _wait_until_listening(port)
        base = f"http://127.0.0.1:{port}"
        requests.post(
            f"{base}/_config/webhooks/matterpay",
            data={"url": receiver.url, "secret": WEBHOOK_SECRET},
            timeout=5,
        ).raise_for_status()
        api = stripe.StripeClient(
            SECRET_KEY,
            base_addresses={"api": base},
            http_client=stripe.RequestsClient(timeout=(5, 10)),
        )
        yield LocalStripe(base=base, api=api, receiver=receiver)
    finally:
        receiver.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# -- configuration and accounts --------------------------------------------------------------


def merchant_accounts(firm_id: int) -> dict[MerchantAccountKind, MerchantAccount]:
    """The firm's merchant accounts by kind (the factories create one of each)."""
    accounts = db.session.scalars(select(MerchantAccount).where(MerchantAccount.firm_id == firm_id))
    return {account.kind: account for account in accounts}


@pytest.fixture
def accounts(
    firm: Any, stripe_settings: dict[str, Any]
) -> dict[MerchantAccountKind, MerchantAccount]:
    """The test firm's merchant accounts, switched to the Stripe gateway."""
    found = merchant_accounts(firm.id)
    for account in found.values():
        account.gateway = "stripe"
    return found


@pytest.fixture
def operating(accounts: dict[MerchantAccountKind, MerchantAccount]) -> MerchantAccount:
    return accounts[MerchantAccountKind.OPERATING]


@pytest.fixture
def stripe_settings(app: Flask) -> dict[str, Any]:
    """Stripe settings for a test-mode platform; tests add STRIPE_API_BASE or STRIPE_ACCOUNTS."""
    app.config.update(
        STRIPE_API_BASE="https://api.stripe.com",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_ACCOUNTS={},
    )
    return app.config  # type: ignore[return-value]


@pytest.fixture
def on_localstripe(stripe_settings: dict[str, Any], localstripe: LocalStripe) -> LocalStripe:
    """Point the app's Stripe gateway at the running localstripe."""
    stripe_settings["STRIPE_API_BASE"] = localstripe.base
    return localstripe


# -- a fake Stripe inside the SDK ------------------------------------------------------------


@dataclass
class Sent:
    """One HTTP request the SDK made, as the wire saw it."""

    method: str
    url: str
    headers: dict[str, str]
    form: dict[str, str]

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


Answer = tuple[int, dict[str, Any]] | Callable[[Sent], tuple[int, dict[str, Any]]]


def intent_answer(
    status: str = "succeeded", **extra: Any
) -> Callable[[Sent], tuple[int, dict[str, Any]]]:
    """Answer a PaymentIntent create or retrieve with a Stripe-shaped intent in `status`."""

    def answer(sent: Sent) -> tuple[int, dict[str, Any]]:
        if sent.method == "GET":
            intent_id = sent.path.rsplit("/", 1)[-1]
        else:  # Like Stripe: the same key gets the same intent back.
            key = sent.header("Idempotency-Key") or ""
            intent_id = f"pi_fake_{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        kind = sent.form.get("allowed_payment_method_types[0]", "card")
        details: dict[str, Any] = (
            {"type": "card", "card": {"brand": "visa", "last4": "4242"}}
            if kind == "card"
            else {
                "type": "us_bank_account",
                "us_bank_account": {"bank_name": "STRIPE TEST BANK", "last4": "6789"},
            }
        )
        settled = status == "succeeded"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(sent.form.get("amount", "1000")),
            "currency": sent.form.get("currency", "usd"),
            "status": status,
            "client_secret": f"{intent_id}_secret_fake",
            "metadata": {k[9:-1]: v for k, v in sent.form.items() if k.startswith("metadata[")},
            "last_payment_error": None,
            "latest_charge": {
                "id": "ch_fake_1",
                "object": "charge",
                "payment_method_details": details,
                "balance_transaction": (
                    {"id": "txn_fake", "object": "balance_transaction", "fee": 388}
                    if settled
                    else None
                ),
            },
        }
        intent.update(extra)
        return 200, intent

    return answer


def refund_answer(sent: Sent) -> tuple[int, dict[str, Any]]:
    return 200, {
        "id": "re_fake_1",
        "object": "refund",
        "status": "succeeded",
        "amount": int(sent.form["amount"]),
        "payment_intent": sent.form["payment_intent"],
    }


def _routed(sent: Sent) -> tuple[int, dict[str, Any]]:
    if sent.path == "/v1/refunds":
        return refund_answer(sent)
    if sent.path.startswith("/v1/payment_intents"):
        return intent_answer()(sent)
    return 404, {"error": {"type": "invalid_request_error", "message": "not faked"}}


def saving_router(sent: Sent) -> tuple[int, dict[str, Any]]:
    """Stripe's answers for keeping a card: a Customer created, a PaymentMethod attached to
    it (a Visa ending 4242, 12/2040) or detached; the rest as `_routed`."""
    parts = sent.path.strip("/").split("/")
    if sent.method == "POST" and sent.path == "/v1/customers":
        return 200, {"id": "cus_fake_1", "object": "customer", "name": sent.form["name"]}
    if sent.method == "POST" and parts[:2] == ["v1", "payment_methods"] and len(parts) == 4:
        method_id, action = parts[2], parts[3]
        return 200, {
            "id": method_id,
            "object": "payment_method",
            "type": "card",
            "customer": sent.form.get("customer") if action == "attach" else None,
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2040},
        }
    return _routed(sent)


class FakeStripe(stripe.HTTPClient):
    """A Stripe that answers inside the process: records every request, replies from a script.

    Scripted answers are used in order; after that, payment intents succeed and refunds
    succeed. It stands in for what localstripe cannot do: ACH, Connect, idempotent retries.
    """

    name = "fake-stripe"

    def __init__(self, *answers: Answer) -> None:
        super().__init__()
        self.sent: list[Sent] = []
        self._answers = list(answers)
        #: What answers once the scripted answers are used up (a test may route more paths).
        self.router: Callable[[Sent], tuple[int, dict[str, Any]]] = _routed

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[str, int, dict[str, str]]:
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        sent = Sent(
            method.upper(), url, dict(headers or {}), dict(parse_qsl(body, keep_blank_values=True))
        )
        self.sent.append(sent)
        answer = self._answers.pop(0) if self._answers else self.router
        status, payload = answer(sent) if callable(answer) else answer
        return json.dumps(payload), status, {"Request-Id": f"req_fake_{len(self.sent)}"}

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0  # Retry at once: the tests check what is retried, not the backoff.

    def posts(self) -> list[Sent]:
        return [sent for sent in self.sent if sent.method == "POST"]


@pytest.fixture
def wire(app: Flask, stripe_settings: dict[str, Any]) -> Iterator[FakeStripe]:
    """Every StripeGateway the app builds in this test talks to one FakeStripe."""
    from portal.gateways.stripe import HTTP_CLIENT_EXTENSION

    fake = FakeStripe()
    app.extensions[HTTP_CLIENT_EXTENSION] = fake
    yield fake
    app.extensions.pop(HTTP_CLIENT_EXTENSION, None)
