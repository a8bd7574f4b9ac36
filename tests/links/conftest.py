"""Real SMTP servers on loopback for the link emails: one that keeps what it is given, one that
refuses every recipient, and the helpers to read a captured message."""

from __future__ import annotations

import email
import re
import socket
from collections.abc import Iterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from flask import Flask


class Inbox:
    """An aiosmtpd handler that keeps every message it is given (or refuses every recipient)."""

    def __init__(self, *, refuse: str | None = None) -> None:
        self.messages: list[Message] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_smtp(app: Flask, inbox: Inbox) -> Controller:
    """Start an SMTP server for `inbox` and point the app's mail settings at it."""
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    return controller


@pytest.fixture
def smtp(app: Flask) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = serve_smtp(app, inbox)
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def refusing_smtp(app: Flask) -> Iterator[Inbox]:
    inbox = Inbox(refuse="550 5.1.1 <nobody@example.com>: mailbox unavailable")
    controller = serve_smtp(app, inbox)
    try:
        yield inbox
    finally:
        controller.stop()


def parts(message: Message) -> tuple[str, str]:
    """The text and HTML bodies of a captured message."""
    text = html = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode().replace("\r\n", "\n")
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode().replace("\r\n", "\n")
    return text, html


def link_url_in(message: Message) -> str:
    """The one client link (…/l/<token>) in a captured message's text body."""
    text, _html = parts(message)
    (url,) = set(re.findall(r"https?://\S+/l/[A-Za-z0-9_.\-]+", text))
    return url
