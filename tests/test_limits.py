"""Abuse limits: over the limit a person gets a friendly 429 page and the API problem+json,
both with Retry-After; counts are per IP for pages and per key for the API; several
processes share one count through Redis."""

from __future__ import annotations

import socket
import uuid

from flask.testing import FlaskClient

from tests import factories
from tests.conftest import APIClient, make_test_app, unavailable


def test_link_opening_over_the_limit_is_a_friendly_429(client: FlaskClient) -> None:
    # given a limit of two openings a minute
    client.application.config["RATELIMIT_LINK_OPEN"] = "2 per minute"
    # when the same address tries three (made-up) links
    codes = [client.get(f"/l/not-a-token-{i}").status_code for i in range(3)]
    # then the third is refused with a page that says to wait, and when
    assert codes == [404, 404, 429]
    refused = client.get("/l/not-a-token-4")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.mimetype == "text/html"
    assert "Too many attempts" in refused.get_data(as_text=True)


def test_answers_under_the_limit_carry_no_retry_after(client: FlaskClient) -> None:
    response = client.get("/l/not-a-token")
    assert response.status_code == 404
    assert "Retry-After" not in response.headers


def test_api_is_limited_per_key_with_problem_json(
    client: FlaskClient, api: APIClient, other_api: APIClient
) -> None:
    # given a limit of three calls a minute per key
    client.application.config["RATELIMIT_API"] = "3 per minute"
    # when one firm makes four calls
    codes = [api.get("/api/v1/clients").status_code for _ in range(4)]
    # then its fourth is refused in problem+json, and another firm's key still gets through
    assert codes == [200, 200, 200, 429]
    refused = api.get("/api/v1/clients")
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["status"] == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert other_api.get("/api/v1/clients").status_code == 200


def test_payment_attempts_are_limited(client: FlaskClient, firm: factories.FirmWithKey) -> None:
    client.application.config["RATELIMIT_PAYMENT_ATTEMPT"] = "1 per minute"
    client.application.config["WTF_CSRF_ENABLED"] = False  # the limit, not the form, is tested
    # confirm without a session is a 401 page, but it still counts as an attempt
    assert client.post("/pay/confirm", data={}).status_code == 401
    assert client.post("/pay/confirm", data={}).status_code == 429


def _redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def test_processes_share_one_count_through_redis(database_url: str) -> None:
    if not _redis_reachable():
        unavailable("Redis is not reachable on 127.0.0.1:6379")
    # given two apps (two processes' worth of limiter) pointed at the same Redis, with a
    # prefix of their own so parallel runs never count each other
    settings = {
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
        "RATELIMIT_KEY_PREFIX": f"matterpay-test-{uuid.uuid4().hex}",
        "RATELIMIT_LINK_OPEN": "3 per minute",
        "RATELIMIT_SWALLOW_ERRORS": False,
    }
    first = make_test_app(database_url, **settings).test_client()
    second = make_test_app(database_url, **settings).test_client()
    # when they share four openings from one address
    codes = [first.get("/l/x1").status_code, second.get("/l/x2").status_code]
    codes += [first.get("/l/x3").status_code, second.get("/l/x4").status_code]
    # then the fourth is refused, whichever process served it
    assert codes == [404, 404, 404, 429]
