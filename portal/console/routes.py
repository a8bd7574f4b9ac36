"""The console's blueprint with every page registered on it (what `create_app` imports)."""

from portal.console import (
    api_keys,
    audit,
    branding,
    links,
    make_payment,
    make_payment_pay,
    notifications,
    pages,
    payment_list,
    payment_page,
    policies,
    postings,
    reports,
    settings,
    signin,
    unmatched,
    users,
)
from portal.console.auth import bp

__all__ = [
    "api_keys",
    "audit",
    "bp",
    "branding",
    "links",
    "make_payment",
    "make_payment_pay",
    "notifications",
    "pages",
    "payment_list",
    "payment_page",
    "policies",
    "postings",
    "reports",
    "settings",
    "signin",
    "unmatched",
    "users",
]
