"""The console's blueprint with every page registered on it (what `create_app` imports)."""

from portal.console import api_keys, audit, pages, settings, signin, users
from portal.console.auth import bp

__all__ = ["api_keys", "audit", "bp", "pages", "settings", "signin", "users"]
