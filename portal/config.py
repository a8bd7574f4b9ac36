"""Settings: documented defaults, then `PORTAL_*` environment variables, then test overrides.

The README's configuration table is generated from `Defaults` (see `portal.cli.config_table`),
so every setting documented there is one defined here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from portal import clock

#: The development secret. The app refuses to start in production while it is in use.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 (a known, refused default)

MAX_LINK_SECONDS = 24 * 3600


class Defaults:
    """Every setting, its default, and (in the comment) what it is for."""

    #: "development", "testing" or "production". Production refuses unsafe settings.
    ENV = "development"
    #: Signs client links and session cookies. Must be set (long and random) in production.
    SECRET_KEY = DEV_SECRET_KEY
    #: SQLAlchemy URL. SQLite under instance/ is the embedded default; production uses PostgreSQL.
    DATABASE_URL = "sqlite:///instance/portal.sqlite3"
    #: Public base URL used in links sent to clients (no trailing slash).
    BASE_URL = "http://127.0.0.1:5000"
    #: Default and maximum lifetime of a client link, in seconds (the domain allows 24 hours).
    LINK_MAX_AGE_SECONDS = MAX_LINK_SECONDS
    #: Send the session cookie over HTTPS only. Browsers treat 127.0.0.1 as secure.
    SESSION_COOKIE_SECURE = True
    #: Reverse proxies in front of the portal that each append to X-Forwarded-For and set
    #: X-Forwarded-Proto (nginx, a load balancer). 0 trusts no forwarded header.
    REVERSE_PROXIES = 0
    #: Largest request body accepted, in bytes (the bulk sync takes thousands of records).
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    #: Most records one bulk sync request may carry.
    SYNC_MAX_RECORDS = 20_000
    #: Default page size of API list endpoints (the maximum is 500).
    API_PAGE_SIZE = 100
    #: Whether clients may pay part of an invoice (firm settings will refine this).
    PAYMENTS_ALLOW_PARTIAL = True
    #: Smallest payment line or charge, in minor units.
    PAYMENTS_MINIMUM_MINOR = 100
    #: Declined attempts allowed per link in an hour before payments pause (card testing).
    PAYMENT_FAILURES_PER_LINK_PER_HOUR = 5
    #: Declined attempts allowed per client IP in an hour.
    PAYMENT_FAILURES_PER_IP_PER_HOUR = 20
    #: Declined attempts allowed per firm in an hour on its public pay page, from every IP
    #: together (a card tester rotating addresses); client links count per link instead.
    PAYMENT_FAILURES_PER_FIRM_PER_HOUR = 50
    #: Seconds a sandbox ACH debit stays processing before `sandbox-settle` settles it.
    SANDBOX_ACH_SETTLE_SECONDS = 0
    #: SMTP host for outgoing email; empty writes messages to instance/outbox instead.
    MAIL_SERVER = ""
    #: SMTP port.
    MAIL_PORT = 25
    #: Use STARTTLS on the SMTP connection.
    MAIL_USE_TLS = False
    #: SMTP user name, if the server wants one.
    MAIL_USERNAME = ""
    #: SMTP password (a secret: set it in the environment, never in files).
    MAIL_PASSWORD = ""
    #: The address every email comes from; its display name is the portal's name. Emails say
    #: "Firm name via portal name" with the firm's contact email as Reply-To.
    MAIL_FROM = "MatterPay <no-reply@localhost>"
    #: The IANA time zone of a firm that has not set its own (`time_zone` on PATCH /firm): the
    #: days of its postings, reports, due dates and caps, and the times on its pages and emails.
    DEFAULT_TIME_ZONE = "UTC"
    #: Seconds to wait for the mail server on each step of a send (connect, each command).
    MAIL_TIMEOUT_SECONDS = 10
    #: Attempts at one email before it is marked failed (5xx answers fail it at once).
    MAIL_MAX_ATTEMPTS = 16
    #: Wait before the second attempt, in seconds; it doubles for each one after (with jitter).
    MAIL_RETRY_BASE_SECONDS = 30
    #: Longest wait between two attempts at one email, in seconds.
    MAIL_RETRY_MAX_SECONDS = 3600
    #: Emails a worker claims, sends over one connection and records together (1 to 500).
    MAIL_BATCH_SIZE = 20
    #: Days sent and failed emails are kept in the outbox (for support) before they are purged.
    MAIL_RETENTION_DAYS = 30
    #: Also send an email right after the commit that queued it, from the process that wrote
    #: it: "auto" is on in development and testing and off in production (the worker sends).
    #: Never on in production: a slow mail server would hold web requests.
    MAIL_DELIVER_AFTER_COMMIT = "auto"
    #: Locale used when no switcher choice, client record or browser language is supported.
    DEFAULT_LOCALE = "en_US"
    #: Stripe's API address; tests point it at localstripe. Must be https:// in production.
    STRIPE_API_BASE = "https://api.stripe.com"
    #: The platform's secret key: sk_test_... outside production, sk_live_... in production.
    STRIPE_SECRET_KEY = ""
    #: The platform's publishable key (pk_...) for Stripe.js.
    STRIPE_PUBLISHABLE_KEY = ""
    #: whsec_ secret of the Stripe webhook endpoint; two, comma-separated, while rolling one.
    STRIPE_WEBHOOK_SECRET = ""
    #: JSON: merchant account id -> {"secret_key" or "connect_account", "webhook_secret", ...}.
    STRIPE_ACCOUNTS = "{}"
    #: Seconds to wait for a firm's webhook receiver to connect and answer (spec: 15 to 30).
    WEBHOOK_TIMEOUT_SECONDS = 15
    #: Let webhook URLs use plain http and reach loopback or private addresses. Only for
    #: development, tests, or a portal that runs inside the firm's own network.
    WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    #: A/R message on postings for firms that have not set their own.
    WEBHOOK_DEFAULT_AR_MESSAGE = "Portal payment"
    #: Days a delivered posting is kept (delivery log, replay) before it is purged; 30 or more.
    WEBHOOK_RETENTION_DAYS = 30
    #: Deliveries a webhook worker claims, sends and records together (1 to 500).
    WEBHOOK_BATCH_SIZE = 50
    #: Days the key of an event staff were emailed about is kept (so a processor's re-delivery
    #: emails nobody twice) before the delivery worker purges it; 30 or more, well past any
    #: processor's retries (Stripe's: three days).
    NOTIFIED_EVENTS_RETENTION_DAYS = 90
    #: Where abuse limits count: memory:// for one process; redis://host:6379 when several
    #: processes serve (gunicorn workers, hosts), so they share one count.
    RATELIMIT_STORAGE_URI = "memory://"
    #: Turn abuse limits off (benchmarks only; never in production).
    RATELIMIT_ENABLED = True
    #: Link openings per client IP.
    RATELIMIT_LINK_OPEN = "30 per minute; 300 per day"
    #: Payment submissions (the confirm step) per client IP.
    RATELIMIT_PAYMENT_ATTEMPT = "10 per minute; 60 per hour"
    #: "Email me a fresh link" requests per client IP (a per-link daily cap applies as well).
    RATELIMIT_FRESH_LINK = "5 per hour"
    #: Days after its creation an evergreen replenishment request is due.
    TRUST_REQUEST_EVERGREEN_DUE_DAYS = 7
    #: Fresh links one expired or revoked link may have emailed to its client per day.
    FRESH_LINKS_PER_LINK_PER_DAY = 3
    #: Lookups on the public "is this link genuine?" page (/check) per client IP.
    RATELIMIT_LINK_CHECK = "20 per minute; 200 per day"
    #: API requests per API key.
    RATELIMIT_API = "1200 per minute"
    #: Smallest payment on a firm's public pay page (/pay/<slug>), in minor units: stricter
    #: than PAYMENTS_MINIMUM_MINOR, against card testing with tiny charges.
    PAY_BUTTON_MINIMUM_MINOR = 500
    #: Public pay page reviews and payments per client IP.
    RATELIMIT_PAY_BUTTON_IP = "5 per minute; 30 per hour"
    #: Public pay page reviews and payments per firm, from all IPs together.
    RATELIMIT_PAY_BUTTON_FIRM = "30 per minute; 300 per hour"
    #: Let firms register http:// loopback origins (http://127.0.0.1:8080) for the pay button.
    #: Only for development; tests allow them anyway.
    PAY_BUTTON_ALLOW_LOOPBACK_ORIGINS = False
    #: Log lines as "json" (one object per line) or "text"; "auto" is text in development and
    #: JSON everywhere else. Production takes JSON only.
    LOG_FORMAT = "auto"
    #: Lowest level logged: DEBUG, INFO, WARNING or ERROR.
    LOG_LEVEL = "INFO"
    #: Staff must sign in to the console with an authenticator code: "auto" is on in production
    #: and off in development and testing (where a user without an authenticator, such as the
    #: demo's admin, signs in with the password alone). Production refuses "off".
    CONSOLE_REQUIRE_MFA = "auto"
    #: Console sign-in attempts per client IP (each account also locks after five failures).
    RATELIMIT_CONSOLE_SIGN_IN = "10 per minute; 100 per hour"
    #: "Forgot your password?" emails asked for per client IP.
    RATELIMIT_CONSOLE_RESET = "5 per hour"


#: Settings that are not PORTAL_* configurable because they are fixed by design.
_FIXED: dict[str, Any] = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",  # Strict would drop the cookie after the email's redirect.
    "SESSION_COOKIE_NAME": "matterpay_session",
    "JSON_SORT_KEYS": False,
    "BABEL_TRANSLATION_DIRECTORIES": "translations",
}


def settings() -> list[tuple[str, Any, str]]:
    """List (name, default, description) for every documented setting, in source order."""
    import inspect

    lines = inspect.getsource(Defaults).splitlines()
    out: list[tuple[str, Any, str]] = []
    comment = ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#:"):
            comment = f"{comment} {stripped[2:].strip()}".strip()
        elif "=" in stripped and stripped.split("=")[0].strip().isupper():
            name = stripped.split("=")[0].strip()
            out.append((name, getattr(Defaults, name), comment))
            comment = ""
    return out


def _coerce(name: str, raw: str) -> Any:
    default = getattr(Defaults, name)
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    return raw


def load(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill `app.config` from defaults, the environment and `overrides`, then check it."""
    app.config.from_object(Defaults)
    for name, _default, _doc in settings():
        raw = os.environ.get(f"PORTAL_{name}")
        if raw is not None:
            app.config[name] = _coerce(name, raw)
    app.config.update(_FIXED)
    app.config.update(overrides or {})
    app.config["TESTING"] = app.config["ENV"] == "testing" or app.config.get("TESTING", False)
    check(app.config)


