"""The console's frame: its navigation, the dashboard, and the sections still to come.

Every page of the console is in `NAV`, in order; admin-only entries are hidden from `staff`
users (and their pages answer them 403). A section whose page is not built yet answers with a
placeholder under its own endpoint name, so the navigation and the role rules already hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g, render_template
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext

from portal.backoffice import dashboard as figures
from portal.console.auth import admin_required, bp, staff_required


@dataclass(frozen=True)
class Section:
    endpoint: str
    path: str
    label: Any
    admin_only: bool = False


NAV: tuple[Section, ...] = (
    Section("console.dashboard", "/", lazy_gettext("Dashboard")),
    Section("console.make_payment", "/make-payment", lazy_gettext("Make a payment")),
    Section("console.payments", "/payments", lazy_gettext("Payments")),
    Section("console.unmatched", "/unmatched", lazy_gettext("Unmatched")),
    Section("console.postings", "/postings", lazy_gettext("Postings")),
    Section("console.links", "/links", lazy_gettext("Links & trust requests")),
    Section("console.reports", "/reports", lazy_gettext("Reports")),
    Section("console.notifications", "/notifications", lazy_gettext("Notifications")),
    Section("console.settings", "/settings", lazy_gettext("Settings"), admin_only=True),
    Section("console.users", "/users", lazy_gettext("Users"), admin_only=True),
    Section("console.api_keys", "/api-keys", lazy_gettext("API keys"), admin_only=True),
    Section("console.audit", "/audit", lazy_gettext("Audit log"), admin_only=True),
)


@bp.context_processor
def _console_context() -> dict[str, Any]:
    """The navigation for this user, and whether they signed in without an authenticator."""
    staff = g.get("staff")
    if staff is None:
        return {}
    return {
        "console_nav": [s for s in NAV if staff.is_admin or not s.admin_only],
        "console_without_mfa": not staff.has_mfa,
    }


@bp.get("/")
@staff_required
def dashboard() -> ResponseReturnValue:
    """Money received per merchant account and what needs a person (as `GET /dashboard`)."""
    return render_template("console/dashboard.html", board=figures.dashboard(g.staff.firm_id))


def _placeholder(section: Section) -> Any:
    def view() -> ResponseReturnValue:
        return render_template("console/placeholder.html", section=section)

    view.__name__ = section.endpoint.split(".", 1)[1]
    guard = admin_required if section.admin_only else staff_required
    return guard(view)


#: Sections with pages of their own (in this package) rather than a placeholder.
BUILT = {
    "console.api_keys",
    "console.audit",
    "console.dashboard",
    "console.links",
    "console.make_payment",
    "console.notifications",
    "console.payments",
    "console.postings",
    "console.reports",
    "console.settings",
    "console.unmatched",
    "console.users",
}

for _section in NAV:
    if _section.endpoint not in BUILT:
        bp.add_url_rule(
            _section.path,
            endpoint=_section.endpoint.split(".", 1)[1],
            view_func=_placeholder(_section),
            methods=["GET"],
        )
