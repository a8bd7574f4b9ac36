"""The console's blueprint with every page registered on it (what `create_app` imports)."""

from portal.console import (
    links,
    pages,
    payment_list,
    payment_page,
    postings,
    signin,
    unmatched,
    users,
)
from portal.console.auth import bp

__all__ = [
    "bp",
    "links",
    "pages",
    "payment_list",
    "payment_page",
    "postings",
    "signin",
    "unmatched",
    "users",
]
