"""Webhook endpoints, the postings queue, the delivery log and replays under /api/v1."""

from __future__ import annotations
