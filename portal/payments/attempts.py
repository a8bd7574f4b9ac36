"""Card-testing defence: too many declined attempts per link, per IP or (on the firm's public
pay page, where anyone may try) per firm in an hour are refused.

Reads only; nothing here commits (the declines are counted by `charging.record_charge_result`).
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import func, select

from portal import clock
from portal.db import db
from portal.errors import PortalError
from portal.payments.models import FailedAttempt

#: The refusal's English text (the pages show their own page, too_many_attempts.html).
_WAIT = "Too many declined attempts. Please wait an hour and try again."


class TooManyAttempts(PortalError):
    status = 429
    code = "too-many-attempts"
    title = "Too many declined attempts"


def check_attempt_limits(link_id: int | None, ip: str, *, firm_id: int | None = None) -> None:
    """Refuse new attempts after too many declines in the last hour, per link and per IP, and
    per firm when `firm_id` is given (the public pay page: card testers rotate addresses)."""
    since = clock.now() - dt.timedelta(hours=1)
    if firm_id is not None:
        per_firm = int(current_app.config["PAYMENT_FAILURES_PER_FIRM_PER_HOUR"])
        count = (
            db.session.scalar(
                select(func.count(FailedAttempt.id)).where(
                    FailedAttempt.firm_id == firm_id,
                    FailedAttempt.link_id.is_(None),  # the public page's, not client links'
                    FailedAttempt.at >= since,
                )
            )
            or 0
        )
        if count >= per_firm:
            raise TooManyAttempts(_WAIT)
    per_link = int(current_app.config["PAYMENT_FAILURES_PER_LINK_PER_HOUR"])
    per_ip = int(current_app.config["PAYMENT_FAILURES_PER_IP_PER_HOUR"])
    if link_id is not None:
        count = (
            db.session.scalar(
                select(func.count(FailedAttempt.id)).where(
                    FailedAttempt.link_id == link_id, FailedAttempt.at >= since
                )
            )
            or 0
        )
        if count >= per_link:
            raise TooManyAttempts(
                "Too many declined attempts on this link. Please wait an hour, or contact "
                "your law firm."
            )
    count = (
        db.session.scalar(
            select(func.count(FailedAttempt.id)).where(
                FailedAttempt.ip == ip, FailedAttempt.at >= since
            )
        )
        or 0
    )
    if count >= per_ip:
        raise TooManyAttempts(_WAIT)
