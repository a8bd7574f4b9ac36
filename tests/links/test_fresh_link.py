"""A dead link's page: "Email me a fresh link" sends a new 24-hour link to the address on file,
at most three a day per link and a few an hour per IP, and always answers the same page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from html import unescape

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from portal.billing.models import Client, Matter
from portal.db import db
from portal.links import fresh
from portal.links import services as links
from portal.links.models import DeliveryOrigin, Link, LinkDelivery
from tests import factories
from tests.conftest import APIClient
from tests.mailbox import Inbox, link_url_in, parts
from tests.pages.conftest import BASE_URL, Clock, Portal


class FreshPortal(Portal):
    """The pages' test client, minding one trap: the test's app context is shared by all its
    requests, so Flask-WTF's per-request token cache in `g` would outlive the session that
    opening another link clears. Each page view drops it, as a real request would."""

    def open(self, link: Link | str) -> TestResponse:
        g.pop("csrf_token", None)
        return super().open(link)

    def get(self, path: str) -> TestResponse:
        g.pop("csrf_token", None)
        return super().get(path)


@pytest.fixture
def portal(client: FlaskClient) -> Portal:
    return FreshPortal(client)


@pytest.fixture
def maria(firm: factories.FirmWithKey, frozen_clock: Clock) -> Client:
    return factories.client(firm, name="María Delgado", email="maria@example.com")


@pytest.fixture
def estate(maria: Client) -> Matter:
    return factories.matter(maria, number="2024-002", title="Estate of Rafael Delgado")


def expired_link(client_: Client, clock_: Clock, **kw: object) -> Link:
    link = factories.link(client_, expires_in=3600, **kw)
    clock_.advance(hours=2)
    return link


def form_of(page: TestResponse) -> dict[str, str]:
    """The fields of the dead link page's "email me a fresh link" form."""
    html = page.text
    assert 'action="/l/fresh"' in html
    return {
        name: unescape(re.search(rf'name="{name}" value="([^"]*)"', html).group(1))  # type: ignore[union-attr]
        for name in ("csrf_token", "ref")
    }


def ask(portal: Portal, form: dict[str, str]) -> TestResponse:
    """Press the button; the answer is read to its end and closed, as a server does."""
    return portal.client.post("/l/fresh", data=form, base_url=BASE_URL, buffered=True)


def fresh_links_for(dead: Link) -> list[LinkDelivery]:
    return list(
        db.session.scalars(
            select(LinkDelivery)
            .where(LinkDelivery.replaces_link_id == dead.id)
            .order_by(LinkDelivery.id)
        )
    )


def test_an_expired_links_page_offers_a_fresh_link_without_its_token(
    portal: Portal, maria: Client, frozen_clock: Clock
) -> None:
    # given
    dead = expired_link(maria, frozen_clock)
    token = links.token_for(dead)

    # when
    page = portal.open(token)

    # then
    assert page.status_code == 410
    assert "Email me a fresh link" in page.text
    form = form_of(page)
    assert token not in page.text
    assert dead.public_id not in page.text  # only encoded inside the signed reference
    assert fresh._public_id_from(form["ref"]) == dead.public_id
    assert "maria@example.com" not in page.text


def test_a_link_past_its_signatures_age_still_offers_one(
    portal: Portal, maria: Client, frozen_clock: Clock
) -> None:
    dead = factories.link(maria)
    token = links.token_for(dead)
    frozen_clock.advance(hours=24, seconds=1)

    page = portal.open(token)

    assert page.status_code == 410
    assert fresh._public_id_from(form_of(page)["ref"]) == dead.public_id


def test_a_revoked_link_met_during_a_session_offers_one(
    portal: Portal, maria: Client, estate: Matter
) -> None:
    link = factories.link(maria)
    portal.open(link)
    links.revoke_link(link)

    page = portal.get("/matters")

    assert page.status_code == 410
    assert "This link is no longer active" in page.text
    assert fresh._public_id_from(form_of(page)["ref"]) == link.public_id