_ON = {"on", "true", "1", "yes"}
_OFF = {"off", "false", "0", "no"}


def console_requires_mfa(config: Mapping[str, Any]) -> bool:
    """CONSOLE_REQUIRE_MFA as a yes or no ("auto": only in production)."""
    value = str(config["CONSOLE_REQUIRE_MFA"]).strip().lower()
    if value == "auto":
        return config["ENV"] == "production"
    return value in _ON


class UnsafeConfiguration(RuntimeError):
    """The configuration would be unsafe to serve with."""


def check(config: Mapping[str, Any]) -> None:
    """Refuse settings that would break the domain's rules or be unsafe in production."""
    if config["ENV"] not in {"development", "testing", "production"}:
        raise UnsafeConfiguration("PORTAL_ENV must be development, testing or production")
    if not 60 <= int(config["LINK_MAX_AGE_SECONDS"]) <= MAX_LINK_SECONDS:
        raise UnsafeConfiguration("PORTAL_LINK_MAX_AGE_SECONDS must be between 60 and 86400")
    if not 0 <= int(config["REVERSE_PROXIES"]) <= 5:
        raise UnsafeConfiguration("PORTAL_REVERSE_PROXIES must be between 0 and 5")
    if int(config["WEBHOOK_RETENTION_DAYS"]) < 30:
        raise UnsafeConfiguration("PORTAL_WEBHOOK_RETENTION_DAYS must be at least 30")
    if int(config["NOTIFIED_EVENTS_RETENTION_DAYS"]) < 30:
        raise UnsafeConfiguration("PORTAL_NOTIFIED_EVENTS_RETENTION_DAYS must be at least 30")
    if not 1 <= int(config["WEBHOOK_TIMEOUT_SECONDS"]) <= 30:
        raise UnsafeConfiguration("PORTAL_WEBHOOK_TIMEOUT_SECONDS must be between 1 and 30")
    if not 1 <= int(config["WEBHOOK_BATCH_SIZE"]) <= 500:
        raise UnsafeConfiguration("PORTAL_WEBHOOK_BATCH_SIZE must be between 1 and 500")
    if not 1 <= int(config["MAIL_TIMEOUT_SECONDS"]) <= 120:
        raise UnsafeConfiguration("PORTAL_MAIL_TIMEOUT_SECONDS must be between 1 and 120")
    if not 1 <= int(config["MAIL_MAX_ATTEMPTS"]) <= 100:
        raise UnsafeConfiguration("PORTAL_MAIL_MAX_ATTEMPTS must be between 1 and 100")
    if not 1 <= int(config["MAIL_RETRY_BASE_SECONDS"]) <= int(config["MAIL_RETRY_MAX_SECONDS"]):
        raise UnsafeConfiguration(
            "PORTAL_MAIL_RETRY_BASE_SECONDS must be at least 1 and at most "
            "PORTAL_MAIL_RETRY_MAX_SECONDS"
        )
    if not 1 <= int(config["MAIL_BATCH_SIZE"]) <= 500:
        raise UnsafeConfiguration("PORTAL_MAIL_BATCH_SIZE must be between 1 and 500")
    if int(config["MAIL_RETENTION_DAYS"]) < 1:
        raise UnsafeConfiguration("PORTAL_MAIL_RETENTION_DAYS must be at least 1")
    after_commit = str(config["MAIL_DELIVER_AFTER_COMMIT"]).strip().lower()
    if after_commit not in {"auto", "on", "off", "true", "false", "1", "0", "yes", "no"}:
        raise UnsafeConfiguration("PORTAL_MAIL_DELIVER_AFTER_COMMIT must be auto, on or off")
    if str(config["CONSOLE_REQUIRE_MFA"]).strip().lower() not in {"auto"} | _ON | _OFF:
        raise UnsafeConfiguration("PORTAL_CONSOLE_REQUIRE_MFA must be auto, on or off")
    try:
        clock.zone_named(str(config["DEFAULT_TIME_ZONE"]))
    except ValueError:
        raise UnsafeConfiguration(
            "PORTAL_DEFAULT_TIME_ZONE must be an IANA time zone such as America/New_York"
        ) from None
    if str(config["LOG_FORMAT"]).lower() not in {"auto", "json", "text"}:
        raise UnsafeConfiguration("PORTAL_LOG_FORMAT must be auto, json or text")
    if str(config["LOG_LEVEL"]).upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise UnsafeConfiguration("PORTAL_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
    stripe_key = str(config.get("STRIPE_SECRET_KEY") or "")
    is_live = stripe_key.startswith(("sk_live_", "rk_live_"))
    if stripe_key and is_live != (config["ENV"] == "production"):
        raise UnsafeConfiguration(
            "PORTAL_STRIPE_SECRET_KEY: live keys only in production, test keys everywhere else"
        )
    if config["ENV"] == "production":
        secret = str(config["SECRET_KEY"])
        if secret == DEV_SECRET_KEY or len(secret) < 32:
            raise UnsafeConfiguration(
                "PORTAL_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production"
            )
        if str(config["LOG_FORMAT"]).lower() == "text":
            raise UnsafeConfiguration("PORTAL_LOG_FORMAT must be json (or auto) in production")
        if after_commit in {"on", "true", "1", "yes"}:
            raise UnsafeConfiguration(
                "PORTAL_MAIL_DELIVER_AFTER_COMMIT may not be on in production: the email "
                "worker sends (a slow mail server must not hold web requests)"
            )
        if not console_requires_mfa(config):
            raise UnsafeConfiguration(
                "PORTAL_CONSOLE_REQUIRE_MFA may not be off in production: staff sign in to the "
                "console with an authenticator code"
            )
        if not config["SESSION_COOKIE_SECURE"]:
            raise UnsafeConfiguration("PORTAL_SESSION_COOKIE_SECURE may not be off in production")
