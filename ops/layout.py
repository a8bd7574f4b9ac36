"""The production layout on this machine, for trying it (`serve`) and for CI (`check`).

PostgreSQL and Redis on loopback, `flask --app portal migrate`, gunicorn with several workers
through gunicorn.conf.py, and two delivery workers (`deliver-webhooks`, which sends the email
outbox too), all with PORTAL_ENV=production and a freshly generated secret key:

    .venv/bin/python ops/layout.py serve   # make prod-local: in the foreground, Ctrl-C stops all
    .venv/bin/python ops/layout.py check   # make test-prod-layout: one pay flow through it

`serve` keeps its database (matterpay_local) between runs. `check` makes a database of its own,
drives one payment over real HTTP (API records and link, the pay flow's forms with their CSRF
tokens, a sandbox card, the receipt, the signed posting delivered by one of the two workers,
the receipt email sent by one of them to an SMTP server on loopback, never by a web worker),
stops every process, drops the database, and exits non-zero on any failure. `serve` sets no
mail server: its workers write email to instance/outbox.

PORTAL_TEST_PG_URL names the PostgreSQL server (its database is only used to create others).
When PostgreSQL or Redis is missing, `check` skips with a reason, except in CI (CI set),
where that is a failure.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html.parser
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import psycopg
import requests
from aiosmtpd.controller import Controller
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from standardwebhooks.webhooks import Webhook

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = PROJECT_ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
SERVER_URL = os.environ.get(
    "PORTAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("LAYOUT_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Web worker processes and webhook delivery workers.
WEB_WORKERS = 3
DELIVERY_WORKERS = 2
#: Generous: on a busy two-core machine three workers take half a minute to import the app.
STARTUP_SECONDS = 120.0
DELIVERY_SECONDS = 20.0
STOP_SECONDS = 60.0
CARD = {
    "card_number": "4242 4242 4242 4242",
    "card_expiry": "12/34",
    "card_cvc": "123",
    "card_name": "Layout Check",
}


_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:5.1f} s] {message}", flush=True)


class LayoutError(RuntimeError):
    """Something in the layout did not do what production needs."""


# -- the parts ---------------------------------------------------------------------------------


def database_url(name: str) -> URL:
    return make_url(SERVER_URL).set(database=name)


def _admin() -> psycopg.Connection[Any]:
    url = make_url(SERVER_URL)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
        connect_timeout=3,
    )


def create_database(name: str) -> bool:
    """Create database `name` unless it exists; True when it was created."""
    with _admin() as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return not exists


def drop_database(name: str) -> None:
    with _admin() as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def environment(db_name: str, port: int, **extra: str) -> dict[str, str]:
    """What every process of the layout runs with: production, and nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "GUNICORN_"))}
    env.update(
        PORTAL_ENV="production",
        PORTAL_SECRET_KEY=secrets.token_urlsafe(48),
        PORTAL_DATABASE_URL=database_url(db_name).render_as_string(hide_password=False),
        PORTAL_BASE_URL=f"http://{HOST}:{port}",
        PORTAL_RATELIMIT_STORAGE_URI=REDIS_URL,
        # The receiver of postings is this machine's loopback (never in a real production).
        PORTAL_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        GUNICORN_BIND=f"{HOST}:{port}",
        WEB_CONCURRENCY=str(WEB_WORKERS),
    )
    env.update(extra)
    return env


