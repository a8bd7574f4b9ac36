"""The two secrets' rules, without a database: password policy and hashing, TOTP secrets
sealed under SECRET_KEY, recovery codes stored as digests."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from flask import Flask

from portal.staff import passwords, totp


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("eleven char", "password-too-short"),
        ("x" * 201, "password-too-long"),
        ("password1234", "password-common"),
        ("aaaaaaaaaaaaaaaa", "password-common"),
        ("ada@okafor.example", "password-common"),
    ],
)
def test_weak_passwords_are_named_by_code(password: str, code: str) -> None:
    (problem,) = passwords.password_problems(
        password, confirm=password, user_inputs=["ada@okafor.example"]
    )
    assert problem.code == code


def test_a_long_unusual_password_passes() -> None:
    assert (
        passwords.password_problems(
            "harbour lantern violet 42", confirm="harbour lantern violet 42"
        )
        == []
    )


def test_hashes_are_argon2id_and_verify() -> None:
    hashed = passwords.hash_password("harbour lantern violet 42")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "harbour lantern violet 42")
    assert not passwords.verify_password(hashed, "harbour lantern violet 43")
    assert not passwords.verify_password(None, "anything at all")
    assert not passwords.verify_password("not a hash", "anything at all")


def test_a_totp_secret_is_sealed_under_the_secret_key(app: Flask) -> None:
    secret = totp.new_secret()
    sealed = totp.seal(secret)
    assert secret.encode() not in sealed
    assert totp.unseal(sealed) == secret
    app.config["SECRET_KEY"] = "another-secret-key-that-is-long-enough-0123"
    assert totp.unseal(sealed) == ""


def test_codes_match_their_step_and_one_either_side() -> None:
    secret = totp.new_secret()
    at = dt.datetime(2026, 3, 16, 15, 0, tzinfo=dt.UTC)
    step = pyotp.TOTP(secret).timecode(at)
    for offset in (-30, 0, 30):
        code = pyotp.TOTP(secret).at(at + dt.timedelta(seconds=offset))
        assert totp.matching_step(secret, code, at) == step + offset // 30
    assert (
        totp.matching_step(secret, pyotp.TOTP(secret).at(at - dt.timedelta(seconds=60)), at) is None
    )
    assert totp.matching_step(secret, "12345", at) is None
    assert totp.matching_step("", "123456", at) is None


def test_recovery_codes_are_random_and_read_loosely() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    code = codes[0]
    assert totp.recovery_digest(code) == totp.recovery_digest(f" {code.upper().replace('-', '')} ")
    assert totp.looks_like_recovery_code(code)
    assert not totp.looks_like_recovery_code("123456")
