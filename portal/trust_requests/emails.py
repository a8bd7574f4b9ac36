"""Emailing a trust request to its client: a 24-hour link to the request's matter, in the
client's language, sent once the caller's transaction commits (nothing here commits).
"""

from __future__ import annotations

from flask import current_app, render_template

from portal import clock
from portal.billing.models import Client, Matter
from portal.db import db
from portal.firms import branding
from portal.firms.models import Firm
from portal.links import services as links
from portal.mail import compose, send_after_commit
from portal.money import Money
from portal.templating import locale_scope
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
    link = links.issue_link(firm_id=request.firm_id, client=client, matters=[matter])
    context = {
        "request": request,
        "matter": matter,
        "client": client,
        "firm_name": firm.name if firm else "",
        "amount": Money(request.amount_minor, request.currency),
        "remaining": Money(request.remaining_minor, request.currency),
        "url": links.url_for_link(link),
        "hours": int(current_app.config["LINK_MAX_AGE_SECONDS"]) // 3600,
        "logo_url": branding.email_logo_url(firm),
    }
    with locale_scope(client.locale):
        subject = render_template("email/trust_request/subject.txt", **context).strip()
        text = render_template("email/trust_request/body.txt", **context)
        html = render_template("email/trust_request/body.html", **context)
    send_after_commit(compose(to=client.email, subject=subject, text=text, html=html))
    request.emailed_at = clock.now()
    return True
