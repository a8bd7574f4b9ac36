"""One event delivered twice at the same moment (two workers, two processes of the hook):
the second waits for the first's key and emails nobody (real threads, real transactions)."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from portal import clock
from portal.db import db
from portal.mail.models import OutgoingEmail
from portal.notifications import sending
from portal.notifications.choices import Kind
from portal.notifications.sending import EMAIL_KIND, Notice, notify
from portal.staff.models import StaffRole, StaffUser
from tests import factories


def _seed(app: Flask) -> int:
    with app.app_context():
        firm = factories.firm_with_key("Twice & Once LLP")
        for address in ("a@twice.example", "b@twice.example"):
            db.session.add(
                StaffUser(
                    firm_id=firm.id,
                    email=address,
                    role=StaffRole.ADMIN,
                    activated_at=clock.now(),
                )
            )
        db.session.commit()
        return firm.id


def test_the_same_event_at_once_emails_once(committed_app: Flask, monkeypatch) -> None:
    firm_id = _seed(committed_app)
    notice = Notice(
        firm_id=firm_id, kind=Kind.PAYMENT_DISPUTED, key="ch_x:evt_x", console_path="/console"
    )
    first_wrote = threading.Event()
    second_started = threading.Event()
    real_compose = sending.identity.compose_email

    def compose_then_pause(*args: Any, **kw: Any) -> Any:
        if threading.current_thread().name == "first" and not first_wrote.is_set():
            first_wrote.set()  # its key is written, not committed
            second_started.wait(timeout=5)
            threading.Event().wait(0.3)  # let the second reach the key
        return real_compose(*args, **kw)

    monkeypatch.setattr(sending.identity, "compose_email", compose_then_pause)
    results: dict[str, Any] = {}

    def run(name: str) -> None:
        with committed_app.app_context():
            try:
                if name == "second":
                    assert first_wrote.wait(timeout=30)
                    second_started.set()
                results[name] = notify(notice)
                db.session.commit()
            except Exception as exc:  # pragma: no cover - reported by the assertion below
                results[name] = exc

    threads = [threading.Thread(target=run, args=(n,), name=n) for n in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {"first": 2, "second": 0}
    with committed_app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(OutgoingEmail).where(OutgoingEmail.kind == EMAIL_KIND)
        )
        assert count == 2
