"""Postings settings: safe defaults, and limits the portal refuses to start without."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.config import UnsafeConfiguration


def test_defaults_are_the_safe_ones(tmp_path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3"})
    assert app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] is False
    assert app.config["WEBHOOK_TIMEOUT_SECONDS"] == 15
    assert app.config["WEBHOOK_RETENTION_DAYS"] == 30
    assert app.config["WEBHOOK_DEFAULT_AR_MESSAGE"] == "Portal payment"


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("WEBHOOK_RETENTION_DAYS", 29, "at least 30"),
        ("WEBHOOK_TIMEOUT_SECONDS", 0, "between 1 and 30"),
        ("WEBHOOK_TIMEOUT_SECONDS", 31, "between 1 and 30"),
    ],
)
def test_unsafe_values_are_refused(tmp_path, name: str, value: int, complaint: str) -> None:
    with pytest.raises(UnsafeConfiguration, match=complaint):
        create_app({name: value, "DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3"})


def test_the_environment_can_allow_private_targets(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PORTAL_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3"})
    assert app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] is True
