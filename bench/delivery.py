"""Webhook delivery: messages per second one worker sends, beside a bare loop of POSTs.

A receiver on 127.0.0.1 (its own process, answering 204 at once) gets N queued postings from
one `deliver_due` worker: claim a batch in the database, check each URL, sign with Standard
Webhooks, POST over a kept-alive connection, record the batch's attempts. In the same run
bare loops POST the same number of unsigned bodies to the same receiver with the same HTTP
client: one over a kept-alive session as the worker uses (the target's yardstick), and one
opening a connection per message (how the worker sent before batches, for comparison). The
worker's figure includes everything the bare loops leave out: the outbox, the URL check,
the signing and the records that let a message survive a crash.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

from bench.report import Report
from bench.server import HOST, free_port

TITLE = "Webhook delivery: one worker vs a bare loop of POSTs"
MESSAGES = 400

RECEIVER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Quiet).serve_forever()
    """
)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            requests.post(url, data=b"{}", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("the receiver did not start")


def run(report: Report) -> None:
    from sqlalchemy import func, select

    from portal import create_app, schema
    from portal.db import db
    from portal.firms import services as firms
    from portal.postings import delivery, endpoints
    from portal.postings.models import Delivery

    port = free_port()
    url = f"http://{HOST}:{port}/hook"
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        _wait_for(url)
        with tempfile.TemporaryDirectory(prefix="matterpay-delivery-") as folder:
            app = create_app(
                {
                    "ENV": "production",
                    "SECRET_KEY": "b" * 48,
                    "DATABASE_URL": f"sqlite:///{Path(folder) / 'delivery.sqlite3'}",
                    "WEBHOOK_ALLOW_PRIVATE_TARGETS": True,
                }
            )
            schema.upgrade(app.extensions["portal.engine"])
            with app.app_context():
                firm = firms.create_firm("Delivery Bench LLP")
                endpoint = endpoints.register_endpoint(firm, url=url)
                for _ in range(MESSAGES):
                    endpoints.send_ping(endpoint)
                db.session.commit()
                body = '{"type":"ping","data":{"message":"bare loop"}}'

                headers = {"Content-Type": "application/json"}
                started, cpu = time.perf_counter(), time.process_time()
                for _ in range(MESSAGES):
                    requests.post(url, data=body, timeout=15, headers=headers)
                fresh = MESSAGES / (time.perf_counter() - started)
                fresh_cpu = (time.process_time() - cpu) * 1000 / MESSAGES

                started, cpu = time.perf_counter(), time.process_time()
                with requests.Session() as session:
                    for _ in range(MESSAGES):
                        session.post(url, data=body, timeout=15, headers=headers)
                bare = MESSAGES / (time.perf_counter() - started)
                bare_cpu = (time.process_time() - cpu) * 1000 / MESSAGES

                started, cpu = time.perf_counter(), time.process_time()
                sent = delivery.deliver_due("bench-worker")
                worker = sent / (time.perf_counter() - started)
                worker_cpu = (time.process_time() - cpu) * 1000 / max(sent, 1)
                delivered = db.session.scalar(
                    select(func.count(Delivery.id)).where(Delivery.status == "delivered")
                )
            app.extensions["portal.engine"].dispose()
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)

    ratio = worker / bare if bare else 0.0
    report.note(
        f"{MESSAGES} messages to one receiver on 127.0.0.1 (its own process); the worker on "
        "SQLite, claiming and recording in batches, checking, signing and sending each message. "
        "CPU ms/message is this process's CPU time (the receiver's excluded): on a busy machine "
        "it moves less than the rates do."
    )
    report.table(
        ["loop", "messages", "messages/s", "CPU ms/message"],
        [
            [
                "bare POSTs, new connection each (unsigned, no database)",
                MESSAGES,
                f"{fresh:,.0f}",
                f"{fresh_cpu:.2f}",
            ],
            [
                "bare POSTs, kept-alive session (unsigned, no database)",
                MESSAGES,
                f"{bare:,.0f}",
                f"{bare_cpu:.2f}",
            ],
            ["deliver-webhooks worker", sent, f"{worker:,.0f}", f"{worker_cpu:.2f}"],
        ],
    )
    report.verdict("every message delivered", delivered == MESSAGES, f"{delivered} of {MESSAGES}")
    report.verdict(
        "worker >= 70% of the bare kept-alive loop",
        ratio >= 0.70,
        f"{worker:,.0f} vs {bare:,.0f} messages/s = {ratio:.0%} (target >= 70%)",
    )
