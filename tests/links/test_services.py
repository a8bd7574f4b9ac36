"""Link tokens: signed with HMAC-SHA256 for one purpose, opaque, short-lived and revocable."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer

from portal import clock
from portal.errors import LinkExpired, LinkInvalid, LinkRevoked, ValidationFailed
from portal.links import services
from tests import factories


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """A clock that stands still until the test moves it: `frozen[0] += timedelta(...)`."""
    now = [dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    return now


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_token_carries_only_the_random_public_id(session, firm) -> None:
    # given a client with a name and an email
    person = factories.client(firm, name="Ada Lovelace", email="ada@example.com")
    link = factories.link(person)
    # when the token is made
    token = services.token_for(link)
    # then its payload is the public id and nothing personal
    payload, _timestamp, _signature = token.split(".")
    assert _b64decode(payload).decode() == f'"{link.public_id}"'
    for secret in ("Ada Lovelace", "ada@example.com"):
        assert secret not in token
    assert len(link.public_id) >= 22  # 16 random bytes


def test_token_is_hmac_sha256_salted_for_links(app: Flask, session, firm) -> None:
    link = factories.link(factories.client(firm))
    token = services.token_for(link)
    payload, timestamp, signature = token.split(".")
    # The signature is 32 bytes: SHA-256, not itsdangerous' default SHA-1 (20 bytes).
    assert len(_b64decode(signature)) == 32
    key = hashlib.sha256(
        services.LINK_SALT.encode() + b"signer" + app.config["SECRET_KEY"].encode()
    ).digest()
    expected = hmac.new(key, f"{payload}.{timestamp}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(_b64decode(signature), expected)


def test_token_signed_for_another_purpose_is_refused(app: Flask, session, firm) -> None:
    link = factories.link(factories.client(firm))
    forged = URLSafeTimedSerializer(
        app.config["SECRET_KEY"],
        salt="another-purpose",
        signer_kwargs={"digest_method": hashlib.sha256},
    ).dumps(link.public_id)
    with pytest.raises(LinkInvalid):
        services.open_link(forged)


@pytest.mark.parametrize(
    "mangle",
    [
        # A middle character: the last one of a base64 signature partly holds padding bits.
        lambda t: t[:-10] + ("A" if t[-10] != "A" else "B") + t[-9:],
        lambda t: "x" + t,
        lambda t: t.split(".")[0],
        lambda t: "",
        lambda t: "not-a-token",
    ],
)
def test_tampered_tokens_are_invalid(session, firm, mangle) -> None:
    token = services.token_for(factories.link(factories.client(firm)))
    with pytest.raises(LinkInvalid):
        services.open_link(mangle(token))


def test_open_records_each_opening(session, firm, frozen) -> None:
    link = factories.link(factories.client(firm))
    token = services.token_for(link)
    services.open_link(token)
    first = frozen[0]
    frozen[0] += dt.timedelta(minutes=5)
    services.open_link(token)
    assert link.open_count == 2
    assert link.first_opened_at == first
    assert link.last_opened_at == frozen[0]


def test_link_expires_at_its_own_expiry(session, firm, frozen) -> None:
    link = factories.link(factories.client(firm), expires_in=3600)
    token = services.token_for(link)
    frozen[0] += dt.timedelta(seconds=3599)
    assert services.open_link(token) is link
    frozen[0] += dt.timedelta(seconds=1)
    with pytest.raises(LinkExpired):
        services.open_link(token)
    assert link.state(clock.now()) == "expired"


def test_signature_caps_every_link_at_24_hours(session, firm, frozen) -> None:
    # given a row whose expiry was pushed past 24 hours (the API never allows it)
    link = factories.link(factories.client(firm))
    link.expires_at += dt.timedelta(days=7)
    token = services.token_for(link)
    # when 24 hours and a second have passed
    frozen[0] += dt.timedelta(hours=24, seconds=1)
    # then the signature's own age refuses it
    with pytest.raises(LinkExpired):
        services.open_link(token)


def test_revoked_link_is_refused(session, firm) -> None:
    link = factories.link(factories.client(firm))
    token = services.token_for(link)
    services.revoke_link(link)
    first_revocation = link.revoked_at
    services.revoke_link(link)
    assert link.revoked_at == first_revocation
    with pytest.raises(LinkRevoked):
        services.open_link(token)
    with pytest.raises(LinkRevoked):
        services.check_live(link)


@pytest.mark.parametrize("seconds", [0, 59, 86401, -5])
def test_lifetime_is_bounded(session, firm, seconds) -> None:
    with pytest.raises(ValidationFailed):
        factories.link(factories.client(firm), expires_in=seconds)


def test_scope_must_be_the_clients_own_matters(session, firm) -> None:
    alice, bob = factories.client(firm), factories.client(firm)
    bobs = factories.matter(bob)
    with pytest.raises(ValidationFailed):
        factories.link(alice, matters=[bobs])


def test_visible_matters_follow_the_scope(session, firm) -> None:
    alice = factories.client(firm)
    first, second = factories.matter(alice), factories.matter(alice)
    factories.matter(factories.client(firm))
    assert services.visible_matter_ids(factories.link(alice)) == [first.id, second.id]
    assert services.visible_matter_ids(factories.link(alice, matters=[second])) == [second.id]


def test_another_firms_link_is_not_found(session, firm, other_firm) -> None:
    link = factories.link(factories.client(firm))
    assert services.link_for_firm(firm.id, link.public_id) is link
    with pytest.raises(Exception, match="no such link"):
        services.link_for_firm(other_firm.id, link.public_id)
