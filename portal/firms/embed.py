"""The pay button a firm pastes on its website: the script's file, its integrity hash, and the
portal's public URLs the button and its snippet name.

Below the faces: the pay button's own pages (portal.paybutton) serve the script, and the API
(portal.api.branding) hands firms the exact snippet; neither imports the other.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from flask import current_app, url_for

from portal.db import PROJECT_ROOT
from portal.firms.models import Firm

#: The embed script, versioned by its path: v1 never changes once published (its SRI hash
#: is in the README); a new behaviour is a new file.
EMBED_FILES = {"v1": PROJECT_ROOT / "static" / "embed" / "v1.js"}


def embed_path(version: str) -> Path:
    return EMBED_FILES[version]


def embed_integrity(version: str = "v1") -> str:
    """The Subresource Integrity value of the embed script (sha384, base64)."""
    digest = hashlib.sha384(embed_path(version).read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on the portal's public address (BASE_URL), as links to clients are."""
    return str(current_app.config["BASE_URL"]) + url_for(endpoint, **values)


def embed_snippet(firm: Firm, version: str = "v1") -> str:
    """The exact tag the firm pastes on its website (the API's `embed_snippet`, the console's
    Settings page and the README show this same text)."""
    script = public_url("paybutton.embed_script", version=version)
    return (
        f'<script src="{script}" integrity="{embed_integrity(version)}" '
        f'crossorigin="anonymous" data-firm="{firm.slug}" defer></script>'
    )


def logo_url(firm: Firm) -> str | None:
    """The absolute, cacheable address of the firm's logo; None without a logo."""
    if not firm.logo_digest:
        return None
    return public_url("paybutton.logo", slug=firm.slug, digest=firm.logo_digest)
