"""The console's configuration and the demo: MFA required in production, the demo admin's
address printed by `flask demo`, and signing in without an authenticator where allowed."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from portal import config
from portal.console.auth import bp
from portal.staff import tokens
from tests.console.conftest import Console


def _production(**overrides: object) -> dict[str, object]:
    settings = {
        "ENV": "production",
        "SECRET_KEY": "x" * 40,
        "LOG_FORMAT": "json",
        "MAIL_DELIVER_AFTER_COMMIT": "auto",
        "STRIPE_SECRET_KEY": "",
    }
    settings.update(overrides)
    values = {name: default for name, default, _ in config.settings()}
    values.update(settings)
    return values


def test_production_refuses_to_start_without_mfa() -> None:
    with pytest.raises(config.UnsafeConfiguration, match="CONSOLE_REQUIRE_MFA"):
        config.check(_production(CONSOLE_REQUIRE_MFA="off"))
    config.check(_production(CONSOLE_REQUIRE_MFA="auto"))
    assert config.console_requires_mfa(_production())


@pytest.mark.parametrize(
    ("env", "value", "required"),
    [
        ("development", "auto", False),
        ("testing", "auto", False),
        ("development", "on", True),
        ("production", "auto", True),
    ],
)
def test_mfa_is_required_where_configured(env: str, value: str, required: bool) -> None:
    assert config.console_requires_mfa({"ENV": env, "CONSOLE_REQUIRE_MFA": value}) is required


def test_an_unknown_mfa_setting_is_refused() -> None:
    with pytest.raises(config.UnsafeConfiguration):
        config.check({**_production(ENV="development"), "CONSOLE_REQUIRE_MFA": "maybe"})


def test_the_demo_prints_how_to_sign_in_to_the_console(app: Flask, session, client) -> None:  # type: ignore[no-untyped-def]
    output = app.test_cli_runner().invoke(args=["demo"]).output
    assert "The firm's console: http://localhost/console/sign-in" in output
    found = re.search(r"email (\S+), password (\S+) ", output)
    assert found, output
    assert "leave the code empty" in output
    # and that is how the demo admin signs in, in development, with the page saying so
    browser = Console(client)
    page = browser.get("/console/sign-in").get_data(as_text=True)
    assert "signs in with email and password; leave the code empty" in page
    answer = browser.sign_in(found.group(1), found.group(2).rstrip(","), "")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    dashboard = browser.get("/console/").get_data(as_text=True)
    assert "You signed in without an authenticator code" in dashboard


def test_the_demo_admin_must_enrol_where_mfa_is_required(app: Flask, session, client) -> None:  # type: ignore[no-untyped-def]
    app.config["CONSOLE_REQUIRE_MFA"] = "on"
    output = app.test_cli_runner().invoke(args=["demo"]).output
    assert "set up an authenticator app" in output
    found = re.search(r"email (\S+), password (\S+) ", output)
    assert found
    browser = Console(client)
    assert "leave the code empty" not in browser.get("/console/sign-in").get_data(as_text=True)
    answer = browser.sign_in(found.group(1), found.group(2).rstrip(","), "")
    assert answer.headers["Location"] == "/console/enrol"


def test_the_emailed_paths_are_the_consoles_routes(app: Flask) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert f"{tokens.INVITATION_PATH}/<token>" in rules
    assert f"{tokens.RESET_PATH}/<token>" in rules
    assert bp.url_prefix == "/console"
