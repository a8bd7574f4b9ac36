"""The email outbox: one row per email, written in the transaction of what it reports.

A row is the whole message as it will go over the wire, its envelope recipients and what
became of it. It exists exactly when the change it reports does (a rolled-back transaction
leaves no row, so no email), and a worker sends it outside any transaction (portal.mail).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.db import Base, str_enum

#: The longest server answer kept on a row.
MAX_ERROR_LENGTH = 500


class EmailStatus(enum.StrEnum):
    #: Waiting for its first attempt or its next one (see `next_attempt_at`, `last_error`).
    QUEUED = "queued"
    #: The mail server took it.
    SENT = "sent"
    #: Refused for good (a 5xx answer) or given up after MAIL_MAX_ATTEMPTS attempts.
    FAILED = "failed"


class OutgoingEmail(Base):
    """One email to send: the message itself, its recipients, its state and its last error.

    Nothing personal is kept beyond what the message needs (its own headers and body and
    the envelope addresses); sent and failed rows are purged after MAIL_RETENTION_DAYS.
    """

    __tablename__ = "outgoing_emails"
    __table_args__ = (
        # The worker's claim: queued rows by when they are due.
        Index("ix_outgoing_emails_status_next_attempt_at", "status", "next_attempt_at"),
        # A feature's status read ("what became of the email for my record <ref>?").
        Index("ix_outgoing_emails_kind_ref", "kind", "ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What the email is for: "receipt", "trust_request", "link", "endpoint_disabled"...
    kind: Mapped[str] = mapped_column(String(40))
    #: The sending feature's own reference for the record the email is about (a link
    #: delivery's public id, say): the key of its outcome handler and of status reads.
    ref: Mapped[str | None] = mapped_column(String(100))
    #: Envelope recipients, one address per line (To, Cc and Bcc of the message).
    recipients: Mapped[str] = mapped_column(Text)
    #: The message as sent (RFC 5322 bytes; Bcc removed).
    message: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[EmailStatus] = mapped_column(
        str_enum(EmailStatus, "email_status"), default=EmailStatus.QUEUED
    )
    #: Attempts started (counted at claim time, so a worker that dies mid-send still counts).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When the next attempt is due (creation time for a new row).
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: The worker holding the row, and until when: past it, another worker may take it.
    #: Once an attempt is recorded the lease ends; `claimed_by` keeps who made it.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[dt.datetime | None]
    #: The mail server's answer to the last failed attempt (or the connection error).
    last_error: Mapped[str | None] = mapped_column(String(MAX_ERROR_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
