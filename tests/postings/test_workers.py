"""Delivery workers against a committed database: real threads, real processes, real signals.

The same tests run on SQLite (claims serialised by BEGIN IMMEDIATE) and, when the suite runs
on PostgreSQL, there (claims pass each other with FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.db import PROJECT_ROOT, db
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.models import ChargeStatus, PaymentMethod
from portal.postings import delivery as worker
from portal.postings import endpoints
from portal.postings.models import Delivery, DeliveryAttempt, DeliveryStatus, OutboundMessage
from tests import factories
from tests.conftest import TEST_SECRET
from tests.payments.conftest import VISA
from tests.postings.conftest import Clock, Receiver, Reply, ensure_posted, follow_clock

TIMEOUT_SECONDS = 5


@pytest.fixture
def worker_app(committed_app: Flask) -> Flask:
    committed_app.config.update(
        WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=TIMEOUT_SECONDS
    )
    return committed_app


def _seed(app: Flask, receiver: Receiver, *, pings: int = 0) -> list[str]:
    """A firm with one endpoint, one paid invoice posted, and `pings` more messages; committed."""
    with app.app_context():
        firm = factories.firm_with_key("Worker & Wong LLP")
        person = factories.client(firm)
        invoice = factories.invoice(factories.matter(person), total_minor=50_000)
        link = factories.link(person)
        endpoint = endpoints.register_endpoint(firm.firm, url=receiver.url)
        receiver.secrets.append(endpoint.secret)
        db.session.commit()
        payment = payments.start_payment(
            link=link,
            basket=allocation.Basket(invoices={invoice.id: 50_000}),
            method=PaymentMethod.CARD,
            instrument=VISA,
            idempotency_key="worker-test",
            payer=payments.Payer("Ada Client", "ada@example.com", "203.0.113.7", "pytest"),
        )
        (charge,) = payment.charges
        ensure_posted(charge, before=ChargeStatus.CREATED, to=ChargeStatus.SUCCEEDED)
        for _ in range(pings):
            endpoints.send_ping(endpoint)
        db.session.commit()
        return list(
            db.session.scalars(select(OutboundMessage.public_id).order_by(OutboundMessage.id))
        )


@pytest.fixture
def worker_process(worker_app: Flask) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def _start_worker(
    app: Flask, started: list[subprocess.Popen[str]], *args: str
) -> subprocess.Popen[str]:
    """Run `flask --app portal deliver-webhooks` as its own process on the committed database."""
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": app.config["DATABASE_URL"],
        "PORTAL_ENV": "testing",
        "PORTAL_SECRET_KEY": TEST_SECRET,
        "PORTAL_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "PORTAL_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    }
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "flask", "--app", "portal", "deliver-webhooks", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(process)
    return process


def test_many_workers_deliver_each_message_once(worker_app: Flask, receiver: Receiver) -> None:
    # given 40 messages due at once
    ids = _seed(worker_app, receiver, pings=39)
    # a receiver slow enough that workers overlap, and batches small enough to share
    receiver.script = [Reply(200, delay=0.02) for _ in ids]
    worker_app.config["WEBHOOK_BATCH_SIZE"] = 4
    workers = 4
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        with worker_app.app_context():
            barrier.wait(timeout=30)
            try:
                worker.deliver_due(f"thread-{n}")
            except BaseException as exc:  # the test reports what any thread hit
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then every message arrived exactly once, and the work was shared
    assert errors == []
    assert Counter(receiver.ids()) == Counter(ids)
    with worker_app.app_context():
        deliveries = list(db.session.scalars(select(Delivery)))
        assert {(d.status, d.attempts) for d in deliveries} == {(DeliveryStatus.DELIVERED, 1)}
        assert db.session.scalar(select(func.count(DeliveryAttempt.id))) == len(ids)
        by_worker = set(db.session.scalars(select(DeliveryAttempt.worker)))
        assert len(by_worker) >= 2, by_worker


def test_a_killed_worker_leaves_its_delivery_to_the_next_after_the_lease(
    worker_app: Flask, receiver: Receiver, worker_process, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given one posting and a receiver that hangs on the first request
    (msg_id,) = _seed(worker_app, receiver)
    hang = threading.Event()
    receiver.script = [Reply(200, hold=hang)]
    # when a worker process picks it up and is killed mid-request
    process = _start_worker(worker_app, worker_process, "--idle-sleep", "0.1")
    assert receiver.arrived.wait(30), process.stderr.read() if process.stderr else ""
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    hang.set()
    # then no other worker may take it while the dead one's lease lasts
    with worker_app.app_context():
        assert worker.deliver_due("next-worker") == 0
        delivery = db.session.scalars(select(Delivery)).one()
        assert delivery.claimed_until is not None
        assert delivery.attempts == 1
        # and once the lease is over, the next worker sends the same message again
        follow_clock(monkeypatch, Clock(delivery.claimed_until + dt.timedelta(seconds=1)))
        assert worker.deliver_due("next-worker") == 1
        db.session.refresh(delivery)
        assert delivery.status is DeliveryStatus.DELIVERED
        assert delivery.attempts == 2
        attempts = list(db.session.scalars(select(DeliveryAttempt)))
        assert [(a.worker, a.status_code) for a in attempts] == [("next-worker", 200)]
    assert receiver.ids() == [msg_id, msg_id]
    assert all(item.accepted_by for item in receiver.received)


def test_sigterm_lets_the_delivery_in_hand_finish(
    worker_app: Flask, receiver: Receiver, worker_process
) -> None:
    # given a posting and a receiver that takes a second to answer
    (msg_id,) = _seed(worker_app, receiver)
    receiver.script = [Reply(200, delay=1.0)]
    process = _start_worker(worker_app, worker_process, "--idle-sleep", "0.1")
    assert receiver.arrived.wait(30)
    # when the worker is asked to stop while it waits for the answer
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    # then it recorded the delivery before exiting cleanly
    assert process.returncode == 0, err
    assert "Made 1 delivery attempt(s)." in out
    with worker_app.app_context():
        delivery = db.session.scalars(select(Delivery)).one()
        assert delivery.status is DeliveryStatus.DELIVERED
        (attempt,) = db.session.scalars(select(DeliveryAttempt))
        assert attempt.status_code == 200
        assert str(process.pid) in attempt.worker
    assert receiver.ids() == [msg_id]


def test_once_sends_what_is_due_and_exits(worker_app: Flask, receiver: Receiver) -> None:
    ids = _seed(worker_app, receiver, pings=2)
    with worker_app.app_context():  # as `flask --app portal` gives every command
        result = worker_app.test_cli_runner().invoke(args=["deliver-webhooks", "--once"])
    assert result.exit_code == 0, result.output
    assert "Made 3 delivery attempt(s)." in result.output
    assert sorted(receiver.ids()) == sorted(ids)
