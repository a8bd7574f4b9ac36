"""MatterPay, the client payment portal for law firms. `create_app` assembles the parts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, g
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from portal.db import PROJECT_ROOT
from portal.security import csrf


class DatabaseId(IntegerConverter):
    """`<int:...>` in every route: only ids a database column can hold (1 to 2**63 - 1).

    Anything larger would overflow the database driver: it is simply not found.
    """

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, database, CSRF, Babel, blueprints, error handlers and CLI."""
    from portal import (
        cli,
        config,
        errors,
        i18n,
        limits,
        logs,
        mail,
        ops,
        security,
        templating,
        text,
    )
    from portal.api import bp as api_bp
    from portal.client.matters import bp as billing_bp
    from portal.client.pay import bp as payments_bp
    from portal.client.session import bp as links_bp
    from portal.console.routes import bp as console_bp
    from portal.db import db
    from portal.firms import identity
    from portal.hooks.views import bp as hooks_bp
    from portal.notifications import listeners as notification_listeners
    from portal.paybutton.views import bp as paybutton_bp

    app = Flask(
        __name__,
        static_folder=str(PROJECT_ROOT / "static"),
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.url_map.converters["int"] = DatabaseId
    config.load(app, overrides)
    # Logging first: every line after this, and every request, carries a request id.
    logs.init_app(app)
    if proxies := int(app.config["REVERSE_PROXIES"]):
        # The client's address and scheme as the nearest `proxies` proxies saw them; the
        # abuse limits and the records of who paid depend on it. Host comes from BASE_URL.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    db.init_app(app)
    # Limits first: a refused request is not worth a CSRF check or a database query.
    limits.init_app(app)
    csrf.init_app(app)
    templating.init_app(app)
    # Pages of a firm show its contact details and its times in its zone (templates/base.html).
    app.context_processor(lambda: identity.page_context(g.get("firm")))
    i18n.init_app(app)
    mail.init_app(app)
    errors.init_app(app)
    text.init_app(app)
    security.init_app(app)
    # Staff emails about what postings announces (it sits beside staff and cannot import it).
    notification_listeners.init_app(app)
    for blueprint in (
        ops.bp,
        links_bp,
        billing_bp,
        payments_bp,
        paybutton_bp,
        hooks_bp,
        api_bp,
        console_bp,
    ):
        app.register_blueprint(blueprint)
    # The API authenticates with bearer keys and processor hooks with signatures, not cookies.
    csrf.exempt(api_bp)
    csrf.exempt(hooks_bp)
    cli.init_app(app)
    return app
