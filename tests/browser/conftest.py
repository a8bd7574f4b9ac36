"""Browser tests: the real app served from a thread, driven by Debian's chromium through Playwright.

`live_server` serves `portal.create_app` on the committed database of tests/flows (the rows a
test seeds must be committed, since the server's requests use their own connections) at
http://127.0.0.1:<free port>, which is also the app's BASE_URL, so issued links point at it.

The browser starts once for all of tests/browser; every test gets a fresh context
(no cookies carried over)
from `make_page`, or the ready-made `page` (desktop) and `phone_page` (360 x 800). Each page
records console errors, uncaught exceptions and every URL it requested, so tests can assert that
nothing went wrong and nothing left this machine. When a test fails, its pages are screenshotted
into the session's temp folder and the paths are added to the failure report.

/usr/bin/chromium comes from Debian (tests/browser/install-chromium.sh, run by `make test`).
Without it these tests fail, saying chromium is missing: they must never pass without a
browser. (Playwright itself
is a dev dependency; without it this file fails to import, which fails the run everywhere.)
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

from portal import clock
from portal.billing.models import Client, Matter
from portal.db import PROJECT_ROOT, db
from portal.links import services as links
from tests import factories
from tests.conftest import unavailable

# The committed, migrated database (emptied before each test) that tests/flows uses.

CHROMIUM = "/usr/bin/chromium"
#: No sandbox (root, containers), no GPU, and none of the browser's own calls home: only the
#: live server on 127.0.0.1 may be contacted.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 800}
#: Playwright's default wait for a selector or navigation, in milliseconds. Pages come from a
#: local server, so anything slower than this is a bug rather than a slow network.
TIMEOUT_MS = 10_000

_SCREENSHOT_DIR = "browser-screenshots"

#: axe-core from the npm registry (package.json pins it; `make browser` installs it). Test
#: tooling only: the portal never serves it, and no page fetches it from anywhere.
AXE_SCRIPT = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: The axe rule tags of WCAG 2.0, 2.1 and 2.2 at levels A and AA: the portal's target.
WCAG_AA_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything collected under tests/browser with `browser`."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


# -- the live server -------------------------------------------------------------------------


@dataclass
class LiveServer:
    """The app being served and its address (no trailing slash)."""

    app: Flask
    url: str

    def path(self, url: str) -> str:
        """The part of an absolute URL on this server after its origin, e.g. '/matters/3'."""
        assert url.startswith(self.url + "/"), f"{url} is not on {self.url}"
        return url[len(self.url) :]


@pytest.fixture
def live_server(committed_app: Flask) -> Iterator[LiveServer]:
    """Serve the app on a free port of 127.0.0.1 in a background thread until the test ends."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, committed_app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    committed_app.config["BASE_URL"] = url
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
    )
    thread.start()
    try:
        yield LiveServer(app=committed_app, url=url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        assert not thread.is_alive(), "the live server did not stop"


# -- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, launched once for all the browser tests of a run.

    Package scope rather than session: Playwright's sync API marks an asyncio loop as running
    in the main thread for as long as it is started, which would break later tests that run
    a loop of their own; so it stops as soon as the last browser test is done.
    """
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(
            f"{CHROMIUM} is missing: install Debian's chromium "
            "(make test does, through tests/browser/install-chromium.sh)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageWatch:
    """What one page did: console errors, uncaught script errors, and requested URLs."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def foreign_requests(self, origin: str) -> list[str]:
        """Requests to anywhere but `origin` (scheme://host:port)."""
        return [url for url in self.requests if not _same_origin(url, origin)]


def _same_origin(url: str, origin: str) -> bool:
    # data: URLs (inline images the CSP allows) never leave the browser.
    return url.startswith("data:") or url == origin or url.startswith(origin + "/")


@dataclass
class _Opened:
    screenshots: Path
    pages: list[Any] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)


_OPENED = pytest.StashKey[_Opened]()


