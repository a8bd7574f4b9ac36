"""The whole pay flow, as a client's browser drives it, end to end under gunicorn.

Each payment is one client opening their link, reading the basket, asking for the review and
paying one invoice by sandbox card, then reading the receipt: five requests, measured from
the link's opening to a receipt that says the payment succeeded. Several clients pay at once
(each with their own link and session). The database is made fresh for every run, because
paying changes it.
"""

from __future__ import annotations

import html
import re
import secrets
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import percentile
from bench.report import Report
from bench.server import Server, request, serve

TITLE = "Pay flow: link opened to recorded success (sandbox card)"
#: Clients paying at the same moment, and payments in all.
CONCURRENCY = 4
PAYMENTS = 160
#: Stop early if the run takes longer than this (every loop here is bounded).
DEADLINE_SECONDS = 240

_INPUT = re.compile(r"<input\b([^>]*)>", re.S)
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, why: str) -> None:
        with self.lock:
            self.failures[why] = self.failures.get(why, 0) + 1


def _inputs(page: str, form_marker: str) -> list[tuple[str, str, str]]:
    """(name, value, type) of every input in the form that starts at `form_marker`."""
    start = page.find(form_marker)
    end = page.find("</form>", start)
    found = []
    for match in _INPUT.finditer(page[start:end]):
        attrs = dict(_ATTR.findall(match.group(1)))
        if "name" in attrs:
            found.append(
                (attrs["name"], html.unescape(attrs.get("value", "")), attrs.get("type", "text"))
            )
    return found


def _seed(url: str, secret_key: str, clients: int) -> list[str]:
    """A firm with `clients` clients, each owing one invoice; a link path for each."""
    from portal import create_app, schema
    from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
    from portal.db import db
    from portal.firms import services as firms
    from portal.links import services as links

    app = create_app({"ENV": "production", "DATABASE_URL": url, "SECRET_KEY": secret_key})
    schema.upgrade(app.extensions["portal.engine"])
    paths = []
    with app.app_context():
        firm = firms.create_firm("Pay Flow Bench LLP")
        today = __import__("portal.clock", fromlist=["today"]).today()
        for n in range(clients):
            client = Client(
                firm_id=firm.id, external_id=f"C{n}", name=f"Client {n}", email=None, locale="en_US"
            )
            db.session.add(client)
            db.session.flush()
            matter = Matter(
                firm_id=firm.id,
                external_id=f"M{n}",
                client_id=client.id,
                number=f"M-{n}",
                title=f"Matter {n}",
                currency="USD",
            )
            db.session.add(matter)
            db.session.flush()
            db.session.add(
                Invoice(
                    firm_id=firm.id,
                    external_id=f"I{n}",
                    matter_id=matter.id,
                    number=f"INV-{n}",
                    issued_on=today,
                    due_on=today,
                    currency="USD",
                    total_minor=50_000,
                    balance_due_minor=50_000,
                    description="",
                    status=InvoiceStatus.OPEN,
                )
            )
            link = links.issue_link(firm_id=firm.id, client=client)
            paths.append(urllib.parse.urlsplit(links.url_for_link(link)).path)
        db.session.commit()
    app.extensions["portal.engine"].dispose()
    return paths


def _pay_once(server: Server, link_path: str, outcome: Outcome) -> None:
    started = time.perf_counter()
    opened = request(server.port, "GET", link_path)
    cookie = (opened.headers.get("Set-Cookie") or "").split(";", 1)[0]
    if opened.status != 303 or not cookie:
        outcome.fail(f"open {opened.status}")
        return
    headers = {"Cookie": cookie}
    reply = request(server.port, "GET", "/pay", headers=headers)
    # The basket stores the form's CSRF token in the session, so the cookie changes.
    if reply.headers.get("Set-Cookie"):
        headers["Cookie"] = reply.headers["Set-Cookie"].split(";", 1)[0]
    basket = reply.body.decode()
    fields = [
        (name, value)
        for name, value, kind in _inputs(basket, "<form")
        if kind not in ("submit", "checkbox", "radio") and name not in ("total",)
    ]
    ticked = [
        (name, value)
        for name, value, kind in _inputs(basket, "<form")
        if kind == "checkbox" and name == "invoice"
    ]
    form = [*fields, *ticked, ("method", "card"), ("action", "review")]
    post_headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    review = request(
        server.port,
        "POST",
        "/pay/review",
        body=urllib.parse.urlencode(form).encode(),
        headers=post_headers,
    )
    if review.status != 200:
        outcome.fail(f"review {review.status}")
        return
    carried = [
        (name, value)
        for name, value, kind in _inputs(review.body.decode(), 'id="confirm"')
        if kind == "hidden"
    ]
    card = [
        ("card_number", "4242 4242 4242 4242"),
        ("card_expiry", "12/34"),
        ("card_cvc", "123"),
        ("card_name", "Bench Client"),
    ]
    confirm = request(
        server.port,
        "POST",
        "/pay/confirm",
        body=urllib.parse.urlencode([*carried, *card]).encode(),
        headers=post_headers,
    )
    location = confirm.headers.get("Location") or ""
    if confirm.status != 303 or "/payments/" not in location:
        outcome.fail(f"confirm {confirm.status}")
        return
    receipt = request(server.port, "GET", urllib.parse.urlsplit(location).path, headers=headers)
    if receipt.status != 200 or b"Paid" not in receipt.body:
        outcome.fail(f"receipt {receipt.status}")
        return
    elapsed = time.perf_counter() - started
    with outcome.lock:
        outcome.latencies.append(elapsed)


def run(report: Report) -> None:
    secret_key = secrets.token_urlsafe(48)
    with tempfile.TemporaryDirectory(prefix="matterpay-payflow-") as folder:
        url = f"sqlite:///{Path(folder) / 'payflow.sqlite3'}"
        paths = _seed(url, secret_key, PAYMENTS)
        outcome = Outcome()
        queue = list(reversed(paths))
        queue_lock = threading.Lock()
        deadline = time.monotonic() + DEADLINE_SECONDS

        with serve(url, secret_key=secret_key, log_path=Path(folder) / "gunicorn.log") as server:

            def worker() -> None:
                while time.monotonic() < deadline:
                    with queue_lock:
                        if not queue:
                            return
                        path = queue.pop()
                    try:
                        _pay_once(server, path, outcome)
                    except OSError as exc:
                        outcome.fail(type(exc).__name__)

            started = time.perf_counter()
            threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=DEADLINE_SECONDS + 30)
            wall = time.perf_counter() - started

    samples = sorted(ms * 1000 for ms in outcome.latencies)
    done = len(samples)
    report.note(
        f"{PAYMENTS} clients, {CONCURRENCY} paying at once; each payment is 5 requests "
        "(open link, basket, review, confirm, receipt) on SQLite, gunicorn with 2 workers."
    )
    report.table(
        ["payments", "failed", "payments/s", "p50 ms", "p90 ms", "p99 ms"],
        [
            [
                done,
                sum(outcome.failures.values()),
                f"{done / wall:,.1f}" if wall else "-",
                f"{percentile(samples, 50):.1f}",
                f"{percentile(samples, 90):.1f}",
                f"{percentile(samples, 99):.1f}",
            ]
        ],
    )
    if outcome.failures:
        report.note("Failures: " + ", ".join(f"{k} x{v}" for k, v in outcome.failures.items()))
    report.verdict(
        "every payment recorded as succeeded",
        done == PAYMENTS and not outcome.failures,
        f"{done} of {PAYMENTS}",
    )
