"""Staff notifications about what the adapters beside staff announce (they cannot import staff).

postings sends `postings.signals.endpoint_disabled` when it disables a webhook endpoint;
`init_app` (called by create_app) connects the receiver here, which runs in the same
transaction and queues the staff emails like any other notice.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from portal import clock
from portal.notifications.choices import Kind
from portal.notifications.sending import POSTINGS_PATH, Notice, notify
from portal.postings import signals
from portal.postings.endpoint_audit import audited_url
from portal.postings.models import WebhookEndpoint


def endpoint_disabled(endpoint: WebhookEndpoint, **extra: Any) -> None:
    """Email the firm's staff who asked that `endpoint` was disabled, and why."""
    disabled_at = endpoint.disabled_at or clock.now()
    reason = str(extra.get("reason") or endpoint.disabled_reason or "")
    notify(
        Notice(
            firm_id=endpoint.firm_id,
            kind=Kind.ENDPOINT_DISABLED,
            key=f"{endpoint.public_id}:{disabled_at.isoformat()}",
            console_path=POSTINGS_PATH,
            # The address as the audit log shows it: a token in its query is never emailed.
            detail=f"{audited_url(endpoint.url)} ({endpoint.public_id}) {reason}".strip(),
        )
    )


def init_app(app: Flask) -> None:
    """Connect the receivers (once per process: blinker keeps one connection per receiver)."""
    signals.endpoint_disabled.connect(endpoint_disabled)
