"""gunicorn settings for MatterPay: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be changed through the environment variable named beside it; the defaults
suit one host behind a reverse proxy on the same machine. These are the web processes only:
the webhook workers (`flask --app portal deliver-webhooks`) run beside them.

The timeouts are not free choices. A sync worker that is busy for `timeout` seconds is killed,
and a worker still busy `graceful_timeout` seconds after a restart or shutdown is killed too.
A payment's confirm step waits on Stripe, so both must exceed the longest time that request
can spend in Stripe calls (portal.gateways.stripe.longest_request_seconds: every attempt of
every call timing out, retries and backoff included); a lower value is refused at start.
"""

from __future__ import annotations

import math
import os
import re
import sys

from gunicorn import glogging


def _longest_stripe_seconds() -> float:
    """portal.gateways.stripe.longest_request_seconds(), without keeping the portal loaded.

    Workers fork from gunicorn's master. A portal module left loaded here would be in every
    worker forked later, so a graceful reload (`kill -HUP`) would go on serving the old code:
    the modules this import brings in are forgotten again (libraries stay; they change only
    with a full restart anyway).
    """
    loaded = set(sys.modules)
    from portal.gateways.stripe import longest_request_seconds

    seconds = longest_request_seconds()
    for name in set(sys.modules) - loaded:
        if name == "portal" or name.startswith("portal."):
            del sys.modules[name]
    return seconds


#: Seconds a request may spend outside Stripe (database, rendering) on top of its Stripe time.
MARGIN_SECONDS = 30
#: The shortest timeout that never kills a worker in the middle of a processor call.
MINIMUM_TIMEOUT = math.ceil(_longest_stripe_seconds()) + MARGIN_SECONDS
#: Most worker processes by default: each holds its own database connection pool.
MAX_DEFAULT_WORKERS = 12


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"gunicorn.conf.py: {name} must be a whole number, not {raw!r}") from None


def _at_least(name: str, minimum: int, why: str) -> int:
    value = _int(name, minimum)
    if value < minimum:
        raise SystemExit(f"gunicorn.conf.py: {name}={value} is below {minimum} s: {why}")
    return value


# Where to listen (GUNICORN_BIND): the reverse proxy connects here. Loopback by default, so
# only a proxy on this host reaches it; several addresses may be given, comma-separated.
bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")]

# Worker processes (WEB_CONCURRENCY, gunicorn's own variable): 2 x cores + 1, at most 12.
workers = _int("WEB_CONCURRENCY", min(2 * (os.cpu_count() or 1) + 1, MAX_DEFAULT_WORKERS))