def test_one_click_emails_a_fresh_24_hour_link_that_opens(
    portal: Portal, maria: Client, estate: Matter, frozen_clock: Clock, smtp: Inbox
) -> None:
    # given a dead link limited to one matter
    dead = expired_link(maria, frozen_clock, matters=[estate])
    form = form_of(portal.open(dead))

    # when
    answer = ask(portal, form)

    # then the same neutral page, without the address
    assert answer.status_code == 200
    assert "Check your email" in answer.text
    assert "maria@example.com" not in answer.text
    # and one email to the address on file, carrying a new link
    (message,) = smtp.messages
    assert message["To"] == "maria@example.com"
    url = link_url_in(message)
    assert links.token_for(dead) not in parts(message)[0]
    # and the issuance is recorded against the dead link
    (delivery,) = fresh_links_for(dead)
    assert delivery.origin is DeliveryOrigin.FRESH_LINK
    assert delivery.state.value == "sent"
    new = delivery.link
    assert new.id != dead.id
    assert new.expires_at == frozen_clock.at + dt.timedelta(hours=24)
    assert [m.id for m in new.matters] == [estate.id]
    assert url.endswith("/l/" + links.token_for(new))
    # and the new link opens the statement
    opened = portal.open(url.rsplit("/", 1)[1])
    assert opened.status_code == 303
    assert "Estate of Rafael Delgado" in portal.get(opened.headers["Location"]).text


def test_the_api_shows_what_the_fresh_link_replaces(
    portal: Portal, api: APIClient, maria: Client, frozen_clock: Clock, smtp: Inbox
) -> None:
    dead = expired_link(maria, frozen_clock)
    ask(portal, form_of(portal.open(dead)))
    (delivery,) = fresh_links_for(dead)

    shown = api.get(f"/api/v1/links/{delivery.link.public_id}").get_json()

    assert shown["replaces"] == dead.public_id
    assert shown["deliveries"][0]["origin"] == "fresh_link"
    assert shown["deliveries"][0]["to"] == "maria@example.com"


def test_at_most_three_a_day_per_link_and_the_same_answer_every_time(
    portal: Portal, maria: Client, frozen_clock: Clock, smtp: Inbox
) -> None:
    # given (the per-IP limit is not what this tests)
    portal.client.application.config["RATELIMIT_FRESH_LINK"] = "100 per hour"
    dead = expired_link(maria, frozen_clock)
    form = form_of(portal.open(dead))

    # when the button is pressed four times
    answers = [ask(portal, form) for _ in range(4)]

    # then three links went out, the fourth was refused, and no answer differs
    assert len(smtp.messages) == 3
    assert len(fresh_links_for(dead)) == 3
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1

    # and from the firm's next midnight (UTC for this firm; it is 17:00) it may have more
    frozen_clock.advance(hours=6, minutes=59)
    ask(portal, form_of(portal.open(dead)))
    assert len(smtp.messages) == 3
    frozen_clock.advance(minutes=2)
    ask(portal, form_of(portal.open(dead)))
    assert len(smtp.messages) == 4


def test_the_daily_cap_resets_at_the_firms_midnight_not_utcs(
    portal: Portal, firm: factories.FirmWithKey, maria: Client, frozen_clock: Clock, smtp: Inbox
) -> None:
    # given a firm in New York whose link died at 6 pm there (23:00 UTC), and three fresh links
    firm.firm.time_zone = "America/New_York"
    portal.client.application.config["RATELIMIT_FRESH_LINK"] = "100 per hour"
    frozen_clock.at = dt.datetime(2026, 12, 2, 21, 0, tzinfo=dt.UTC)
    dead = expired_link(maria, frozen_clock)
    for _ in range(3):
        ask(portal, form_of(portal.open(dead)))
    assert len(smtp.messages) == 3

    # when UTC's day turns (00:30 UTC, 7:30 pm in New York): still the firm's same day
    frozen_clock.at = dt.datetime(2026, 12, 3, 0, 30, tzinfo=dt.UTC)
    ask(portal, form_of(portal.open(dead)))
    assert len(smtp.messages) == 3

    # then at 11:59 pm in New York still capped; one minute past its midnight, one more
    frozen_clock.at = dt.datetime(2026, 12, 3, 4, 59, tzinfo=dt.UTC)
    ask(portal, form_of(portal.open(dead)))
    assert len(smtp.messages) == 3
    frozen_clock.at = dt.datetime(2026, 12, 3, 5, 1, tzinfo=dt.UTC)
    ask(portal, form_of(portal.open(dead)))
    assert len(smtp.messages) == 4
    assert "the new link you asked for" in smtp.messages[-1]["Subject"]
    text, html = parts(smtp.messages[-1])
    for part in (text, html):
        assert "You asked for a new link" in part
        assert "has sent you" not in part


