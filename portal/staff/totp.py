"""Authenticator codes (TOTP, RFC 6238, through pyotp), their QR code, and recovery codes.

A TOTP secret is as sensitive as a password that never changes, so it is stored encrypted
(Fernet: AES-128-CBC with HMAC-SHA256, from `cryptography`) under a key derived from
SECRET_KEY with HKDF, and it is never logged. Rotating SECRET_KEY therefore means every staff
user enrols their authenticator again (an admin resets MFA), as it already signs everyone out.
The QR code is drawn here as inline SVG (segno): the secret never leaves the server for an
image service.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

ISSUER = "MatterPay"
#: Codes a step either side of now are accepted too: clocks on phones drift.
VALID_WINDOW = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def _fernet() -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"matterpay.staff.totp.v1"
    ).derive(str(current_app.config["SECRET_KEY"]).encode())
    return Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def seal(secret: str) -> bytes:
    """Encrypt a TOTP secret for storage."""
    return _fernet().encrypt(secret.encode())


def unseal(sealed: bytes) -> str:
    """Decrypt a stored TOTP secret; a secret sealed under another SECRET_KEY reads as ''."""
    try:
        return _fernet().decrypt(sealed).decode()
    except InvalidToken:
        return ""


def matching_step(secret: str, code: str, at: dt.datetime) -> int | None:
    """The time step whose code `code` is (now, or one either side), or None."""
    code = "".join(code.split())
    if not secret or len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    step = totp.timecode(at)
    for candidate in (step, *(step + d for d in range(-VALID_WINDOW, VALID_WINDOW + 1) if d)):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def provisioning_uri(secret: str, email: str, firm_name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=f"{ISSUER} ({firm_name})")


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline <svg> element (no XML declaration, no script)."""
    return segno.make(uri, error="m").svg_inline(
        scale=5, border=2, dark="#000", light="#fff", omitsize=True
    )


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an authenticator by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def new_recovery_codes() -> list[str]:
    """Ten codes such as "k7m2p-x9qrt" (about 49 random bits each)."""
    return [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]


def recovery_digest(code: str) -> str:
    """How a recovery code is stored and looked up: lower case, hyphens and spaces dropped."""
    normal = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


def looks_like_recovery_code(code: str) -> bool:
    return len("".join(ch for ch in code if ch.isalnum())) == 10
