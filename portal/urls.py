"""Absolute addresses on the portal's public base URL (`BASE_URL`).

Every address that leaves the portal (client links, the pay button's pages, logos in emails, the
/check page named in emails) is built here, so they all follow one setting. Works inside and
outside a request (emails are also rendered by the CLI and the workers).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, url_for


def base_url() -> str:
    """The configured public base URL, without a trailing slash."""
    return str(current_app.config["BASE_URL"]).rstrip("/")


def absolute(path: str) -> str:
    """`path` (starting with "/") on the public base URL."""
    return base_url() + path


def absolute_for(endpoint: str, **values: Any) -> str:
    """The public, absolute address of a Flask endpoint (its path from `url_for`)."""
    return absolute(url_for(endpoint, **values))


def is_local_path(target: str | None) -> bool:
    """Whether `target` is a path on this site, safe to redirect to (no open redirect).

    Browsers drop tabs and newlines from URLs ("/<tab>/evil.example" would become "//..."), and
    treat a backslash as a slash, so any of those refuses the target too.
    """
    parts = urlsplit(target or "")
    return not (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in target)
        or parts.scheme
        or parts.netloc
    )
