"""Logging: JSON lines (or text in development), a request id on every line, secrets scrubbed.

Every process of the portal (gunicorn workers, `flask deliver-webhooks`, other CLI commands)
logs through one root handler installed by `configure`. Each record passes two filters on the
way out:

- `RequestIdFilter` adds `request_id`: the id of the request being served ("-" outside one).
  The id is the caller's `X-Request-ID` when it is a short, plain token (a proxy's or load
  balancer's id, so lines can be followed across hops), else a fresh random one; either way
  it is echoed in the response's `X-Request-ID` header.
- `RedactingFilter` is defence in depth: the portal never logs a link token, an API key, a
  webhook secret or a card number on purpose, but a library at DEBUG level (SQLAlchemy's
  parameters, werkzeug's request lines) or a careless message could. The filter renders the
  message with its arguments, scrubs anything shaped like those secrets, and stores the clean
  text; tracebacks are scrubbed by the formatters.

JSON is written by python-json-logger (one object per line: time, level, logger, message,
request_id and any `extra=` fields). gunicorn's own loggers get the same handler through
`gunicorn_logconfig_dict()` (for `logconfig_dict` in gunicorn.conf.py).
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from flask import Flask, Response, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

#: Where the request id is kept for the length of one request (request-scoped, unlike `g`,
#: which a test's outer application context shares between requests).
ENVIRON_KEY = "portal.request_id"
_STARTED_KEY = "portal.request_started"
HEADER = "X-Request-ID"
#: An incoming id is trusted only if it is short and plain: letters, digits, "-", "_", ".".
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")
NO_REQUEST = "-"
REDACTED = "[redacted]"

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "{levelname}{name}{message}{request_id}"

# What secrets look like. Link tokens are itsdangerous tokens: three base64url segments
# (payload, timestamp, signature); a link URL's path is scrubbed too, whatever follows /l/.
_SECRETS = re.compile(
    r"""
      \bmp_[A-Za-z0-9_-]{8,}                          # firm API keys
    | \bwhsec_[A-Za-z0-9+/=_-]{8,}                    # webhook signing secrets
    | \b[sr]k_(?:test|live)_[A-Za-z0-9]{8,}           # Stripe secret and restricted keys
    | (?<=/l/)[^\s/?"'#]+                             # the token in a link URL
    | \b[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{4,12}\.[A-Za-z0-9_-]{20,}  # any itsdangerous token
    | (?i:\bbearer\s+)\S+                             # Authorization header values
    | (?<=account_number=)\d+                        # bank account numbers (the Stripe SDK's
    | (?<=account_number%5D=)\d+                     # DEBUG "Post details", form-encoded)
    | (?<=account_number\]=)\d+
    """,
    re.VERBOSE,
)
# 13 to 19 digits, alone or in groups split by single spaces or dashes (as people type cards).
_DIGIT_RUN = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d])")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every card number passes."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group())
    return REDACTED if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()


def redact(text: str) -> str:
    """`text` with anything shaped like a portal secret or a card number replaced."""
    text = _SECRETS.sub(
        lambda m: ("Bearer " + REDACTED) if m.group().lower().startswith("bearer") else REDACTED,
        text,
    )
    return _DIGIT_RUN.sub(_card, text)


class RedactingFilter(logging.Filter):
    """Render each record's message and scrub it (see `redact`), extra fields included."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is, scrubbed
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


class RequestIdFilter(logging.Filter):
    """Add `request_id` to every record: the current request's id, or "-" outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class _RedactingJson(JsonFormatter):
    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return redact(str(super().formatException(ei)))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return redact(str(super().formatStack(stack_info)))


class _RedactingText(logging.Formatter):
    def formatException(self, ei: Any) -> str:  # noqa: N802
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return redact(super().formatStack(stack_info))


def json_formatter() -> logging.Formatter:
    return _RedactingJson(
        JSON_FIELDS,
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601 in UTC
    )


def text_formatter() -> logging.Formatter:
    return _RedactingText(TEXT_FORMAT)


class PortalLogHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to the current `sys.stderr` (looked up on each record, as logging's last-resort
    handler does, so test capture and reopened streams never leave it writing to a closed one).
    """

    def __init__(self, fmt: str = "json", stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._fixed_stream = stream
        self.setFormatter(json_formatter() if fmt == "json" else text_formatter())
        self.addFilter(RequestIdFilter())
        self.addFilter(RedactingFilter())

    @property  # type: ignore[override,unused-ignore]
    def stream(self) -> TextIO:
        return self._fixed_stream or sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed_stream = value


def is_portal_handler(handler: logging.Handler) -> bool:
    """Whether `handler` is a PortalLogHandler, from this import of the module or another.

    Under gunicorn the master installs one (gunicorn.conf.py's logconfig_dict) and then
    forgets the portal's modules, so the worker imports this module afresh and its class is
    a different object: an isinstance check missed the master's handler, and the root logger
    ended up with two, writing every line twice.
    """
    return any(
        cls.__name__ == PortalLogHandler.__name__ and cls.__module__ == __name__
        for cls in type(handler).__mro__
    )


def current_request_id() -> str:
    if has_request_context():
        return str(request.environ.get(ENVIRON_KEY, NO_REQUEST))
    return NO_REQUEST


def configure(fmt: str = "json", level: str = "INFO") -> PortalLogHandler:
    """Install the portal's handler on the root logger, replacing one installed before."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if is_portal_handler(handler):
            root.removeHandler(handler)
    handler = PortalLogHandler(fmt)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def log_format(config: Mapping[str, Any]) -> str:
    """The configured format; "auto" is text in development and JSON everywhere else."""
    fmt = str(config["LOG_FORMAT"]).lower()
    if fmt == "auto":
        return "text" if config["ENV"] == "development" else "json"
    return fmt


def gunicorn_logconfig_dict(fmt: str = "json", level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for gunicorn's `logconfig_dict` setting.

    gunicorn's error and access logs go through the same handler, filters and format as the
    app's (the access log's request line is scrubbed like any message, so a link's token
    never reaches it), and the root logger gets that handler too.
    """
    handler = {"()": PortalLogHandler, "fmt": fmt}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"portal": handler},
        "root": {"level": level, "handlers": ["portal"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["portal"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["portal"], "propagate": False},
        },
    }


#: One line per request, the portal's access log ("GET /matters 200" with the time taken):
#: gunicorn keeps no access log unless told to, and its line would not carry the request id.
access_log = logging.getLogger("portal.request")


def _assign_request_id() -> None:
    request.environ[_STARTED_KEY] = time.perf_counter()
    incoming = request.headers.get(HEADER, "")
    # Kept only if plain and not shaped like a secret (it is logged on every line).
    if SAFE_REQUEST_ID.fullmatch(incoming) and redact(incoming) == incoming:
        request.environ[ENVIRON_KEY] = incoming
    else:
        request.environ[ENVIRON_KEY] = secrets.token_hex(16)


def _finish_request(response: Response) -> Response:
    request_id = request.environ.get(ENVIRON_KEY)
    if request_id:
        response.headers[HEADER] = request_id
    started = request.environ.get(_STARTED_KEY)
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    # The path only: a query string is the caller's to fill and is not worth the risk.
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={"status": response.status_code, "duration_ms": elapsed_ms},
    )
    return response


def init_app(app: Flask) -> None:
    """Configure logging from the settings and give every request an id (call it first)."""
    configure(log_format(app.config), str(app.config["LOG_LEVEL"]))
    # First of all before-request hooks, so a request refused early (a rate limit) has an id.
    app.before_request_funcs.setdefault(None, []).insert(0, _assign_request_id)
    app.after_request(_finish_request)
