"""Absolute addresses on the portal's public base URL (`BASE_URL`).

Every address that leaves the portal (client links, the pay button's pages, logos in emails, the
/check page named in emails) is built here, so they all follow one setting. Works inside and
outside a request (emails are also rendered by the CLI and the workers).
"""

from __future__ import annotations

from typing import Any

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
