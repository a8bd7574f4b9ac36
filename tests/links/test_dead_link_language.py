"""A dead link's page, /check and the fresh-link answer are the firm's pages: its name and
colour, in the language of the link's client (not the browser's), with a human heading."""

from __future__ import annotations

import re
from html import escape

import pytest
from flask.testing import FlaskClient

from portal.billing.models import Client
from tests import factories
from tests.links.test_check import Checker, url_of, verdict
from tests.links.test_fresh_link import FreshPortal, ask, expired_link, form_of
from tests.pages.conftest import Clock

ENGLISH_BROWSER = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
def portal(client: FlaskClient) -> FreshPortal:
    client.environ_base.update({"HTTP_ACCEPT_LANGUAGE": ENGLISH_BROWSER["Accept-Language"]})
    return FreshPortal(client)


@pytest.fixture
def checker(client: FlaskClient) -> Checker:
    client.environ_base.update({"HTTP_ACCEPT_LANGUAGE": ENGLISH_BROWSER["Accept-Language"]})
    return Checker(client)


@pytest.fixture
def camille(firm: factories.FirmWithKey, frozen_clock: Clock, session) -> Client:
    firm.firm.brand_colour = "#5a1f3a"
    person = factories.client(firm, name="Camille Roy", email="camille@example.com")
    person.locale = "fr_CA"
    session.flush()
    return person


@pytest.mark.parametrize(
    ("locale", "lang", "heading", "ask_firm"),
    [
        ("en_US", "en-US", "This link has expired", "Or ask {} to send you a new link."),
        ("es_US", "es-US", "Este enlace ha vencido", None),
        ("fr_CA", "fr-CA", "Ce lien est expiré", "Ou demandez à {} de vous envoyer"),
    ],
)
def test_an_expired_links_page_is_the_firms_in_its_clients_language(
    portal: FreshPortal,
    firm: factories.FirmWithKey,
    camille: Client,
    frozen_clock: Clock,
    session,
    locale: str,
    lang: str,
    heading: str,
    ask_firm: str | None,
) -> None:
    # given
    camille.locale = locale
    session.flush()
    dead = expired_link(camille, frozen_clock)

    # when: opened in a browser that asks for English
    page = portal.open(dead)

    # then
    assert page.status_code == 410  # the status stays; the page says it in words
    assert f'<html lang="{lang}">' in page.text
    assert f"<h1>{heading}</h1>" in page.text
    assert "Error 410" not in page.text and "Erreur 410" not in page.text
    assert "MatterPay" not in page.text
    name = escape(firm.firm.name)
    assert f"<title>{heading} · {name}</title>" in page.text
    assert "/brand/5a1f3a.css" in page.text
    if ask_firm:
        assert ask_firm.format(name) in page.text


def test_a_revoked_links_page_and_the_fresh_link_answer_follow_the_client(
    portal: FreshPortal, camille: Client
) -> None:
    link = factories.link(camille)
    link.revoked_at = link.created_at
    page = portal.open(link)
    assert page.status_code == 410
    assert "<h1>Ce lien n\u2019est plus actif</h1>" in page.text

    answer = ask(portal, form_of(page))

    assert answer.status_code == 200
    assert '<html lang="fr-CA">' in answer.text
    assert "<h1>Consultez vos courriels</h1>" in answer.text
    assert "/brand/5a1f3a.css" in answer.text
    assert "MatterPay" not in answer.text


def test_the_fresh_link_answer_without_a_known_link_stays_generic(portal: FreshPortal) -> None:
    page = portal.get("/check")  # any page with a form puts a CSRF token in the session
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None

    answer = ask(portal, {"csrf_token": token.group(1), "ref": "forged"})

    assert answer.status_code == 200
    assert '<html lang="en-US">' in answer.text
    assert "MatterPay" in answer.text  # no firm to name


@pytest.mark.parametrize(
    ("state", "box", "words"),
    [
        ("live", "notice--ok", "Ce lien vient bien de"),
        ("expired", "notice--warn", "mais il est expiré"),
        ("revoked", "notice--warn", "mais il a été désactivé"),
    ],
)
def test_check_answers_a_genuine_link_as_its_firm_in_its_clients_language(
    checker: Checker, camille: Client, frozen_clock: Clock, state: str, box: str, words: str
) -> None:
    if state == "expired":
        link = expired_link(camille, frozen_clock)
    else:
        link = factories.link(camille)
        if state == "revoked":
            link.revoked_at = link.created_at

    page = checker.paste(url_of(link))

    assert words in verdict(page)
    assert f'class="notice {box}"' in page.text
    assert '<html lang="fr-CA">' in page.text
    assert "/brand/5a1f3a.css" in page.text


def test_check_answers_a_stranger_link_in_the_browsers_language_as_a_red_box(
    checker: Checker,
) -> None:
    page = checker.paste("https://evil.example/l/abc")
    assert "This is not a link from this portal." in verdict(page)
    assert 'class="notice notice--alert"' in page.text
    assert '<html lang="en-US">' in page.text