def flask(*args: str, env: dict[str, str]) -> str:
    """Run one `flask --app portal` command to its end; its output, or a LayoutError."""
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "portal", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise LayoutError(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _readable(raw: bytes) -> str:
    """An email's subject and text parts, decoded (the parts travel base64 or
    quoted-printable beside the receipt's PDF)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    found = [str(message["Subject"] or "")]
    for part in message.walk():
        if part.get_content_maintype() == "text" and not part.is_attachment():
            found.append(str(part.get_content()))
    return "\n".join(found)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path | None


@dataclass
class Layout:
    """The running processes, each in its own session so that Ctrl-C reaches only us."""

    env: dict[str, str]
    logs: Path | None
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, command: list[str]) -> Process:
        out: IO[bytes] | None = None
        log = None
        if self.logs is not None:
            log = self.logs / f"{name}.log"
            out = log.open("wb")
        popen = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        if out is not None:
            out.close()
        process = Process(name, popen, log)
        self.processes.append(process)
        say(f"started {name} (pid {popen.pid})")
        return process

    def dead(self) -> list[Process]:
        return [p for p in self.processes if p.popen.poll() is not None]

    def stop(self) -> dict[str, int]:
        """SIGTERM each (each finishes what it holds), then wait; kill any that outstay."""
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        codes = {}
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes:
            try:
                codes[process.name] = process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                codes[process.name] = process.popen.wait()
                print(f"{process.name} did not stop in {STOP_SECONDS:.0f} s: killed", flush=True)
        return codes

    def log_text(self) -> str:
        return "".join(
            f"\n--- {p.name} ---\n{p.log.read_text(errors='replace')}"
            for p in self.processes
            if p.log is not None and p.log.exists()
        )


@contextmanager
def running(env: dict[str, str], logs: Path | None) -> Iterator[Layout]:
    """gunicorn through gunicorn.conf.py, and the delivery workers, for the block."""
    layout = Layout(env, logs)
    try:
        layout.start("web", [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"])
        for n in range(1, DELIVERY_WORKERS + 1):
            layout.start(
                f"deliver-{n}",
                [str(BIN / "flask"), "--app", "portal", "deliver-webhooks", "--idle-sleep", "0.5"],
            )
        wait_until_ready(layout, env["PORTAL_BASE_URL"])
        yield layout
    finally:
        codes = layout.stop()
        say("stopped: " + ", ".join(f"{k} exit {v}" for k, v in codes.items()))
        layout.exit_codes = codes  # type: ignore[attr-defined]


def wait_until_ready(layout: Layout, base: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if dead := layout.dead():
            raise LayoutError(f"{dead[0].name} exited with {dead[0].popen.returncode}")
        with suppress(requests.RequestException):
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise LayoutError(f"/readyz did not answer 200 within {STARTUP_SECONDS:.0f} s")


# -- serve -------------------------------------------------------------------------------------


def serve(port: int) -> int:
    name = "matterpay_local"
    created = create_database(name)
    # Generated once and kept beside the database's name, so links survive a restart.
    secret_file = PROJECT_ROOT / "instance" / "prod-local.secret"
    if created or not secret_file.exists():
        secret_file.parent.mkdir(exist_ok=True)
        secret_file.touch(mode=0o600)
        secret_file.write_text(secrets.token_urlsafe(48))
    env = environment(name, port, PORTAL_SECRET_KEY=secret_file.read_text().strip())
    say(flask("migrate", env=env).strip())
    if created:
        firm = json.loads(flask("create-firm", "Local Production LLP", "--json", env=env))
        say(
            f"database {name} created with firm {firm['id']}; API key (shown once): "
            f"{firm['api_key']}"
        )
    else:
        say(
            f"database {name} kept from an earlier run; a new API key: PORTAL_DATABASE_URL="
            f"{env['PORTAL_DATABASE_URL']} .venv/bin/flask --app portal create-api-key 1"
        )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with running(env, logs=None) as layout:
        print(
            f"\nserving http://{HOST}:{port} (PostgreSQL {name}, Redis, {WEB_WORKERS} web "
            f"workers, {DELIVERY_WORKERS} delivery workers). Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stop.wait(0.5):
            if dead := layout.dead():
                print(f"{dead[0].name} exited with {dead[0].popen.returncode}; stopping")
                return 1
    return 0


# -- check -------------------------------------------------------------------------------------


class Forms(html.parser.HTMLParser):
    """Every form of a page: its id and its inputs as (name, value, type, checked)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.forms: dict[str, list[tuple[str, str, str, bool]]] = {}
        self._current: list[tuple[str, str, str, bool]] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = self.forms.setdefault(values.get("id", ""), [])
        elif tag == "input" and self._current is not None and "name" in values:
            self._current.append(
                (
                    values["name"],
                    values.get("value", ""),
                    values.get("type", "text"),
                    "checked" in values,
                )
            )

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


class Receiver:
    """The firm's webhook endpoint: records every POST, answers 204."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.arrived:
                    receiver.received.append((dict(self.headers.items()), body))
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/postings"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, secret: str, event_type: str, payment_id: str) -> dict[str, Any]:
        """The verified posting of `event_type` about `payment_id`."""
        verifier = Webhook(secret)
        deadline = time.monotonic() + DELIVERY_SECONDS
        with self.arrived:
            while True:
                for headers, body in self.received:
                    posting = verifier.verify(body, {k.lower(): v for k, v in headers.items()})
                    if posting["type"] == event_type and payment_id in body.decode():
                        return posting
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LayoutError(f"no {event_type} posting within {DELIVERY_SECONDS:.0f} s")
                self.arrived.wait(left)


class MailInbox:
    """The mail server: an SMTP server on loopback that keeps every message's bytes."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.arrived = threading.Condition()
        inbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                with inbox.arrived:
                    inbox.received.append(bytes(envelope.content))
                    inbox.arrived.notify_all()
                return "250 OK"

        self.controller = Controller(Handler(), hostname=HOST, port=free_port())
        self.controller.start()
        self.port = self.controller.port

    def wait_for(self, text: str) -> bytes:
        """The first message whose subject or text parts (decoded) contain `text`."""
        deadline = time.monotonic() + DELIVERY_SECONDS
        with self.arrived:
            while True:
                for message in self.received:
                    if text in _readable(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LayoutError(f"no email with {text!r} within {DELIVERY_SECONDS:.0f} s")
                self.arrived.wait(left)


@dataclass
class Page:
    status: int
    url: str
    text: str


class Browser:
    """A client's browser: keeps cookies, follows redirects, posts forms.

    Browsers treat http://127.0.0.1 as secure and send it the Secure session cookie; Python's
    cookie jar does so only for https unless told the same.
    """

    def __init__(self) -> None:
        jar = CookieJar(DefaultCookiePolicy(secure_protocols=("https", "wss", "http")))
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def open(self, url: str, form: list[tuple[str, str]] | None = None) -> Page:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self._opener.open(url, data=data, timeout=60) as response:
                return Page(response.status, response.url, response.read().decode())
        except urllib.error.HTTPError as exc:
            return Page(exc.code, exc.url, exc.read().decode(errors="replace"))


def expect(response: requests.Response, status: int, what: str) -> requests.Response:
    if response.status_code != status:
        raise LayoutError(f"{what}: {response.status_code}, not {status}: {response.text[:500]}")
    return response


def pay_flow(base: str, api_key: str, receiver: Receiver) -> tuple[str, str, str]:
    """One payment through the running layout; (payment id, link token, webhook secret)."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {api_key}"
    v1 = f"{base}/api/v1"
    endpoint = expect(
        api.post(f"{v1}/webhook-endpoints", json={"url": receiver.url}, timeout=10),
        201,
        "registering the webhook endpoint",
    ).json()
    expect(
        api.put(
            f"{v1}/clients/C-1",
            json={"name": "Ada Client", "email": "ada@example.com", "locale": "en_US"},
            timeout=10,
        ),
        201,
        "client",
    )
    expect(
        api.put(
            f"{v1}/matters/M-1",
            json={"client": "C-1", "number": "M-1", "title": "Estate of Ada"},
            timeout=10,
        ),
        201,
        "matter",
    )
    today = time.strftime("%Y-%m-%d", time.gmtime())
    expect(
        api.put(
            f"{v1}/invoices/I-1",
            json={
                "matter": "M-1",
                "number": "INV-1",
                "issued_on": today,
                "currency": "USD",
                "total": 125_00,
                "balance_due": 125_00,
            },
            timeout=10,
        ),
        201,
        "invoice",
    )
    link = expect(api.post(f"{v1}/links", json={"client": "C-1"}, timeout=10), 201, "link").json()
    token = link["url"].rsplit("/l/", 1)[1]

    browser = Browser()
    statement = browser.open(link["url"])
    if statement.status != 200 or "/l/" in statement.url:
        raise LayoutError(f"opening the link: {statement.status} at {statement.url}")
    basket = browser.open(f"{base}/pay")
    fields = Forms(basket.text).forms["basket"]
    form = [(n, v) for n, v, kind, _ in fields if kind == "hidden"]
    form += [(n, v) for n, v, kind, _ in fields if kind == "checkbox" and n == "invoice"]
    form += [("method", "card"), ("action", "review")]
    review = browser.open(f"{base}/pay/review", form)
    if review.status != 200:
        raise LayoutError(f"review: {review.status}: {review.text[:500]}")
    carried = [(n, v) for n, v, kind, _ in Forms(review.text).forms["confirm"] if kind == "hidden"]
    if not any(n == "csrf_token" and v for n, v in carried):
        raise LayoutError("the confirm form carries no CSRF token")
    receipt = browser.open(f"{base}/pay/confirm", [*carried, *CARD.items()])
    match = re.search(r"/payments/([A-Za-z0-9_-]+)", receipt.url)
    if receipt.status != 200 or not match or "Paid" not in receipt.text:
        raise LayoutError(f"no receipt saying Paid at {receipt.url}")
    payment_id = match.group(1)
    payment = expect(api.get(f"{v1}/payments/{payment_id}", timeout=10), 200, "payment").json()
    if payment["status"] != "succeeded":
        raise LayoutError(f"the API says the payment is {payment['status']}")
    receiver.wait_for(endpoint["secret"], "payment.succeeded", payment_id)
    return payment_id, token, endpoint["secret"]


def _pay_through(
    layout: Layout,
    env: dict[str, str],
    firm: dict[str, Any],
    db_name: str,
    receiver: Receiver,
    inbox: MailInbox,
) -> tuple[str, str, str, str]:
    """Pay once through the running layout; (payment id, link token, webhook secret, worker)."""
    base = env["PORTAL_BASE_URL"]
    if (workers := _gunicorn_workers(layout.processes[0].popen.pid)) < 2:
        raise LayoutError(f"gunicorn runs {workers} worker(s), not several")
    say(f"ready: {workers} web workers; paying")
    payment_id, token, secret = pay_flow(base, firm["api_key"], receiver)
    say("paid; the posting arrived")
    delivered_by = _delivered_by(db_name, payment_id)
    pids = {str(p.popen.pid) for p in layout.processes[1:]}
    if delivered_by.rsplit(":", 1)[-1] not in pids:
        raise LayoutError(f"delivered by {delivered_by}, not a delivery worker")
    # The receipt email names the payment by its number, the one a client quotes.
    number = _first_value(
        db_name,
        "SELECT number FROM payments WHERE public_id = %s",
        (payment_id,),
        missing="the payment has no number",
        wait_seconds=5.0,
    )
    inbox.wait_for(number)
    emailed_by = _emailed_by(db_name)
    if emailed_by.rsplit(":", 1)[-1] not in pids:
        raise LayoutError(f"the receipt email was sent by {emailed_by}, not a delivery worker")
    say(f"the receipt email arrived, sent by {emailed_by}")
    if dead := layout.dead():
        raise LayoutError(f"{dead[0].name} exited during the check")
    return payment_id, token, secret, delivered_by


def check() -> int:
    url = make_url(SERVER_URL)
    missing = [
        what
        for what, host, port in (
            ("PostgreSQL", url.host or HOST, url.port or 5432),
            ("Redis", *_redis_address()),
        )
        if not reachable(host, port)
    ]
    if missing:
        message = f"{' and '.join(missing)} not reachable (PORTAL_TEST_PG_URL, LAYOUT_REDIS_URL)"
        if os.environ.get("CI"):
            print(f"FAILED the production layout check: {message}; CI must run it.")
            return 1
        print(f"SKIPPED the production layout check: {message}.")
        return 0

    started = time.monotonic()
    name = f"matterpay_layout_{secrets.token_hex(4)}"
    port = free_port()
    create_database(name)
    receiver = Receiver()
    inbox = MailInbox()
    layout: Layout | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="matterpay-layout-") as folder:
            env = environment(name, port, PORTAL_MAIL_SERVER=HOST, PORTAL_MAIL_PORT=str(inbox.port))
            say(f"created database {name}; migrating")
            flask("migrate", env=env)
            # The firm is made with the CLI while the processes boot.
            with ThreadPoolExecutor(1) as pool:
                made = pool.submit(flask, "create-firm", "Layout Check LLP", "--json", env=env)
                with running(env, logs=Path(folder)) as layout:
                    firm = json.loads(made.result())
                    payment_id, token, secret, delivered_by = _pay_through(
                        layout, env, firm, name, receiver, inbox
                    )
            codes = layout.exit_codes  # type: ignore[attr-defined]
            if any(codes.values()):
                raise LayoutError(f"not every process stopped cleanly: {codes}")
            logs = layout.log_text()
            for what, secret_text in (
                ("link token", token),
                ("API key", firm["api_key"]),
                ("webhook secret", secret),
                ("card number", "4242424242"),
            ):
                if secret_text in logs or secret_text in logs.replace(" ", ""):
                    raise LayoutError(f"a {what} is in the processes' logs")
    except Exception as exc:
        print(f"FAILED the production layout check: {exc}", file=sys.stderr)
        if layout is not None:
            with suppress(Exception):
                print(layout.log_text()[-6000:], file=sys.stderr)
        return 1
    finally:
        receiver.server.shutdown()
        inbox.controller.stop()
        drop_database(name)
    print(
        f"PASSED the production layout check in {time.monotonic() - started:.1f} s: payment "
        f"{payment_id} paid through gunicorn ({WEB_WORKERS} workers, PostgreSQL, Redis), its "
        f"posting delivered by {delivered_by} and its receipt email sent by a delivery worker; "
        "every process stopped with 0."
    )
    return 0


def _redis_address() -> tuple[str, int]:
    match = re.match(r"redis://(?:[^@/]*@)?([^:/]+)(?::(\d+))?", REDIS_URL)
    if not match:
        return HOST, 6379
    return match.group(1), int(match.group(2) or 6379)


def _gunicorn_workers(master: int) -> int:
    """How many processes have gunicorn's master as their parent."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            text = stat.read_text()
            if int(text[text.rindex(")") + 2 :].split()[1]) == master:
                count += 1
    return count


def _first_value(
    db_name: str, sql: str, params: tuple[object, ...], *, missing: str, wait_seconds: float
) -> str:
    """The first column of the first row `sql` finds, waited for briefly (workers record what
    they did just after doing it); LayoutError saying `missing` when none comes."""
    url = database_url(db_name)
    deadline = time.monotonic() + wait_seconds
    while True:
        with psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=db_name,
            connect_timeout=3,
        ) as connection:
            row = connection.execute(sql, params).fetchone()
        if row is not None:
            return str(row[0])
        if time.monotonic() >= deadline:
            raise LayoutError(missing)
        time.sleep(0.2)


def _delivered_by(db_name: str, payment_id: str, *, wait_seconds: float = 15.0) -> str:
    """The worker id (host:pid) that made the successful attempt of the payment's posting.

    The receiver sees the message before the worker has its answer, and the worker records a
    batch's attempts only once the batch is sent: the record is waited for, briefly.
    """
    return _first_value(
        db_name,
        "SELECT a.worker FROM webhook_delivery_attempts a"
        " JOIN webhook_deliveries d ON d.id = a.delivery_id"
        " JOIN outbound_messages m ON m.id = d.message_id"
        " JOIN payments p ON p.id = m.payment_id"
        " WHERE m.type = 'payment.succeeded' AND p.public_id = %s"
        " AND a.status_code BETWEEN 200 AND 299 ORDER BY a.id DESC LIMIT 1",
        (payment_id,),
        missing="no delivery attempt is recorded for the posting",
        wait_seconds=wait_seconds,
    )


def _emailed_by(db_name: str, *, wait_seconds: float = 15.0) -> str:
    """The worker id (host:pid) that sent the receipt email (recorded just after it is sent)."""
    return _first_value(
        db_name,
        "SELECT claimed_by FROM outgoing_emails WHERE status = 'sent' ORDER BY id DESC LIMIT 1",
        (),
        missing="no sent email is recorded in the outbox",
        wait_seconds=wait_seconds,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="run the layout in the foreground")
    serve_parser.add_argument("--port", type=int, default=8000)
    sub.add_parser("check", help="one pay flow through the layout, then stop (CI)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port)
    return check()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
