"""Running in production: gunicorn.conf.py's settings and the app behind a reverse proxy."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config

from portal.gateways.stripe import longest_request_seconds
from tests.conftest import make_test_app

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
GUNICORN_VARIABLES = (
    "GUNICORN_BIND",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_WORKER_CLASS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "FORWARDED_ALLOW_IPS",
    "GUNICORN_CONTROL_SOCKET",
)


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """gunicorn.conf.py's settings with only `env` set among the variables it reads."""
    for name in GUNICORN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_no_worker_is_killed_in_the_middle_of_a_stripe_call(monkeypatch) -> None:
    conf = load(monkeypatch)
    # A sync worker busy for `timeout` is killed; a worker still busy `graceful_timeout` after
    # a restart is killed. Both must outlast every Stripe call one request can make.
    assert conf["timeout"] > longest_request_seconds()
    assert conf["graceful_timeout"] > longest_request_seconds()
    assert conf["timeout"] == conf["MINIMUM_TIMEOUT"]


def test_the_master_never_imports_the_portal() -> None:
    # Workers fork from the master: a portal module loaded there would survive a graceful
    # reload (kill -HUP), and the new workers would serve the old code.
    probe = f"import runpy, sys; runpy.run_path({str(CONF)!r}); print('portal' in sys.modules)"
    done = subprocess.run(  # noqa: S603 (this interpreter, a fixed program)
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"


def test_the_readme_states_the_timeout(monkeypatch) -> None:
    readme = (CONF.parent / "README.md").read_text()
    assert f"({load(monkeypatch)['MINIMUM_TIMEOUT']} s)" in readme


@pytest.mark.parametrize("name", ["GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT"])
def test_a_shorter_timeout_is_refused(monkeypatch, name: str) -> None:
    with pytest.raises(SystemExit, match=name):
        load(monkeypatch, **{name: "60"})


def test_a_longer_timeout_is_kept(monkeypatch) -> None:
    minimum = load(monkeypatch)["MINIMUM_TIMEOUT"]
    assert load(monkeypatch, GUNICORN_TIMEOUT=str(minimum + 100))["timeout"] == minimum + 100


def test_defaults(monkeypatch) -> None:
    conf = load(monkeypatch)
    cores = __import__("os").cpu_count() or 1
    assert conf["workers"] == min(2 * cores + 1, 12)
    assert (conf["threads"], conf["worker_class"]) == (1, "sync")
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert conf["max_requests"] > 0
    assert 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["forwarded_allow_ips"] == "127.0.0.1,::1"
    # one default control socket path per user would be shared by every gunicorn on the host
    assert conf["control_socket_disable"] is True


def test_settings_come_from_the_environment(monkeypatch) -> None:
    conf = load(
        monkeypatch,
        GUNICORN_BIND="10.0.0.5:8000, 127.0.0.1:8001",
        WEB_CONCURRENCY="3",
        GUNICORN_THREADS="4",
        FORWARDED_ALLOW_IPS="10.0.0.2",
        GUNICORN_CONTROL_SOCKET="/run/matterpay/gunicorn.ctl",
    )
    assert conf["bind"] == ["10.0.0.5:8000", "127.0.0.1:8001"]
    assert (conf["workers"], conf["threads"], conf["worker_class"]) == (3, 4, "gthread")
    assert conf["forwarded_allow_ips"] == "10.0.0.2"
    assert conf["control_socket"] == "/run/matterpay/gunicorn.ctl"
    assert conf["control_socket_disable"] is False


def test_nonsense_is_refused(monkeypatch) -> None:
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY"):
        load(monkeypatch, WEB_CONCURRENCY="many")
    with pytest.raises(SystemExit, match="GUNICORN_WORKER_CLASS"):
        load(monkeypatch, GUNICORN_WORKER_CLASS="eventlet")


def test_gunicorn_accepts_every_setting(monkeypatch) -> None:
    conf = load(monkeypatch)
    config = Config()
    for name, value in conf.items():
        if name in config.settings:
            config.set(name, value)
    assert config.timeout == conf["timeout"]
    assert config.logger_class is conf["RedactingLogger"]


def test_access_lines_never_carry_a_link_token(monkeypatch) -> None:
    conf = load(monkeypatch)
    config = Config()
    config.set("accesslog", "-")
    logger = conf["RedactingLogger"](config)
    request = SimpleNamespace(
        headers=[("USER-AGENT", "pytest")],
        method="GET",
        uri="/l/secret.Token-123?x=1",
        path="/l/secret.Token-123",
        query="x=1",
        version=(1, 1),
    )
    response = SimpleNamespace(status="303 See Other", headers=[], sent=0, response_length=0)
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/l/secret.Token-123?x=1",
        "PATH_INFO": "/l/secret.Token-123",
        "QUERY_STRING": "x=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    atoms = logger.atoms(response, request, environ, __import__("datetime").timedelta(0))
    assert atoms["r"] == "GET /l/[redacted]?x=1 HTTP/1.1"
    assert "secret.Token" not in repr(atoms)


# -- behind a reverse proxy --------------------------------------------------------------------


def _open_twice(database_url: str, proxies: int) -> list[int]:
    """Two link openings from two forwarded client addresses, under a limit of one a minute."""
    app = make_test_app(database_url, REVERSE_PROXIES=proxies, RATELIMIT_LINK_OPEN="1 per minute")
    client = app.test_client()
    codes = [
        client.get("/l/not-a-token", headers={"X-Forwarded-For": address}).status_code
        for address in ("203.0.113.1", "203.0.113.2")
    ]
    app.extensions["portal.engine"].dispose()
    return codes


def test_behind_one_proxy_each_client_address_counts_on_its_own(database_url: str) -> None:
    assert _open_twice(database_url, proxies=1) == [404, 404]


def test_with_no_proxy_a_forwarded_address_is_not_believed(database_url: str) -> None:
    # Anyone can send X-Forwarded-For: without a trusted proxy it must not dodge the limit.
    assert _open_twice(database_url, proxies=0) == [404, 429]


def test_the_number_of_proxies_is_bounded(database_url: str) -> None:
    from portal.config import UnsafeConfiguration

    with pytest.raises(UnsafeConfiguration, match="REVERSE_PROXIES"):
        make_test_app(database_url, REVERSE_PROXIES=-1)


# -- readiness during an upgrade -----------------------------------------------------------------


def _stamped(tmp_path: Path, revision: str | None) -> Any:
    """/readyz of an app whose migrated SQLite database claims to be at `revision`."""
    from sqlalchemy import text

    from portal import schema

    app = make_test_app(f"sqlite:///{tmp_path}/stamped.sqlite3")
    engine = app.extensions["portal.engine"]
    schema.upgrade(engine)
    if revision is not None:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    response = app.test_client().get("/readyz")
    engine.dispose()
    return response


def test_ready_when_newer_code_has_migrated_further(tmp_path: Path) -> None:
    # A rolling upgrade: `migrate` ran for the new release while this (old) code still serves.
    response = _stamped(tmp_path, "f0f0f0f0f0f0")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "database": "newer than this code"}


def test_not_ready_while_a_migration_of_this_code_is_pending(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from portal import schema

    scripts = ScriptDirectory.from_config(schema.alembic_config())
    older = scripts.get_revision(scripts.get_current_head()).down_revision
    assert isinstance(older, str)
    response = _stamped(tmp_path, older)
    assert response.status_code == 503
    assert response.json["database"] == "migrations pending"
