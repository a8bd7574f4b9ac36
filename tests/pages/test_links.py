"""Opening a link, the session it starts, and what happens when the link dies."""

from __future__ import annotations

import datetime as dt
from html import escape

import pytest

from portal.i18n import page_locale
from portal.links import services as links
from portal.links.models import Link
from tests import factories
from tests.pages.conftest import Clock, Household, Portal


def test_opening_a_link_starts_a_session_and_drops_the_token(
    portal: Portal, household: Household
) -> None:
    # given
    link = factories.link(household.client)
    token = links.token_for(link)

    # when
    response = portal.open(token)

    # then
    assert response.status_code == 303
    assert response.headers["Location"] == "/matters"
    assert token not in response.headers["Location"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    with portal.client.session_transaction() as browser_session:
        assert dict(browser_session) == {"link": link.public_id}
    assert link.open_count == 1
    assert link.first_opened_at is not None


def test_the_session_cookie_is_secure_httponly_and_lax(
    portal: Portal, household: Household
) -> None:
    # when
    response = portal.open(factories.link(household.client))

    # then
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("matterpay_session=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes


def test_the_browser_sends_the_cookie_back_and_sees_its_matters(
    portal: Portal, household: Household
) -> None:
    # given
    redirect = portal.open(factories.link(household.client))

    # when
    response = portal.get(redirect.headers["Location"])

    # then
    assert response.status_code == 200
    assert portal.session_cookie()
    assert "Delgado v. Northside Realty" in response.text


def test_a_link_for_one_matter_goes_straight_to_that_matter(
    portal: Portal, household: Household
) -> None:
    # given
    link = factories.link(household.client, matters=[household.estate])

    # when
    response = portal.open(link)

    # then
    assert response.status_code == 303
    assert response.headers["Location"] == f"/matters/{household.estate.id}"


def test_a_link_for_two_matters_goes_to_the_list(portal: Portal, household: Household) -> None:
    # given
    link = factories.link(household.client, matters=[household.estate, household.lawsuit])

    # when
    response = portal.open(link)

    # then
    assert response.headers["Location"] == "/matters"


def _tampered(token: str) -> str:
    """Change the first character of the signed payload (the last one may be padding bits)."""
    first = token[0]
    return ("A" if first != "A" else "B") + token[1:]


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda link: _tampered(links.token_for(link)), id="tampered signature"),
        pytest.param(lambda link: links.token_for(link) + "x", id="extra characters"),
        pytest.param(lambda link: "not-a-token", id="garbage"),
        pytest.param(
            lambda link: links.token_for(Link(public_id="no-such-link-000000")),
            id="validly signed unknown id",
        ),
    ],
)
def test_a_bad_token_is_a_bare_404(portal: Portal, household: Household, make_token) -> None:
    # given
    token = make_token(factories.link(household.client))

    # when
    response = portal.open(token)

    # then
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert token not in response.text
    assert household.client.name not in response.text
    assert portal.session_cookie() is None


def test_an_expired_link_is_a_friendly_410(
    portal: Portal, household: Household, frozen_clock: Clock, firm: factories.FirmWithKey
) -> None:
    # given
    link = factories.link(household.client, expires_in=3600)
    frozen_clock.advance(hours=1, seconds=1)

    # when
    response = portal.open(link)

    # then
    assert response.status_code == 410
    assert "This link has expired" in response.text
    # the dead link's page is its firm's: named, in its colour, with no "Error 410" line
    assert f"Or ask {escape(firm.firm.name)} to send you a new link." in response.text
    assert "MatterPay" not in response.text
    assert "Error 410" not in response.text
    assert link.open_count == 0


def test_a_token_older_than_a_day_is_a_410_whatever_the_row_says(
    portal: Portal, household: Household, frozen_clock: Clock
) -> None:
    # given
    link = factories.link(household.client)
    token = links.token_for(link)
    link.expires_at += dt.timedelta(days=7)  # The signature's own age check still applies.
    frozen_clock.advance(hours=24, seconds=1)

    # when
    response = portal.open(token)

    # then
    assert response.status_code == 410
    assert "This link has expired" in response.text


def test_a_revoked_link_is_a_410(portal: Portal, household: Household) -> None:
    # given
    link = links.revoke_link(factories.link(household.client))

    # when
    response = portal.open(link)

    # then
    assert response.status_code == 410
    assert "This link is no longer active" in response.text


@pytest.mark.parametrize("path", ["/matters", "/matters/1"])
def test_pages_without_a_session_are_401(portal: Portal, path: str) -> None:
    # when
    response = portal.get(path)

    # then
    assert response.status_code == 401
    assert "open the payment link from the email" in response.text


def test_the_session_ends_when_the_link_is_revoked(
    portal: Portal, household: Household, firm: factories.FirmWithKey
) -> None:
    # given
    link = factories.link(household.client)
    portal.open(link)
    assert portal.get("/matters").status_code == 200

    # when
    links.revoke_link(link)
    revoked = portal.get("/matters")
    afterwards = portal.get("/matters")

    # then
    assert revoked.status_code == 410
    assert f"Or ask {escape(firm.firm.name)} to send you a new link." in revoked.text
    assert portal.session_cookie() is None
    assert afterwards.status_code == 401


def test_the_session_ends_when_the_link_expires(
    portal: Portal, household: Household, frozen_clock: Clock
) -> None:
    # given
    link = factories.link(household.client, expires_in=600)
    portal.open(link)
    assert portal.get(f"/matters/{household.lawsuit.id}").status_code == 200

    # when
    frozen_clock.advance(minutes=10)
    response = portal.get(f"/matters/{household.lawsuit.id}")

    # then
    assert response.status_code == 410
    assert "This link has expired" in response.text
    assert household.lawsuit.title not in response.text
    assert portal.get("/matters").status_code == 401


def test_a_failed_open_ends_the_previous_session(portal: Portal, household: Household) -> None:
    # given
    portal.open(factories.link(household.client))

    # when
    response = portal.open("not-a-token")

    # then
    assert response.status_code == 404
    assert portal.session_cookie() is None
    assert portal.get("/matters").status_code == 401


def test_a_session_for_a_deleted_link_is_asked_to_open_the_link_again(
    portal: Portal, household: Household
) -> None:
    # given
    with portal.client.session_transaction() as browser_session:
        browser_session["link"] = "gone-0000000000000000"

    # when
    response = portal.get("/matters")

    # then
    assert response.status_code == 401
    assert portal.session_cookie() is None


@pytest.mark.parametrize(
    ("client_locale", "expected"),
    [
        ("en_US", "en_US"),
        ("es_US", "es_US"),
        ("es-US", "es_US"),
        ("es_MX", "es_US"),
        ("fr_CA", "fr_CA"),
        ("fr-FR", "fr_CA"),
        ("de_DE", "en_US"),
        (None, "en_US"),
        ("", "en_US"),
    ],
)
def test_page_locale(app, client_locale: str | None, expected: str) -> None:
    assert page_locale(client_locale) == expected


def test_page_locale_falls_back_to_the_configured_default(app) -> None:
    # given
    app.config["DEFAULT_LOCALE"] = "es_US"

    # then
    assert page_locale("de_DE") == "es_US"
