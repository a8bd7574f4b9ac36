"""A firm's public face: name, brand colour, logo, and the website origins of its pay button.

Everything here is checked before it is stored. A colour must keep white text readable on it
(WCAG 2 contrast of at least 4.5:1), a logo must be a real PNG or JPEG of a sensible size (its
magic bytes and Pillow's decoding decide, never the declared type), and an origin must be
exactly `https://host[:port]`; plain http only for loopback hosts in tests or when
PAY_BUTTON_ALLOW_LOOPBACK_ORIGINS is on.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from flask import current_app
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from portal import clock, colors, urls
from portal.audit.services import Actor
from portal.db import db
from portal.errors import NotFound, ValidationFailed
from portal.firms.models import Firm, FirmLogo
from portal.firms.services import record_firm_changes
from portal.text import clean_text

#: WCAG 2 AA contrast for normal text.
MIN_CONTRAST = colors.TEXT_CONTRAST
#: Largest logo accepted, in bytes.
MAX_LOGO_BYTES = 1024 * 1024
#: Smallest and largest logo sides, in pixels.
MIN_LOGO_SIDE = 16
MAX_LOGO_SIDE = 4096
#: Most website origins one firm may register.
MAX_ORIGINS = 20

_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")
_MAGIC = {b"\x89PNG\r\n\x1a\n": ("image/png", "PNG"), b"\xff\xd8\xff": ("image/jpeg", "JPEG")}
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})
_HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


# -- colour ---------------------------------------------------------------------------------


def contrast_with_white(colour: str) -> float:
    """WCAG contrast ratio of white text on `colour` ("#rrggbb"), from 1 to 21."""
    rgb = colors.parse_hex(colour)
    if rgb is None:
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    return colors.contrast(rgb, colors.WHITE)


def checked_colour(colour: str) -> str:
    """`colour` as "#rrggbb" (lower case) if white text stays readable on it, else refused."""
    match = _COLOUR.fullmatch(colour.strip())
    if not match:
        raise ValidationFailed(
            "brand_colour must be a colour written #rrggbb",
            errors=[
                {
                    "pointer": "/brand_colour",
                    "detail": "brand_colour must be #rrggbb",
                    "code": "colour_format",
                }
            ],
        )
    normal = "#" + match.group(1).lower()
    ratio = contrast_with_white(normal)
    if ratio < MIN_CONTRAST:
        detail = (
            f"brand_colour {normal} gives white text a contrast of {ratio:.2f}:1; "
            f"at least {MIN_CONTRAST}:1 is needed (choose a darker colour)"
        )
        problem = {
            "pointer": "/brand_colour",
            "detail": detail,
            "code": "colour_contrast",
            "params": {"ratio": round(ratio, 2), "minimum": MIN_CONTRAST},
        }
        raise ValidationFailed(detail, errors=[problem])
    return normal


# -- origins --------------------------------------------------------------------------------


def _loopback_allowed() -> bool:
    config = current_app.config
    return bool(config.get("TESTING") or config["PAY_BUTTON_ALLOW_LOOPBACK_ORIGINS"])


def checked_origin(text: str) -> str:
    """`text` as a normalised origin "https://host[:port]", or ValueError saying why not."""
    raw = text.strip()
    if not raw or len(raw) > 300 or any(ch.isspace() or ord(ch) < 32 for ch in raw):
        raise ValueError("must be an origin such as https://www.example-firm.com")
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("must start with https:// and name a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("must not carry a user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment or raw.endswith("?"):
        raise ValueError("must be an origin only: no path, query or fragment")
    host, suffix = checked_host(parts)
    if parts.scheme == "http" and (host not in _LOOPBACK or not _loopback_allowed()):
        raise ValueError("must use https://")
    return f"{parts.scheme}://{host}{suffix}"


def checked_host(parts: SplitResult) -> tuple[str, str]:
    """The host of an http(s) address in lower case ASCII (IDNA), and its ":port" unless it is
    the scheme's default (else ""); ValueError saying what is wrong."""
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    host = (parts.hostname or "").lower()
    if parts.netloc.startswith("["):
        host = f"[{host}]"
    elif not host or not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("has an invalid host name") from None
        if not host or not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
            raise ValueError("has an invalid host name")
    if port == 0:
        raise ValueError("has an invalid port")
    default_port = 443 if parts.scheme == "https" else 80
    return host, f":{port}" if port is not None and port != default_port else ""


def set_origins(
    firm: Firm, origins: Sequence[str], *, actor: Actor, reason: str | None = None
) -> list[str]:
    """Replace the firm's website origins (normalised, de-duplicated, in the given order) and
    commit, auditing the change (with `reason`, why, if given)."""
    if len(origins) > MAX_ORIGINS:
        raise ValidationFailed(
            f"at most {MAX_ORIGINS} origins",
            errors=[
                {
                    "pointer": "/origins",
                    "detail": f"origins may hold at most {MAX_ORIGINS}",
                    "code": "origins_too_many",
                    "params": {"most": MAX_ORIGINS},
                }
            ],
        )
    normal: list[str] = []
    problems = []
    for n, text in enumerate(origins):
        try:
            origin = checked_origin(text)
        except ValueError as exc:
            problems.append(
                {"pointer": f"/origins/{n}", "detail": f"origins[{n}] {exc}", "code": "origin"}
            )
            continue
        if origin not in normal:
            normal.append(origin)
    if problems:
        raise ValidationFailed("Some origins are invalid; nothing was saved.", errors=problems)
    record_firm_changes(firm, {"website_origins": normal}, actor, reason=reason)
    db.session.commit()
    return normal


