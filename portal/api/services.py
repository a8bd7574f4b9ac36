"""Units of work the API composes from several features: issuing and revoking client links by
external id, and noting when an API key was last used. Each one commits, so views never do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from portal import clock
from portal.billing import services as billing
from portal.db import db
from portal.firms.models import APIKey
from portal.links import services as links
from portal.links.models import Link

#: `APIKey.last_used_at` is kept to this resolution, so busy keys do not write on every request.
KEY_USE_RESOLUTION = dt.timedelta(minutes=1)


def create_link(
    *, firm_id: int, client: str, matters: Sequence[str], expires_in: int | None
) -> Link:
    """Issue a link for the firm's client `client`, limited to `matters` if any (commits)."""
    owner = billing.referenced_client(firm_id=firm_id, external_id=client, pointer="/client")
    scope = billing.referenced_matters(client=owner, external_ids=matters, pointer="/matters")
    with db.transaction():
        link = links.issue_link(firm_id=firm_id, client=owner, matters=scope, expires_in=expires_in)
    return link


def revoke_link(*, firm_id: int, public_id: str) -> Link:
    """Revoke the firm's link now; revoking it again keeps the first time (commits)."""
    link = links.link_for_firm(firm_id, public_id)
    if link.revoked_at is None:
        with db.transaction():
            links.revoke_link(link)
    return link


def record_key_use(api_key: APIKey) -> None:
    """Note that `api_key` was used, unless that was already noted within the last minute."""
    now = clock.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < KEY_USE_RESOLUTION:
        return
    # End the read transaction before writing. A SQLite transaction that has already read
    # cannot queue for the write lock (it fails at once with "database is locked"), while one
    # whose first statement writes waits on busy_timeout like any other writer.
    db.session.commit()
    api_key.last_used_at = now
    db.session.commit()
