"""Structured logs: JSON lines with a request id, X-Request-ID, and secrets that never get out.

The last test drives the whole pay flow (API, link, card payment, receipt, webhook delivery)
with every logger at DEBUG (SQLAlchemy's statements and parameters included) and reads what
the portal's handler wrote: no link token, API key, webhook secret or card number.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from portal import logs
from portal.config import UnsafeConfiguration
from portal.db import db
from portal.links import services as links
from portal.postings import delivery as worker
from tests import factories
from tests.api.conftest import client_body, invoice_body, matter_body
from tests.conftest import APIClient, make_test_app
from tests.payments.test_views import VISA, Browser, location, text_of
from tests.postings.conftest import Receiver, receiver  # noqa: F401 (a fixture, used by name)

CARD = VISA["card_number"]


@dataclass
class Captured:
    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


def _portal_handler() -> logs.PortalLogHandler:
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, logs.PortalLogHandler)]
    return handler


@pytest.fixture
def captured(app: Flask, caplog: pytest.LogCaptureFixture) -> Iterator[Captured]:
    """What the portal's own handler writes, with every logger at DEBUG.

    Requested before `session`, so the test's database connection is opened with SQLAlchemy's
    statement logging already on.
    """
    handler = _portal_handler()
    assert isinstance(handler.formatter, logging.Formatter)
    stream = io.StringIO()
    handler.stream = stream
    for name in ("", "sqlalchemy.engine", "sqlalchemy.pool", "werkzeug", "portal", "flask"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield Captured(stream)
    handler.stream = None


# -- redaction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [
        "mp_" + "Q" * 43,
        "whsec_" + "dGVzdHNlY3JldHRlc3RzZWNyZXQ=",
        "sk_live_" + "a1" * 12,
        "4242424242424242",
        "4242 4242 4242 4242",
        "4000-0566-5566-5556",
        "378282246310005",  # 15 digits (Amex)
        "ImFiY2RlZmdoaWprbG1ub3AxMjM0NTY3OCI.aBcDeF.xyzXYZ0123456789abcdefghij-_01",
    ],
)
def test_secrets_are_scrubbed_from_messages_and_args(secret: str) -> None:
    # given
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s and %r", (secret,), None)
    record.detail = f"extra {secret}"

    # when
    logs.RedactingFilter().filter(record)

    # then
    assert secret not in record.getMessage()
    assert "[redacted]" in record.getMessage()
    assert secret not in record.detail
    assert record.args is None


def test_a_bank_account_number_sent_to_stripe_is_scrubbed() -> None:
    posted = (
        "message='Post details' post_data=type=us_bank_account&us_bank_account%5Brouting_number"
        "%5D=110000000&us_bank_account%5Baccount_number%5D=000123456789&billing_details%5Bname"
        "%5D=Ada"
    )
    assert "000123456789" not in logs.redact(posted)
    assert "account_number%5D=[redacted]&" in logs.redact(posted)
    assert logs.redact("us_bank_account[account_number]=000123456789") == (
        "us_bank_account[account_number]=[redacted]"
    )


def test_the_token_in_a_link_path_is_scrubbed_and_the_rest_kept() -> None:
    assert logs.redact("GET /l/anything-at-all 303") == "GET /l/[redacted] 303"
    assert logs.redact("Authorization: Bearer abc.def") == "Authorization: Bearer [redacted]"


@pytest.mark.parametrize(
    "harmless",
    [
        "4242424242424241",  # fails Luhn
        "invoice 1234 paid 120000",
        "charge ch_123 took 1700000000.123 s",
        "portal.payments.services",
        "2026-03-16T15:00:00+00:00",
    ],
)
def test_ordinary_text_is_left_alone(harmless: str) -> None:
    assert logs.redact(harmless) == harmless


def test_luhn() -> None:
    assert logs.luhn_valid("4242424242424242")
    assert logs.luhn_valid("79927398713")
    assert not logs.luhn_valid("79927398710")


def test_a_traceback_is_scrubbed_too() -> None:
    # given
    stream = io.StringIO()
    handler = logs.PortalLogHandler("json", stream=stream)
    logger = logging.getLogger("tests.logs.traceback")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        # when
        try:
            raise ValueError(f"bad key {'mp_' + 'k' * 40}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    # then
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert "ValueError" in record["exc_info"]
    assert "mp_kkkk" not in line


# -- request ids ----------------------------------------------------------------------------------


def test_every_response_carries_a_fresh_request_id(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/no-such-page").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("lb-7f3a9c21-0001", True),
        ("0123456789abcdef0123456789abcdef", True),
        ("short", False),
        ("<script>alert(1)</script>", False),
        ("id with spaces in it", False),
        ("x" * 65, False),
        ("abc;injected=1", False),
        ("mp_" + "k" * 43, False),  # an API key sent by mistake is not logged as the id
        ("4242424242424242", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_plain(
    client: FlaskClient, incoming: str, kept: bool
) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert (response.headers["X-Request-ID"] == incoming) is kept
    assert logs.SAFE_REQUEST_ID.fullmatch(response.headers["X-Request-ID"])


def test_every_line_of_a_request_has_its_id(
    captured: Captured, api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    # when an API request runs (SQL statements logged at DEBUG)
    response = api.get("/api/v1/clients", headers={"X-Request-ID": "trace-abc-123"})

    # then every line logged while it ran carries its id, the access line included
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-abc-123"
    lines = [r for r in captured.records() if r["request_id"] == "trace-abc-123"]
    assert any(r["logger"].startswith("sqlalchemy.engine") for r in lines)
    (access,) = [r for r in lines if r["logger"] == "portal.request"]
    assert access["message"] == "GET /api/v1/clients 200"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    # and lines logged outside the request have none
    logging.getLogger("tests.logs").info("after the request")
    assert captured.records()[-1]["request_id"] == "-"


def test_a_refused_request_still_has_an_id(client: FlaskClient) -> None:
    response = client.get("/api/v1/clients")  # no key
    assert response.status_code == 401
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


# -- formats --------------------------------------------------------------------------------------


def test_json_lines_are_one_object_each_with_the_fields(captured: Captured) -> None:
    logging.getLogger("tests.logs").warning("two\nlines", extra={"charge": "ch_1"})
    record = captured.records()[-1]
    assert record["level"] == "WARNING"
    assert record["logger"] == "tests.logs"
    assert record["message"] == "two\nlines"
    assert record["charge"] == "ch_1"
    assert record["time"].endswith("+00:00")
    assert len(captured.text.splitlines()) == len(captured.records())


def test_development_logs_text_production_json(database_url: str) -> None:
    text_app = make_test_app(database_url, ENV="development")
    assert isinstance(_portal_handler().formatter, logs._RedactingText)
    text_app.extensions["portal.engine"].dispose()
    json_app = make_test_app(database_url, LOG_FORMAT="json")
    assert isinstance(_portal_handler().formatter, logs._RedactingJson)
    json_app.extensions["portal.engine"].dispose()
    assert logs.log_format({"LOG_FORMAT": "auto", "ENV": "production"}) == "json"
    assert logs.log_format({"LOG_FORMAT": "auto", "ENV": "testing"}) == "json"


def test_production_refuses_text_logs(database_url: str) -> None:
    with pytest.raises(UnsafeConfiguration, match="LOG_FORMAT"):
        make_test_app(
            database_url,
            ENV="production",
            SECRET_KEY="p" * 40,
            LOG_FORMAT="text",
        )
    with pytest.raises(UnsafeConfiguration, match="LOG_FORMAT"):
        make_test_app(database_url, LOG_FORMAT="xml")


def test_the_gunicorn_dict_config_routes_gunicorn_through_the_portal_handler() -> None:
    # given gunicorn's loggers as gunicorn leaves them
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in ("gunicorn.error", "gunicorn.access", "")
    }
    level = logging.getLogger().level
    try:
        # when the dict is applied as gunicorn applies logconfig_dict
        logging.config.dictConfig(logs.gunicorn_logconfig_dict())

        # then
        for name in ("gunicorn.error", "gunicorn.access"):
            (handler,) = logging.getLogger(name).handlers
            assert isinstance(handler, logs.PortalLogHandler)
            assert logging.getLogger(name).propagate is False
        stream = io.StringIO()
        logging.getLogger("gunicorn.access").handlers[0].stream = stream
        logging.getLogger("gunicorn.access").info('"GET /l/%s HTTP/1.1" 303', "tok.en.x" * 4)
        record = json.loads(stream.getvalue())
        assert record["message"] == '"GET /l/[redacted] HTTP/1.1" 303'
    finally:
        for name, (handlers, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.propagate = propagate
        logging.getLogger().setLevel(level)


def test_the_delivery_worker_logs_json_lines(app: Flask, session, captured: Captured) -> None:
    # when the CLI worker runs once
    result = app.test_cli_runner().invoke(args=["deliver-webhooks", "--once"])

    # then its lines are JSON with the worker named
    assert result.exit_code == 0, result.output
    started, stopped = [r for r in captured.records() if r["logger"] == "portal.cli"]
    assert started["message"].startswith("delivery worker ")
    assert stopped["attempts"] == 0
    assert started["worker"] == stopped["worker"]
    assert started["request_id"] == "-"


# -- the whole pay flow ---------------------------------------------------------------------------


def test_the_whole_pay_flow_logs_no_secret(
    captured: Captured,
    app: Flask,
    api: APIClient,
    client: FlaskClient,
    receiver: Receiver,  # noqa: F811 (the fixture)
) -> None:
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=5)
    # given the back office's records, a webhook endpoint and a link, all through the API
    english = client_body(locale="en_US")  # the receipt's wording is checked below
    assert api.put("/api/v1/clients/C-LOG", json=english).status_code in (200, 201)
    assert api.put("/api/v1/matters/M-LOG", json=matter_body("C-LOG")).status_code in (200, 201)
    invoice = api.put(
        "/api/v1/invoices/INV-LOG", json=invoice_body("M-LOG", number="INV-LOG")
    ).get_json()
    assert invoice["balance_due"] == 125_000
    endpoint = api.post("/api/v1/webhook-endpoints", json={"url": receiver.url})
    assert endpoint.status_code == 201, endpoint.get_json()
    webhook_secret = endpoint.get_json()["secret"]
    receiver.secrets.append(webhook_secret)
    link = api.post("/api/v1/links", json={"client": "C-LOG"})
    assert link.status_code == 201, link.get_json()
    token = link.get_json()["url"].rsplit("/l/", 1)[1]

    # when the client opens the link and pays the invoice by card
    browser = Browser(client)
    opened = client.get(f"/l/{token}", base_url="https://localhost")
    assert opened.status_code == 303
    basket = browser.basket()
    review = basket.submit("all")  # "Pay everything due": the basket ticks nothing itself
    assert review.status_code == 200, text_of(review.text)
    done = browser.form(review, "confirm").fill(VISA).submit()
    assert done.status_code == 303, text_of(done.text)
    receipt = browser.get(location(done))
    assert "Thank you: your payment is complete" in text_of(receipt.text)
    # and the posting is delivered to the firm
    assert worker.deliver_due("log-test-worker") >= 1
    assert receiver.received and all(r.accepted_by for r in receiver.received)
    db.session.rollback()

    # then the logs saw it all: each request, the SQL and its parameters
    text = captured.text
    records = captured.records()
    paths = [r["message"] for r in records if r["logger"] == "portal.request"]
    assert "GET /l/[redacted] 303" in paths
    assert any(p.startswith("POST /pay") for p in paths)
    assert any(r["logger"] == "sqlalchemy.engine.Engine" for r in records)
    assert "INSERT INTO webhook_endpoint" in text or "INSERT INTO" in text
    assert any(r["logger"] == "portal.postings.delivery" for r in records)
    # and no secret is in them, in any spelling
    api_key = api.key
    for secret in (token, api_key, webhook_secret, webhook_secret.removeprefix("whsec_")):
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text
    digits = CARD.replace(" ", "")
    assert digits not in text
    assert CARD not in text
    assert digits not in re.sub(r"[\s-]", "", text)


def test_the_development_servers_request_lines_hide_the_link_token(
    committed_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # given a real link on the committed database, served by werkzeug's own server, whose
    # request lines ("GET /l/<token> HTTP/1.1" 303) go through the portal's handler
    with committed_app.app_context():
        firm = factories.firm_with_key("Werkzeug & Co")
        link = factories.link(factories.client(firm))
        token = links.token_for(link)
        db.session.commit()
    stream = io.StringIO()
    _portal_handler().stream = stream
    caplog.set_level(logging.DEBUG, logger="werkzeug")
    server = make_server("127.0.0.1", 0, committed_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        # when the link is opened over HTTP
        response = requests.get(
            f"http://127.0.0.1:{server.server_port}/l/{token}",
            allow_redirects=False,
            timeout=10,
        )
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        _portal_handler().stream = None

    # then werkzeug logged the request, without the token
    assert response.status_code == 303
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (served,) = [line for line in lines if line["logger"] == "werkzeug"]
    assert "GET /l/[redacted] HTTP/1.1" in served["message"]  # werkzeug may add colour codes
    assert token not in stream.getvalue()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_under_gunicorn_each_event_is_written_once(tmp_path) -> None:
    """gunicorn.conf.py installs the portal's handler (logconfig_dict) in the master, whose
    portal modules are then forgotten; the worker's app must replace that handler on the
    root logger, not add a second one beside it (every line was written twice)."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    port = _free_port()
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PORTAL_ENV": "testing",
        "PORTAL_LOG_FORMAT": "json",
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'logs.sqlite3'}",
        "PORTAL_SECRET_KEY": "s" * 40,
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    out = tmp_path / "gunicorn.log"
    with out.open("w") as sink:
        server = subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
            [str(gunicorn), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=root,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            request_id = "count-me-once-0001"
            deadline = time.monotonic() + 60
            while True:
                try:
                    answer = requests.get(
                        f"http://127.0.0.1:{port}/healthz",
                        headers={"X-Request-ID": request_id},
                        timeout=5,
                    )
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        pytest.fail(f"gunicorn did not start:\n{out.read_text()}")
                    time.sleep(0.2)
            assert answer.status_code == 200
            time.sleep(0.5)  # let the worker flush its line
        finally:
            server.terminate()
            server.wait(timeout=60)
    lines = [line for line in out.read_text().splitlines() if request_id in line]
    access = [line for line in lines if '"portal.request"' in line]
    assert len(access) == 1, out.read_text()