def test_nothing_is_sent_yet_the_answer_is_the_same(
    portal: Portal,
    firm: factories.FirmWithKey,
    maria: Client,
    frozen_clock: Clock,
    smtp: Inbox,
) -> None:
    # given the answer when a link was sent
    sent = ask(portal, form_of(portal.open(expired_link(maria, frozen_clock)))).text
    assert len(smtp.messages) == 1
    no_email = factories.client(firm, name="Ben Okoro", email=None)
    live = factories.link(maria)
    without_email = form_of(portal.open(expired_link(no_email, frozen_clock)))["ref"]
    genuine = form_of(portal.open(expired_link(maria, frozen_clock)))  # this session's token
    cases = {
        "client without email": {**genuine, "ref": without_email},
        "link still live": {**genuine, "ref": fresh.form_ref(live.public_id)},
        "unknown link": {**genuine, "ref": fresh.form_ref("no-such-link")},
        "tampered ref": {**genuine, "ref": genuine["ref"][:-2] + "xx"},
        "no link named": {**genuine, "ref": fresh.form_ref(None)},
        "raw token as ref": {**genuine, "ref": links.token_for(live)},
        "empty ref": {**genuine, "ref": ""},
    }
    portal.client.application.config["RATELIMIT_FRESH_LINK"] = "100 per hour"

    for why, form in cases.items():
        # when
        answer = ask(portal, form)
        # then
        assert answer.status_code == 200, why
        assert answer.text == sent, why
    assert len(smtp.messages) == 1


def test_a_stale_page_no_longer_works(
    portal: Portal, maria: Client, frozen_clock: Clock, smtp: Inbox
) -> None:
    form = form_of(portal.open(expired_link(maria, frozen_clock)))
    frozen_clock.advance(days=1, seconds=1)
    assert ask(portal, form).status_code == 200
    assert smtp.messages == []


def test_a_post_without_the_csrf_token_is_refused(
    portal: Portal, maria: Client, frozen_clock: Clock, smtp: Inbox
) -> None:
    form = form_of(portal.open(expired_link(maria, frozen_clock)))

    assert ask(portal, {"ref": form["ref"]}).status_code == 400
    assert ask(portal, {**form, "csrf_token": "forged"}).status_code == 400
    assert smtp.messages == []


def test_each_ip_is_limited(
    portal: Portal, maria: Client, frozen_clock: Clock, smtp: Inbox
) -> None:
    portal.client.application.config["RATELIMIT_FRESH_LINK"] = "2 per hour"
    form = form_of(portal.open(expired_link(maria, frozen_clock)))

    codes = [ask(portal, {**form, "ref": ""}).status_code for _ in range(3)]

    assert codes == [200, 200, 429]


def test_a_refused_email_is_recorded_and_posted(
    portal: Portal, maria: Client, frozen_clock: Clock, refusing_smtp: Inbox
) -> None:
    dead = expired_link(maria, frozen_clock)

    answer = ask(portal, form_of(portal.open(dead)))

    assert answer.status_code == 200
    assert "Check your email" in answer.text
    (delivery,) = fresh_links_for(dead)
    assert delivery.state.value == "failed"
    assert delivery.error and "550" in delivery.error


def test_the_request_never_talks_to_the_mail_server(
    app: Flask,
    portal: Portal,
    maria: Client,
    frozen_clock: Clock,
    smtp: Inbox,
    deliver_email: Callable[[], int],
) -> None:
    """As in production (no delivery after commit): the answer takes as long whether or not an
    email is sent, since only the outbox's worker talks to the mail server."""
    # given
    app.config["MAIL_DELIVER_AFTER_COMMIT"] = "off"
    dead = expired_link(maria, frozen_clock)
    form = form_of(portal.open(dead))

    # when
    answer = portal.client.post("/l/fresh", data=form, base_url=BASE_URL)
    assert "Check your email" in answer.text

    # then the fresh link and its email are recorded, and nothing has been sent
    (delivery,) = fresh_links_for(dead)
    assert delivery.state.value == "queued"
    assert smtp.messages == []

    # and the worker hands the email over and records the server's answer on the delivery
    assert deliver_email() == 1
    assert len(smtp.messages) == 1
    db.session.refresh(delivery)
    assert delivery.state.value == "sent"
