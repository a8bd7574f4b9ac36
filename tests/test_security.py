"""Security at the edges: the headers of every response, and CSRF on every state-changing form.

Both walk `app.url_map`, so a route added later is covered without touching these tests (a
route whose URL has a part not seen before fails until SAMPLES says what to put there).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask_wtf.csrf import CSRFError
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from portal import security
from portal.links import services as links
from portal.security import csrf
from tests import factories
from tests.conftest import make_test_app
from tests.payments import test_views as pay_pages
from tests.payments.test_views import VISA, Books, Browser, choose, location

# The pay pages' fixtures: a client's books (two matters, three invoices) and a browser on them.
books = pay_pages.books
browser = pay_pages.browser

BASE_URL = "https://localhost"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: The only routes that take state-changing requests without a CSRF token, and why: the API
#: authenticates with bearer keys, and the processors' hooks with signatures; neither uses a
#: cookie a forged cross-site request could ride on.
CSRF_EXEMPT_BLUEPRINTS = {"api": "/api/v1/", "gateways": "/hooks/"}
#: The page a person gets for a refused form: the generic error page, status 400.
REFUSED_PAGE = "This request could not be handled"


@dataclass
class Site:
    """What the walk needs: a client's open link and a payment of theirs, and the firm's key."""

    books: Books
    token: str
    payment_id: str
    api_key: str
    matter_external_id: str
    invoice_external_id: str
    client_external_id: str
    firm_slug: str


@pytest.fixture
def site(browser: Browser, books: Books, firm: factories.FirmWithKey) -> Site:
    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    done = browser.form(review, "confirm").fill(VISA).submit()
    payment_id = location(done).rsplit("/", 1)[1]
    return Site(
        books=books,
        token=links.token_for(books.link),
        payment_id=payment_id,
        api_key=firm.key,
        matter_external_id=books.lawsuit.external_id,
        invoice_external_id=books.old.external_id,
        client_external_id=books.client.external_id,
        firm_slug=firm.firm.slug,
    )


#: What to put in each variable part of a URL: arg name -> attribute of Site, or a literal.
SAMPLES = {
    "token": "token",
    "matter_id": None,  # filled from the books
    "public_id": "payment_id",
    "id": "payment_id",  # a payment for /payments/<id>; elsewhere simply not found
    "external_id": None,  # by endpoint, below
    "colour": "=1d4f91",
    "filename": "=css/portal.css",
    "merchant_account_id": "=1",
    "slug": "firm_slug",
    "locale": "=es",
    "version": "=v1",
    "digest": "=0123456789abcdef",
    "user_id": "=1",  # a console user: the console answers sign-in or not found
    "key_id": "=1",  # an API key: the console answers sign-in or not found
    # The console's links, webhook endpoints and messages, and trust requests: sign-in or not found.
    "link_id": "=lnk_x",
    "endpoint_id": "=1",
    "message_id": "=msg_x",
    "request_id": "=tr_x",
    "method_id": "=pm_x",  # a saved method: the console answers sign-in or not found
}
EXTERNAL_IDS = {
    "api.get_client": "client_external_id",
    "api.put_client": "client_external_id",
    "api.get_matter": "matter_external_id",
    "api.put_matter": "matter_external_id",
    "api.get_invoice": "invoice_external_id",
    "api.put_invoice": "invoice_external_id",
    "api.list_payment_methods": "client_external_id",
    "api.remove_payment_method": "client_external_id",
    "console.client_payers": "client_external_id",
    "console.confirm_remove_method": "client_external_id",
    "console.remove_method": "client_external_id",
}


def url_for_rule(rule: Rule, site: Site) -> str:
    unknown = set(rule.arguments) - set(SAMPLES)
    assert not unknown, f"{rule.rule}: add a sample value for {unknown} to SAMPLES"
    path = rule.rule
    for name in rule.arguments:
        if name == "matter_id":
            value = str(site.books.lawsuit.id)
        elif name == "external_id":
            value = getattr(site, EXTERNAL_IDS.get(rule.endpoint, "matter_external_id"))
        else:
            sample = SAMPLES[name]
            assert sample is not None
            value = sample[1:] if sample.startswith("=") else getattr(site, sample)
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", value, path)
    assert "<" not in path, path
    return path


def rules(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: r.rule)


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


# -- the headers --------------------------------------------------------------------------------


def parse_csp(text: str) -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    for part in text.split(";"):
        name, *sources = part.split()
        assert name not in policy, f"{name} twice in {text}"
        policy[name] = sources
    return policy


#: Responses meant for other sites (the pay button's script, served to firms' web pages) and
#: files named by their content may be cached; nothing else may (balances, invoices, links).
CACHEABLE = {"static", "billing.brand", "paybutton.embed_script", "paybutton.logo"}
#: The pay button's configuration names no client and no amount; it is revalidated each time.
REVALIDATED = {"paybutton.embed_config"}
#: Loaded by other sites by design: the pay button's script (firms' web pages, <script src>)
#: and the firm's logo (its emails, read in webmail pages).
CROSS_ORIGIN = {"paybutton.embed_script", "paybutton.logo"}


def check_headers(
    response: TestResponse, where: str, *, production: bool, endpoint: str | None = None
) -> None:
    """The headers R52 asks of every response (R44 for the scripts)."""
    h = response.headers
    csp = parse_csp(h["Content-Security-Policy"])
    for name, sources in csp.items():
        for bad in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "http:", "https:"):
            assert bad not in sources, (where, name, sources)
    assert csp["default-src"] == ["'self'"], where
    assert csp["frame-ancestors"] == ["'none'"], where
    assert csp["object-src"] == ["'none'"], where
    assert csp["base-uri"] == ["'none'"], where
    assert csp["style-src"] == ["'self'"], where
    # No page of the sandbox-charged walk lets anything in from another origin.
    assert "stripe" not in h["Content-Security-Policy"], where
    # Scripts run only by this response's nonce, and every script tag of the page carries it.
    nonces = [s for s in csp["script-src"] if s.startswith("'nonce-")]
    assert csp["script-src"] == nonces or csp["script-src"] == ["'none'"], (where, csp)
    html = response.mimetype == "text/html"
    tags = re.findall(r"<script\b[^>]*>", response.get_data(as_text=True)) if html else []
    if tags:
        assert len(nonces) == 1, where
        for tag in tags:
            assert f'nonce="{nonces[0][7:-1]}"' in tag, (where, tag)

    assert h["X-Content-Type-Options"] == "nosniff", where
    assert h["X-Frame-Options"] == "DENY", where
    assert h["Referrer-Policy"] in ("same-origin", "no-referrer"), where
    path = where.split(" ", 2)[1]
    # The hosted pay pages keep their opener (the firm's page the pay button opened them from).
    coop = ("same-origin", "unsafe-none") if path.startswith("/pay/") else ("same-origin",)
    assert h["Cross-Origin-Opener-Policy"] in coop, where
    corp = "cross-origin" if endpoint in CROSS_ORIGIN and response.status_code == 200 else None
    corp = corp or "same-origin"
    assert h["Cross-Origin-Resource-Policy"] == corp, where
    features = dict(item.strip().split("=", 1) for item in h["Permissions-Policy"].split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "display-capture"):
        assert features[feature] == "()", (where, feature)

    if production:
        hsts = h["Strict-Transport-Security"]
        max_age = re.fullmatch(r"max-age=(\d+); includeSubDomains", hsts)
        assert max_age is not None and int(max_age[1]) >= 365 * 24 * 3600, (where, hsts)
    else:
        assert "Strict-Transport-Security" not in h, where

    if response.status_code == 200 and endpoint in CACHEABLE:
        pass  # the project's own files, or named by their content
    elif response.status_code == 200 and endpoint in REVALIDATED:
        assert h["Cache-Control"] == "no-cache", where
    elif not path.startswith("/static/"):
        assert h["Cache-Control"] == "no-store", where


def walk(app: Flask, site: Site, *, signed_in: bool) -> Iterator[tuple[str, str, TestResponse]]:
    """Every method of every route once, as the client and the firm, or as a stranger."""
    client = app.test_client()
    if signed_in:
        assert client.get(f"/l/{site.token}", base_url=BASE_URL).status_code == 303
    for rule in rules(app):
        path = url_for_rule(rule, site)
        for method in methods_of(rule):
            if not signed_in:
                client = app.test_client()  # never carries a session from a response
            headers = {"Authorization": f"Bearer {site.api_key}"} if signed_in else {}
            if method != "GET":
                headers["Content-Type"] = "application/json"
            response = client.open(
                path,
                method=method,
                base_url=BASE_URL,
                headers=headers,
                data="{}" if method != "GET" else None,
            )
            who = "signed in" if signed_in else "stranger"
            yield f"{method} {path} ({who})", rule.endpoint, response
            if rule.endpoint == "links.open_link" and signed_in:
                pass  # opening the link again only renews the same client's session


@pytest.fixture(params=["testing", "production"])
def served(request: pytest.FixtureRequest, app: Flask, database_url: str) -> Iterator[Flask]:
    """The app as tests use it, and as production serves it (HSTS on)."""
    if request.param == "testing":
        yield app
        return
    production = make_test_app(database_url, ENV="production")
    yield production
    production.extensions["portal.engine"].dispose()


def test_every_route_and_every_error_carries_the_security_headers(
    served: Flask, site: Site
) -> None:
    production = served.config["ENV"] == "production"
    statuses: dict[int, int] = {}
    seen = 0
    for signed_in in (True, False):
        for where, endpoint, response in walk(served, site, signed_in=signed_in):
            check_headers(response, where, production=production, endpoint=endpoint)
            response.close()  # static files are streamed from an open file
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            seen += 1

    # the errors no route gives by itself: an unknown page and API path, a wrong method
    stranger = served.test_client()
    for method, path in [
        ("GET", "/no-such-page"),
        ("GET", "/api/v1/no-such-thing"),
        ("GET", "/pay/confirm"),
        ("DELETE", "/matters"),
        ("GET", "/static/no-such-file.css"),
        ("GET", "/brand/red.css"),
    ]:
        response = stranger.open(path, method=method, base_url=BASE_URL)
        check_headers(response, f"{method} {path} (stranger)", production=production)
        response.close()
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    # every kind of answer was among them: pages, redirects, refusals, not found, wrong method
    assert {200, 303, 400, 401, 404, 405, 422} <= set(statuses), statuses
    assert seen >= 2 * len(list(served.url_map.iter_rules())), seen


def test_limits_and_crashes_carry_the_headers_too(database_url: str, session, site: Site) -> None:
    app = make_test_app(database_url, RATELIMIT_LINK_OPEN="1 per day")

    @app.get("/crash-for-test")
    def crash() -> str:
        raise RuntimeError("boom")

    client = app.test_client()
    for _ in range(2):
        limited = client.get(f"/l/{site.token}", base_url=BASE_URL)
    assert limited.status_code == 429
    check_headers(limited, f"GET /l/<token> ({limited.status_code})", production=False)
    crashed = client.get("/crash-for-test", base_url=BASE_URL)
    assert crashed.status_code == 500
    check_headers(crashed, "GET /crash-for-test (500)", production=False)
    app.extensions["portal.engine"].dispose()


def test_every_answer_under_a_link_token_sends_no_referrer(
    database_url: str, session, site: Site
) -> None:
    """A token in the address bar must never leave in a Referer (the page's stylesheet and
    icon requests), whatever the answer: the redirect, a dead link, an unknown one, a limit."""
    app = make_test_app(database_url, RATELIMIT_LINK_OPEN="2 per day")
    client = app.test_client()
    dead = links.revoke_link(factories.link(site.books.client))
    session.flush()
    answers = [
        client.get(f"/l/{site.token}", base_url=BASE_URL),
        client.get(f"/l/{links.token_for(dead)}", base_url=BASE_URL),
        client.get(f"/l/{site.token}", base_url=BASE_URL),
    ]
    assert [r.status_code for r in answers] == [303, 410, 429]
    for response in answers:
        assert response.headers["Referrer-Policy"] == "no-referrer", response.status
    app.extensions["portal.engine"].dispose()


def test_a_page_with_scripts_gets_a_fresh_nonce_each_time(browser: Browser) -> None:
    first, second = browser.get("/pay"), browser.get("/pay")
    nonces = [
        re.search(r"'nonce-([\w-]+)'", r.headers["Content-Security-Policy"])
        for r in (first, second)
    ]
    assert nonces[0] and nonces[1]
    assert nonces[0][1] != nonces[1][1]
    assert len(nonces[0][1]) >= 22  # 128 bits or more, base64url
    assert f'nonce="{nonces[1][1]}"' in second.text


def test_the_stripe_sources_only_widen_script_frame_and_connect() -> None:
    plain = parse_csp(security.content_security_policy("abc"))
    stripe = parse_csp(security.content_security_policy("abc", stripe=True))
    assert plain["script-src"] == ["'nonce-abc'"]
    assert plain["frame-src"] == ["'none'"]
    assert stripe["script-src"] == [
        "'nonce-abc'",
        "https://js.stripe.com",
        "https://*.js.stripe.com",
    ]
    assert stripe["frame-src"] == [
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://hooks.stripe.com",
    ]
    assert stripe["connect-src"] == ["'self'", "https://api.stripe.com"]
    changed = {name for name in plain if plain[name] != stripe[name]}
    assert changed == {"script-src", "frame-src", "connect-src"}
    assert parse_csp(security.content_security_policy())["script-src"] == ["'none'"]


# -- CSRF ----------------------------------------------------------------------------------------


@pytest.fixture
def csrf_refusals(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every CSRFError raised from now on: Flask-WTF's own check and the views checking the
    token themselves (portal.links) both raise it. Tests clear the list between requests."""
    raised: list[str] = []
    original = CSRFError.__init__

    def record(self: CSRFError, *args: object, **kwargs: object) -> None:
        raised.append(str(args[0]) if args else "")
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(CSRFError, "__init__", record)
    return raised


