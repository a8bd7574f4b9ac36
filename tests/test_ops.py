"""Health endpoints and the headers every response carries."""

from __future__ import annotations

import pytest
from flask import Flask

from portal import DatabaseId
from tests.conftest import make_test_app


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok\n"


def test_readyz_when_migrated(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready"}


def test_readyz_reports_pending_migrations(tmp_path) -> None:
    app = make_test_app(f"sqlite:///{tmp_path}/empty.sqlite3")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["database"] == "migrations pending"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/no-such-page", "/api/v1/nothing"])
def test_security_headers_on_every_response(client, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert headers["Cache-Control"] == "no-store"


def test_unknown_api_path_is_problem_json(client) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 404


def test_unexpected_error_is_a_plain_500(fresh_app: Flask) -> None:
    @fresh_app.get("/boom-for-test")
    def boom() -> str:
        raise RuntimeError("secret detail must not leak")

    response = fresh_app.test_client().get("/boom-for-test")
    assert response.status_code == 500
    assert "secret detail" not in response.text


def test_ids_too_large_for_the_database_are_not_found(app: Flask, client) -> None:
    """Every <int:...> route answers 404 for an id no database column can hold, never a 500."""
    huge = 10**25
    checked = 0
    for rule in app.url_map.iter_rules():
        if not any(isinstance(c, DatabaseId) for c in rule._converters.values()):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", str(huge)).replace(f"<{arg}>", "x")
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(path, method=method)
        assert response.status_code == 404, (path, response.status_code)
        checked += 1
    assert checked >= 3
