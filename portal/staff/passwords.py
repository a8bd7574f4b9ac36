"""Passwords: argon2id hashes (argon2-cffi) and the rule a new password must meet.

The rule is NIST SP 800-63B's: at least 12 characters, no composition rules, and refused when
it is a commonly used or easily guessed password. "Common" is judged by zxcvbn, which ships
frequency lists of leaked passwords, names and English words and also catches keyboard walks,
repeats, dates and the user's own email or firm name with l33t substitutions; a bare list
would pass "Password1234!" and "qwertyuiop12". A password it scores below 3 (fewer than about
10^8 guesses) is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from portal.errors import ValidationProblem

MIN_LENGTH = 12
#: Longer input is refused before it is hashed (argon2 would take it, but nobody types it).
MAX_LENGTH = 200
#: zxcvbn's score (0 to 4) below which a password counts as common or easily guessed.
MIN_SCORE = 3

#: argon2-cffi's defaults are RFC 9106's second recommended profile (argon2id, 64 MiB, t=3).
_hasher = PasswordHasher()
#: Verified against when the email is unknown, so the answer takes as long as a real check.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


def hash_password(password: str) -> str:
    """The argon2id hash of `password`, in argon2's encoded form (parameters and salt included)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash, spend the same time and answer no."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (rehash at sign-in)."""
    return _hasher.check_needs_rehash(password_hash)


def password_problems(
    password: str, *, confirm: str, user_inputs: Sequence[str] = ()
) -> list[ValidationProblem]:
    """What is wrong with a new password (none: it may be set)."""
    if len(password) < MIN_LENGTH:
        return [
            ValidationProblem(
                "password-too-short",
                "password",
                f"Use at least {MIN_LENGTH} characters.",
                {"minimum": MIN_LENGTH},
            )
        ]
    if len(password) > MAX_LENGTH:
        return [
            ValidationProblem(
                "password-too-long",
                "password",
                f"Use at most {MAX_LENGTH} characters.",
                {"maximum": MAX_LENGTH},
            )
        ]
    if zxcvbn(password, user_inputs=list(user_inputs))["score"] < MIN_SCORE:
        return [
            ValidationProblem(
                "password-common",
                "password",
                "This password is too common or too easy to guess.",
            )
        ]
    if password != confirm:
        return [ValidationProblem("password-mismatch", "confirm", "The passwords differ.")]
    return []
