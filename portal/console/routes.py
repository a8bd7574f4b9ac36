"""The console's blueprint with every page registered on it (what `create_app` imports)."""

from portal.console import pages, signin, users
from portal.console.auth import bp

__all__ = ["bp", "pages", "signin", "users"]