def test_every_state_changing_route_refuses_a_request_without_a_csrf_token(
    app: Flask, site: Site, csrf_refusals: list[str]
) -> None:
    signed_in = app.test_client()
    signed_in.get(f"/l/{site.token}", base_url=BASE_URL)
    refused, exempt = [], []
    for rule in rules(app):
        path = url_for_rule(rule, site)
        for method in sorted(set(methods_of(rule)) & STATE_CHANGING):
            for client in (signed_in, app.test_client()):
                csrf_refusals.clear()
                response = client.open(
                    path,
                    method=method,
                    base_url=BASE_URL,
                    data={"action": "review"},
                    headers={"Referer": f"{BASE_URL}/pay"},
                )
                response.close()
                if csrf_refusals:
                    # refused by the CSRF check, as the plain 400 page a person can read
                    assert response.status_code == 400, (method, path)
                    assert response.mimetype == "text/html", (method, path)
                    assert REFUSED_PAGE in response.text, (method, path)
                    refused.append(f"{method} {rule.rule}")
                else:
                    exempt.append((rule, method))

    # every form of the client pages is protected ...
    assert {"POST /pay/review", "POST /pay/confirm"} <= set(refused)
    # ... and the only routes that took a request without a token are the API's and the hooks'
    for rule, method in exempt:
        blueprint = rule.endpoint.split(".", 1)[0]
        assert blueprint in CSRF_EXEMPT_BLUEPRINTS, f"{method} {rule.rule} skips the CSRF check"
        assert rule.rule.startswith(CSRF_EXEMPT_BLUEPRINTS[blueprint]), rule.rule
    assert {r.endpoint.split(".", 1)[0] for r, _ in exempt} == set(CSRF_EXEMPT_BLUEPRINTS)


