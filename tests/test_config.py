"""Configuration: safe development defaults, environment overrides, refusal of unsafe production."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.config import DEV_SECRET_KEY, UnsafeConfiguration


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PORTAL_LINK_MAX_AGE_SECONDS", "3600")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://pay.example.com")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3"})
    assert app.config["LINK_MAX_AGE_SECONDS"] == 3600
    assert app.config["BASE_URL"] == "https://pay.example.com"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_production_refuses_the_default_secret(tmp_path) -> None:
    with pytest.raises(UnsafeConfiguration, match="SECRET_KEY"):
        create_app(
            {
                "ENV": "production",
                "SECRET_KEY": DEV_SECRET_KEY,
                "DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3",
            }
        )


def test_production_refuses_a_short_secret(tmp_path) -> None:
    with pytest.raises(UnsafeConfiguration, match="SECRET_KEY"):
        create_app(
            {
                "ENV": "production",
                "SECRET_KEY": "short",
                "DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3",
            }
        )


def test_production_starts_with_a_real_secret(tmp_path) -> None:
    app = create_app(
        {
            "ENV": "production",
            "SECRET_KEY": "x" * 48,
            "DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3",
        }
    )
    assert app.config["ENV"] == "production"


def test_links_may_not_outlive_24_hours(tmp_path) -> None:
    with pytest.raises(UnsafeConfiguration, match="86400"):
        create_app(
            {"LINK_MAX_AGE_SECONDS": 86401, "DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3"}
        )


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ("development", "sk_live_abc"),
        ("production", "sk_test_abc"),
    ],
)
def test_stripe_keys_must_match_the_environment(tmp_path, env: str, key: str) -> None:
    with pytest.raises(UnsafeConfiguration, match="STRIPE_SECRET_KEY"):
        create_app(
            {
                "ENV": env,
                "SECRET_KEY": "x" * 48,
                "STRIPE_SECRET_KEY": key,
                "DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3",
            }
        )


def test_notified_event_keys_are_kept_at_least_30_days(tmp_path) -> None:
    with pytest.raises(UnsafeConfiguration, match="NOTIFIED_EVENTS_RETENTION_DAYS"):
        create_app(
            {
                "NOTIFIED_EVENTS_RETENTION_DAYS": 29,
                "DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3",
            }
        )
