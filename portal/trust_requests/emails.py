"""Emailing a trust request to its client: a 24-hour link to the request's matter, in the
client's language, sent once the caller's transaction commits (nothing here commits).
"""

from __future__ import annotations

from flask import current_app

from portal import clock
from portal.billing.models import Client, Matter
from portal.db import db
from portal.firms import identity
from portal.firms.models import Firm
from portal.links import services as links
from portal.mail import send_after_commit
from portal.money import Money
from portal.trust_requests.models import TrustRequest


def send_request_email(request: TrustRequest) -> bool:
    """Email the client a 24-hour link to the request's matter, in their language.

    Sent once the current transaction commits; False (nothing queued) when the client has no
    email address.
    """
    matter = db.session.get(Matter, request.matter_id)
    client = db.session.get(Client, matter.client_id) if matter else None
    if matter is None or client is None or not client.email:
        return False
    firm = db.session.get(Firm, request.firm_id)
    if firm is None:
        return False
    link = links.issue_link(firm_id=request.firm_id, client=client, matters=[matter])
    message = identity.compose_email(
        firm,
        "trust_request",
        to=client.email,
        locale=client.locale,
        request=request,
        matter=matter,
        client=client,
        amount=Money(request.amount_minor, request.currency),
        remaining=Money(request.remaining_minor, request.currency),
        url=links.url_for_link(link),
        hours=int(current_app.config["LINK_MAX_AGE_SECONDS"]) // 3600,
    )
    send_after_commit(message)
    request.emailed_at = clock.now()
    return True