#: Views that skip Flask-WTF's automatic check only to leave out its HTTPS Referer rule (their
#: pages are sent without a Referer) and check the token themselves; the walk above proves
#: that they refuse a request without one.
CHECK_THEIR_OWN_TOKEN = {"portal.client.session.check", "portal.client.session.fresh_link"}


def test_only_the_api_and_the_hooks_are_exempt_from_csrf(app: Flask) -> None:
    # Flask-WTF's own record of exemptions: whole blueprints, and single views.
    assert {bp.name for bp in csrf._exempt_blueprints} == set(CSRF_EXEMPT_BLUEPRINTS)
    assert set(csrf._exempt_views) == CHECK_THEIR_OWN_TOKEN
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert app.config.get("WTF_CSRF_CHECK_DEFAULT", True) is True
    assert app.config.get("WTF_CSRF_TIME_LIMIT", 3600) <= 3600
    assert app.config.get("WTF_CSRF_SSL_STRICT", True) is True
    assert set(app.config.get("WTF_CSRF_METHODS", STATE_CHANGING)) == STATE_CHANGING


def test_the_right_token_passes_and_another_sessions_token_does_not(
    app: Flask,
    site: Site,
    browser: Browser,
    csrf_refusals: list[str],
) -> None:
    basket = browser.basket()
    token = basket.value("csrf_token")
    # the page's own token: the basket is checked (200 review or 422), not refused
    csrf_refusals.clear()
    assert basket.submit("review").status_code in (200, 422)
    assert csrf_refusals == []

    # another browser, with a session of its own, replaying that token: refused
    other = Browser(app.test_client())
    other.open(site.books.link)
    csrf_refusals.clear()
    response = other.post("/pay/review", [("csrf_token", token), ("action", "review")])
    assert response.status_code == 400
    assert REFUSED_PAGE in response.text
    assert csrf_refusals

    # the right token, from a page of another site (HTTPS Referer check): refused
    csrf_refusals.clear()
    response = browser.client.post(
        "/pay/review",
        data={"csrf_token": token, "action": "review"},
        base_url=BASE_URL,
        headers={"Referer": "https://evil.example/pay"},
    )
    assert response.status_code == 400
    assert REFUSED_PAGE in response.text
    assert csrf_refusals