# Threads per worker (GUNICORN_THREADS). 1 means the sync worker class: one request per
# process at a time, the simplest and the default. More than 1 means gthread, which serves
# that many requests at once in each process (useful while requests wait on Stripe).
threads = _int("GUNICORN_THREADS", 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread" if threads > 1 else "sync")
if worker_class not in {"sync", "gthread"}:
    raise SystemExit("gunicorn.conf.py: GUNICORN_WORKER_CLASS must be sync or gthread")

# Seconds a silent worker lives before the master kills it (GUNICORN_TIMEOUT), and seconds
# workers get to finish their requests after a restart or shutdown (GUNICORN_GRACEFUL_TIMEOUT).
# Both default to, and may not go below, MINIMUM_TIMEOUT (see the docstring). A process
# manager must wait longer than graceful_timeout before it kills the master (systemd:
# TimeoutStopSec), and the proxy's read timeout should be as long.
timeout = _at_least("GUNICORN_TIMEOUT", MINIMUM_TIMEOUT, "a worker could die mid-Stripe-call")
graceful_timeout = _at_least(
    "GUNICORN_GRACEFUL_TIMEOUT", MINIMUM_TIMEOUT, "a restart could cut a payment in half"
)

# Seconds an idle connection from the proxy is kept open (GUNICORN_KEEPALIVE; gthread only,
# the sync worker closes after each response). Keep it below the proxy's own idle timeout.
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Restart each worker after this many requests (GUNICORN_MAX_REQUESTS, 0 = never), plus a
# random 0..jitter (GUNICORN_MAX_REQUESTS_JITTER), so that memory a long-lived process gathers
# (fragmentation, a library's leak) is given back. A worker restarts between requests, never
# during one, and its replacement is forked from the master, where the app is already imported
# (preload_app below): a restart costs a fork, not a fresh import of the portal (over a second
# of CPU each time, taken from the requests being served). The jitter is half the count:
# evenly loaded workers reach their counts together, and with a narrow spread they would all
# leave at once, with nobody left to accept connections until their replacements start.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 500)

# Addresses whose X-Forwarded-Proto gunicorn believes (FORWARDED_ALLOW_IPS, gunicorn's own
# variable): the reverse proxy's. The client address itself comes from X-Forwarded-For through
# the app's PORTAL_REVERSE_PROXIES setting (werkzeug's ProxyFix), which must be set as well.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The master imports the app once (preload) and every worker is forked from it, so starting or
# replacing a worker does not import the portal again. Nothing is shared that must not be:
# creating the app opens no database connection and starts no thread (the engine connects
# lazily, and post_fork below drops any pool a worker inherits anyway; Redis clients reconnect
# in a forked process by themselves). `kill -HUP <master>` still reloads new code gracefully:
# on_reload below imports the app afresh before the new workers are forked.
preload_app = True
proc_name = "matterpay-web"
# gunicorn 25.1+ opens a control socket for `gunicornc`, by default at one path per user
# ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl), which a second gunicorn on the host would
# take over. Off unless GUNICORN_CONTROL_SOCKET names a path of this instance's own.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# Logs: the access log and gunicorn's own messages go to stdout/stderr for the process manager.
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"


def _portal_logconfig() -> dict:  # type: ignore[type-arg]
    """portal.logs.gunicorn_logconfig_dict() for PORTAL_LOG_FORMAT / PORTAL_LOG_LEVEL, without
    keeping the portal loaded (see _longest_stripe_seconds): gunicorn's own error and access
    lines then go through the app's handler, format, request id and secret scrubbing."""
    loaded = set(sys.modules)
    from portal.logs import gunicorn_logconfig_dict

    fmt = os.environ.get("PORTAL_LOG_FORMAT", "auto").strip().lower()
    if fmt == "auto":  # as portal.logs decides for the app: text only in development
        fmt = "text" if os.environ.get("PORTAL_ENV", "development") == "development" else "json"
    level = os.environ.get("PORTAL_LOG_LEVEL", "INFO").strip().upper()
    config = gunicorn_logconfig_dict(fmt, level)
    for name in set(sys.modules) - loaded:
        if name == "portal" or name.startswith("portal."):
            del sys.modules[name]
    return config


logconfig_dict = _portal_logconfig()


_LINK_TOKEN = re.compile(r"/l/[^\s/?#\"]+")


class RedactingLogger(glogging.Logger):
    """gunicorn's logger, with client link tokens (/l/<token>) blanked out of access lines.

    A link token opens a client's statement for up to 24 hours: it must never reach a log.
    """

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        values = super().atoms(resp, req, environ, request_time)
        return {
            key: _LINK_TOKEN.sub("/l/[redacted]", value) if isinstance(value, str) else value
            for key, value in values.items()
        }


logger_class = RedactingLogger


# -- hooks: preloading the app in the master --------------------------------------------------


def _app_modules(app_module: str) -> list[str]:
    """The loaded modules that make up the app: its entry module and the portal package."""
    return [
        name for name in sys.modules if name in (app_module, "portal") or name.startswith("portal.")
    ]


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    """In each new worker: forget any database connection pool inherited from the master.

    Two processes must never share a connection. The master opens none, but should that ever
    change, this keeps each worker on connections of its own (SQLAlchemy's fork recipe:
    dispose(close=False) leaves the master's connections alone and starts a new pool).
    """
    app = getattr(worker.app, "callable", None)
    engine = getattr(app, "extensions", {}).get("portal.engine")
    if engine is not None:
        engine.dispose(close=False)


def on_reload(server):  # type: ignore[no-untyped-def]
    """`kill -HUP`: import the app afresh, so that the workers forked next run the new code.

    gunicorn would otherwise fork them from the app the master preloaded at start. If the new
    code cannot be imported, the error is logged and the new workers run the old code.
    """
    app_uri = getattr(server.app, "app_uri", None)
    if not server.cfg.preload_app or not app_uri:
        return
    app_module = app_uri.partition(":")[0]
    old_callable = server.app.callable
    old_modules = {name: sys.modules.pop(name) for name in _app_modules(app_module)}
    server.app.callable = None
    try:
        server.app.wsgi()
    except Exception:
        server.log.exception("kill -HUP: the new code does not load; workers keep the old code")
        for name in _app_modules(app_module):
            del sys.modules[name]
        sys.modules.update(old_modules)
        server.app.callable = old_callable
    _warm(server)


def when_ready(server):  # type: ignore[no-untyped-def]
    """Before the first workers are forked: warm the preloaded app (see _warm)."""
    _warm(server)


def _warm(server):  # type: ignore[no-untyped-def]
    """Do in the master, once, the work every worker would otherwise repeat on its first
    requests: configure the ORM mappers and compile every template. A worker forked afterwards
    (at start, or replacing a recycled one) inherits the result, so recycling does not make
    the next requests slow. Nothing here opens a connection or starts a thread."""
    app = getattr(server.app, "callable", None)
    env = getattr(app, "jinja_env", None)
    if not server.cfg.preload_app or env is None:
        return
    try:
        from sqlalchemy.orm import configure_mappers

        configure_mappers()
        for name in env.list_templates():
            if name.endswith((".html", ".txt")):
                env.get_template(name)
    except Exception:  # A slower first request is better than no server.
        server.log.exception("warming the app in the master failed; workers warm themselves")
