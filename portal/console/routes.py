"""The console's blueprint with every page registered on it (what `create_app` imports)."""

from portal.console import links, pages, postings, signin, users
from portal.console.auth import bp

__all__ = ["bp", "links", "pages", "postings", "signin", "users"]
