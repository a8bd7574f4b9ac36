"""The audit log's view of a webhook endpoint: what is recorded when the firm changes one.

Never a secret: a rotation is recorded as "rotated", and a URL's query values (a receiver may
put a token there) are hidden; URLs with a user name or password are refused at the door.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from portal.audit import services as audit
from portal.audit.services import Actor
from portal.postings.models import WebhookEndpoint

ENTITY = "webhook_endpoint"
#: What a query value is recorded as.
HIDDEN = "***"


def audited_url(url: str) -> str:
    """`url` as the audit log keeps it: no user information, query values hidden."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.netloc.startswith("["):
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    query = urlencode([(name, HIDDEN) for name, _ in parse_qsl(parts.query, True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def endpoint_settings(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the firm set on `endpoint`, as the audit log shows it."""
    return {
        "url": audited_url(endpoint.url),
        "description": endpoint.description,
        "event_types": None if endpoint.event_types is None else json.loads(endpoint.event_types),
        "enabled": endpoint.disabled_at is None,
    }


def _subject(endpoint: WebhookEndpoint, verb: str) -> dict[str, Any]:
    return {"action": f"{ENTITY}.{verb}", "entity": ENTITY, "entity_id": endpoint.public_id}


def record_endpoint(endpoint: WebhookEndpoint, actor: Actor, verb: str, **change: Any) -> None:
    """Append "webhook_endpoint.<verb>" for `endpoint`, with the `field`, `before` and `after`
    given (joins the caller's transaction)."""
    audit.record(endpoint.firm_id, actor, **_subject(endpoint, verb), **change)


def record_endpoint_changes(
    endpoint: WebhookEndpoint, actor: Actor, before: dict[str, Any]
) -> None:
    """One "webhook_endpoint.updated" event per setting that differs from `before`."""
    after = endpoint_settings(endpoint)
    subject = _subject(endpoint, "updated")
    audit.record_changes(endpoint.firm_id, actor, **subject, before=before, after=after)
