"""/check: anyone may paste a link and learn whether this portal issued it, for which firm, and
whether it still works; nothing about the client, and the link is not opened."""

from __future__ import annotations

import re

import pytest
from flask import g
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal import clock
from portal.billing.models import Client
from portal.links import services as links
from portal.links.models import Link
from tests import factories
from tests.pages.conftest import BASE_URL, FROZEN_AT, Clock

#: What any answer may contain of the client's account: nothing.
PRIVATE = ("Ada Mensah", "ada@example.com", "Mensah v. Harbour", "INV-1041", "1,200.50")


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(FROZEN_AT)
    monkeypatch.setattr(clock, "now", fake)
    return fake


@pytest.fixture
def ada(firm: factories.FirmWithKey, frozen_clock: Clock) -> Client:
    person = factories.client(firm, name="Ada Mensah", email="ada@example.com")
    matter = factories.matter(person, title="Mensah v. Harbour Holdings")
    factories.invoice(matter, number="INV-1041", total_minor=120_050)
    return person


class Checker:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def page(self) -> TestResponse:
        g.pop(
            "csrf_token", None
        )  # the test's requests share one app context (see fresh-link tests)
        return self.client.get("/check", base_url=BASE_URL)

    def paste(self, text: str, *, csrf: bool = True) -> TestResponse:
        form = {"link": text}
        if csrf:
            match = re.search(r'name="csrf_token" value="([^"]+)"', self.page().text)
            assert match is not None
            form["csrf_token"] = match.group(1)
        return self.client.post("/check", data=form, base_url=BASE_URL)

    def query(self, text: str) -> TestResponse:
        return self.client.get("/check", query_string={"link": text}, base_url=BASE_URL)


@pytest.fixture
def checker(client: FlaskClient) -> Checker:
    return Checker(client)


def url_of(link: Link) -> str:
    return f"http://localhost/l/{links.token_for(link)}"  # BASE_URL of the test app


def verdict(response: TestResponse) -> str:
    assert response.status_code == 200
    match = re.search(r'id="check-result">\s*<p><strong>(.*?)</strong>', response.text, re.S)
    assert match is not None, response.text
    return match.group(1)


def test_the_empty_page_offers_a_form(checker: Checker) -> None:
    page = checker.page()
    assert page.status_code == 200
    assert "Check a payment link" in page.text
    assert 'name="link"' in page.text
    assert "check-result" not in page.text


def test_a_live_link_names_the_firm_and_is_not_opened(checker: Checker, ada: Client) -> None:
    # given
    link = factories.link(ada)
    url = url_of(link)

    # when
    answer = checker.paste(url)

    # then
    assert (
        verdict(answer) == "This is a genuine link from Okafor &amp; Lindqvist LLP, and it works."
    )
    assert answer.headers["Cache-Control"] == "no-store"
    assert url not in answer.text and links.token_for(link) not in answer.text
    for private in PRIVATE:
        assert private not in answer.text
    # and checking is not opening: no count, no session
    assert link.open_count == 0
    assert link.first_opened_at is None
    with checker.client.session_transaction() as browser_session:
        assert "link" not in browser_session


@pytest.mark.parametrize(
    "shape",
    [
        lambda url: url,
        lambda url: f"  {url}  \n",
        lambda url: url.replace("http://", ""),
        lambda url: url.rsplit("/", 1)[1],  # the bare token
        lambda url: url + "?utm_source=mail#top",
    ],
)
def test_pasted_shapes_are_understood(checker: Checker, ada: Client, shape) -> None:
    assert "and it works" in verdict(checker.paste(shape(url_of(factories.link(ada)))))


def test_query_string_works_too(checker: Checker, ada: Client) -> None:
    assert "and it works" in verdict(checker.query(url_of(factories.link(ada))))


def test_expired_revoked_and_too_old(checker: Checker, ada: Client, frozen_clock: Clock) -> None:
    short = url_of(factories.link(ada, expires_in=600))
    revoked = url_of(links.revoke_link(factories.link(ada)))
    link = factories.link(ada)
    link.expires_at = FROZEN_AT.replace(year=2030)  # only the signature's age ends it
    old = url_of(link)
    frozen_clock.advance(hours=24, seconds=1)

    assert "but it has expired" in verdict(checker.paste(short))
    assert "but it has been turned off" in verdict(checker.paste(revoked))
    assert "but it has expired" in verdict(checker.paste(old))
    assert "Okafor &amp; Lindqvist LLP" in checker.paste(revoked).text


def test_other_firms_are_named_as_themselves(
    checker: Checker, other_firm: factories.FirmWithKey, frozen_clock: Clock
) -> None:
    link = factories.link(factories.client(other_firm))
    assert "Brandt Legal Group" in verdict(checker.paste(url_of(link)))


def test_what_is_not_ours(checker: Checker, ada: Client) -> None:
    good = url_of(factories.link(ada))
    token = good.rsplit("/", 1)[1]
    lookalikes = [
        good.replace("localhost", "localhost.evil.example"),  # another host, genuine token
        "https://pay-0kafor.example/l/" + token,
        good[:-3] + "abc",  # tampered signature
        "http://localhost/l/" + links._serializer().dumps("no-such-link"),  # signed, no row
        "http://localhost/matters/1",
        "http://localhost/l/a/b",
        "javascript:alert(1)",
        "hello",
        "x" * 3000,
    ]
    for text in lookalikes:
        answer = checker.paste(text)
        assert verdict(answer) == "This is not a link from this portal.", text
        assert "Okafor" not in answer.text


def test_an_empty_paste_asks_for_one(checker: Checker) -> None:
    answer = checker.paste("   ")
    assert answer.status_code == 200
    assert "Paste a link to check." in answer.text
    assert "check-result" not in answer.text


def test_a_post_without_csrf_is_refused(checker: Checker, ada: Client) -> None:
    assert checker.paste(url_of(factories.link(ada)), csrf=False).status_code == 400


def test_each_ip_is_limited(checker: Checker) -> None:
    checker.client.application.config["RATELIMIT_LINK_CHECK"] = "3 per minute"
    codes = [checker.query(f"nope-{n}").status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]