@pytest.fixture
def make_page(
    browser: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Any]]:
    """Open a page in a new browser context: `make_page(viewport=PHONE)`.

    The page gets a `watch` attribute (PageWatch) that starts recording before anything loads.
    """
    opened = _Opened(screenshots=tmp_path_factory.getbasetemp() / _SCREENSHOT_DIR)
    request.node.stash[_OPENED] = opened

    def open_page(viewport: dict[str, int] | None = None, **context_options: Any) -> Any:
        context = browser.new_context(viewport=viewport or DESKTOP, **context_options)
        context.set_default_timeout(TIMEOUT_MS)
        opened.contexts.append(context)
        page = context.new_page()
        watch = PageWatch()
        page.on(
            "console",
            lambda message: (
                watch.console_errors.append(f"{message.text} ({message.location})")
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
        page.on("request", lambda req: watch.requests.append(req.url))
        page.watch = watch
        opened.pages.append(page)
        return page

    yield open_page
    for context in opened.contexts:
        context.close()


@pytest.fixture
def page(make_page: Callable[..., Any]) -> Any:
    """A fresh desktop-sized page."""
    return make_page()


@pytest.fixture
def phone_page(make_page: Callable[..., Any]) -> Any:
    """A fresh page 360 px wide, the narrowest phone the portal supports."""
    return make_page(viewport=PHONE)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Screenshot a failed test's pages (before their fixtures close them) and say where."""
    report = yield
    opened = item.stash.get(_OPENED, None)
    if report.when == "call" and report.failed and opened and opened.pages:
        folder = opened.screenshots
        folder.mkdir(exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)[:120]
        lines = []
        for n, shown in enumerate(opened.pages):
            path = folder / f"{stem}-{n}.png"
            try:
                shown.screenshot(path=str(path), full_page=True)
                lines.append(f"{shown.url} -> {path}")
            except Exception as exc:
                lines.append(f"{shown.url}: no screenshot ({exc})")
        report.sections.append(("browser screenshots", "\n".join(lines)))
    return report


# -- accessibility -------------------------------------------------------------------------


@pytest.fixture(scope="package")
def axe_script() -> Path:
    """The path of axe.min.js, or unavailable (CI fails) when `make browser` has not run."""
    if not AXE_SCRIPT.is_file():
        unavailable(f"{AXE_SCRIPT} is missing: run `make browser` (npm ci installs axe-core)")
    return AXE_SCRIPT


@pytest.fixture
def axe(axe_script: Path) -> Callable[[Any], list[str]]:
    """`axe(page)`: run axe-core on the page as it is now; one line per WCAG A/AA violation.

    Playwright's add_script_tag inlines the file's text, which the portal's CSP refuses: pages
    checked this way come from `make_page(bypass_csp=True)` (other tests keep the CSP on).
    """

    def violations(page: Any) -> list[str]:
        # The page's stylesheets applied first: a page checked while one still loads (a busy
        # machine) is laid out unstyled, e.g. links smaller than a touch target.
        page.wait_for_load_state("load")
        if not page.evaluate("typeof window.axe === 'object'"):
            page.add_script_tag(path=str(axe_script))
        result = page.evaluate(
            """tags => axe.run(document, {
                runOnly: {type: "tag", values: tags},
                resultTypes: ["violations"],
            })""",
            list(WCAG_AA_TAGS),
        )
        lines = []
        for violation in result["violations"]:
            for node in violation["nodes"]:
                lines.append(
                    f"{violation['id']} ({violation['impact']}): {violation['help']} at "
                    f"{' '.join(node['target'])}: {node['failureSummary']}"
                )
        return lines

    return violations


# -- a client's book, committed where the live server can see it ----------------------------


@dataclass
class Book:
    """One client of one firm: a matter with open, overdue and paid invoices and trust money."""

    server: LiveServer
    firm_name: str
    client_id: int
    matter_id: int
    matter_title: str
    #: Open invoices by number: (balance due, total) as the page shows them.
    open_invoices: dict[str, tuple[str, str]]
    paid_invoice: str
    trust_balance: str
    balance_due: str

    def link(self, *, expires_in: int | None = None) -> str:
        """Issue and commit a link to the matter; return the URL a client would be emailed."""
        return issue_link_url(self.server, self.client_id, self.matter_id, expires_in=expires_in)


def issue_link_url(
    server: LiveServer, client_id: int, matter_id: int, *, expires_in: int | None = None
) -> str:
    """Issue and commit a link to one client's matter on the live server's database; return
    the URL a client would be emailed."""
    with server.app.app_context():
        person = db.session.get(Client, client_id)
        matter = db.session.get(Matter, matter_id)
        assert person is not None
        assert matter is not None
        link = links.issue_link(
            firm_id=person.firm_id, client=person, matters=[matter], expires_in=expires_in
        )
        db.session.commit()
        return links.url_for_link(link)


@pytest.fixture
def book(live_server: LiveServer) -> Book:
    """Seed and commit a client's book on the live server's database."""
    with live_server.app.app_context():
        today = clock.today()
        firm = factories.firm_with_key("Okafor & Lindqvist LLP")
        person = factories.client(firm, name="Ada Mensah")
        matter = factories.matter(
            person,
            title="Mensah v. Harbour Holdings",
            number="2024-0117",
            trust_minimum_minor=250_000,
        )
        factories.invoice(
            matter,
            number="INV-1041",
            total_minor=185_000,
            balance_due_minor=120_050,
            issued_on=today - dt.timedelta(40),
            due_on=today - dt.timedelta(10),
        )
        factories.invoice(matter, number="INV-1057", total_minor=64_000)
        factories.invoice(
            matter,
            number="INV-0998",
            total_minor=90_000,
            balance_due_minor=0,
            paid_at=clock.now() - dt.timedelta(days=3),
        )
        factories.trust_entry(matter, 300_000, description="Retainer deposit")
        factories.trust_entry(matter, -75_000, description="Filing fees")
        db.session.commit()
        return Book(
            server=live_server,
            firm_name=firm.firm.name,
            client_id=person.id,
            matter_id=matter.id,
            matter_title=matter.title,
            open_invoices={
                "INV-1041": ("$1,200.50", "$1,850.00"),
                "INV-1057": ("$640.00", "$640.00"),
            },
            paid_invoice="INV-0998",
            trust_balance="$2,250.00",
            balance_due="$1,840.50",
        )
