"""Delivering the outbox: the worker's loop over claim, send and record.

Delivery is a separate worker (`flask --app portal deliver-webhooks`): it claims a batch of
due deliveries in a short transaction with a lease, sends them over kept-alive connections
with no transaction open (`portal.postings.sending`), then records the attempts and
schedules what follows in one more transaction (`portal.postings.recording`). Several
workers may run at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app

from portal.db import db
from portal.postings import network, recording, sending

log = logging.getLogger(__name__)


def deliver_due(
    worker_id: str,
    *,
    limit: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    sender: network.Sender | None = None,
) -> int:
    """Send due deliveries batch by batch until none is due, `limit` is reached or asked to stop.

    Each batch (WEBHOOK_BATCH_SIZE deliveries) is claimed in one transaction, sent over
    kept-alive connections with no transaction open, and recorded in one more (message by
    message if the batch cannot be). Returns how many attempts were made.
    """
    size = max(1, int(current_app.config["WEBHOOK_BATCH_SIZE"]))
    own_sender = sender is None
    sender = sender or network.Sender()
    done = 0
    try:
        while limit is None or done < limit:
            if should_stop is not None and should_stop():
                break
            wanted = size if limit is None else min(size, limit - done)
            jobs = sending.claim_batch(worker_id, wanted)
            if not jobs:
                break
            sent, unsent = sending.send_batch(jobs, sender=sender, should_stop=should_stop)
            try:
                recording.record_batch(sent, worker_id, unsent=unsent)
            except Exception:
                # What was sent must be recorded, or it is sent again: one by one, then.
                log.exception("recording a batch of %s attempts failed", len(sent))
                db.session.rollback()
                recording.record_one_by_one(sent, unsent, worker_id)
            for item in sent:
                log.info(
                    "delivery %s attempt %s: %s",
                    item.job.delivery_id,
                    item.job.attempt,
                    item.answer.status_code or item.answer.error,
                )
            done += len(sent)
            if not sent:
                break
    finally:
        if own_sender:
            sender.close()
    return done
