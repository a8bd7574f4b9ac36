"""What a firm that posts by hand has waiting: its held postings, counted.

Read by the faces when the firm changes `auto_post`: turning it back on sends only new
postings, so the answer says how many wait for `outbox.release_held`.
"""

from __future__ import annotations

from sqlalchemy import func, select

from portal.db import db
from portal.postings.models import MessageStatus, OutboundMessage


def held_count(firm_id: int) -> int:
    """How many of the firm's postings are held until it releases them."""
    count = db.session.scalar(
        select(func.count())
        .select_from(OutboundMessage)
        .where(OutboundMessage.firm_id == firm_id, OutboundMessage.status == MessageStatus.HELD)
    )
    return int(count or 0)