# -- logo -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedLogo:
    content_type: str
    width: int
    height: int


def _logo_problem(detail: str, code: str, **params: object) -> ValidationFailed:
    problem = {"pointer": "", "detail": detail, "code": code, "params": params}
    return ValidationFailed(detail, errors=[problem])


def checked_logo(data: bytes) -> CheckedLogo:
    """Accept a PNG or JPEG of at most 1 MB whose bytes decode to a sensible size."""
    if not data:
        raise _logo_problem("The body is empty: send the PNG or JPEG file itself.", "logo_empty")
    if len(data) > MAX_LOGO_BYTES:
        raise _logo_problem("The logo is larger than 1 MB.", "logo_too_large")
    kind = next(((ct, fmt) for magic, (ct, fmt) in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None:
        raise _logo_problem("The logo must be a PNG or JPEG file.", "logo_type")
    content_type, expected = kind
    try:
        with warnings.catch_warnings():
            # A decompression bomb is refused, whatever the warnings filter says.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != expected:
                    raise _logo_problem("The logo must be a PNG or JPEG file.", "logo_type")
                width, height = image.size
                if not (
                    MIN_LOGO_SIDE <= width <= MAX_LOGO_SIDE
                    and MIN_LOGO_SIDE <= height <= MAX_LOGO_SIDE
                ):
                    raise _logo_problem(
                        f"The logo must be between {MIN_LOGO_SIDE} and {MAX_LOGO_SIDE} pixels "
                        f"on each side; this one is {width}x{height}.",
                        "logo_sides",
                        width=width,
                        height=height,
                    )
                image.load()  # decode every pixel: a truncated or corrupt file fails here
    except ValidationFailed:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise _logo_problem("The logo could not be read as an image.", "logo_unreadable") from None
    return CheckedLogo(content_type=content_type, width=width, height=height)


def set_logo(firm: Firm, data: bytes, *, actor: Actor, reason: str | None = None) -> None:
    """Store (or replace) the firm's logo after checking it; commits. The audit log keeps the
    logo's digest, not the image (and `reason`, why, if given)."""
    checked = checked_logo(data)
    digest = hashlib.sha256(data).hexdigest()
    logo = db.session.get(FirmLogo, firm.id)
    if logo is None:
        logo = FirmLogo(firm_id=firm.id)
        db.session.add(logo)
    logo.content_type = checked.content_type
    logo.data = data
    logo.digest = digest
    logo.width, logo.height = checked.width, checked.height
    logo.updated_at = clock.now()
    record_firm_changes(firm, {"logo_digest": digest}, actor, reason=reason)
    db.session.commit()


def remove_logo(firm: Firm, *, actor: Actor, reason: str | None = None) -> None:
    """Remove the firm's logo, if it has one, and commit (audited, with `reason` if given)."""
    logo = db.session.get(FirmLogo, firm.id)
    if logo is not None:
        db.session.delete(logo)
    record_firm_changes(firm, {"logo_digest": None}, actor, reason=reason)
    db.session.commit()


def email_logo_url(firm: Firm | None) -> str | None:
    """The absolute address of the firm's logo for emails (on BASE_URL, like client links), or
    None without a logo. The address names the logo's digest, so a replaced logo never shows
    stale in an old email's cache, and it is built by hand because emails are also rendered
    outside a request (after commit, by the CLI)."""
    if firm is None or not firm.logo_digest:
        return None
    return urls.absolute(f"/brand/logo/{firm.slug}/{firm.logo_digest}")


def logo_for(slug: str, digest: str) -> FirmLogo:
    """The logo a logo URL names, or NotFound (an old digest is gone once replaced)."""
    logo = db.session.scalar(
        select(FirmLogo)
        .join(Firm, Firm.id == FirmLogo.firm_id)
        .where(Firm.slug == slug, FirmLogo.digest == digest)
    )
    if logo is None:
        raise NotFound("no such logo")
    return logo


# -- name and colour ---------------------------------------------------------------------


def set_branding(
    firm: Firm,
    *,
    name: str,
    brand_colour: str | None,
    public_trust_deposits: bool,
    actor: Actor,
    reason: str | None = None,
) -> None:
    """Set the firm's shown name, colour (None for the portal's own) and trust flag; commits,
    auditing each that changed (with `reason`, why, if given)."""
    colour = checked_colour(brand_colour) if brand_colour is not None else None
    # One line, no control characters: the name goes into email subjects and headers.
    values = {
        "name": clean_text(name, field="/name", max_length=200, required=True),
        "brand_colour": colour,
        "public_trust_deposits": public_trust_deposits,
    }
    record_firm_changes(firm, values, actor, reason=reason)
    db.session.commit()
