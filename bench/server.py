"""The server under test: gunicorn serving `wsgi:app` on 127.0.0.1, as in production.

`serve()` starts it in production mode on a free port, waits for /healthz, and stops it
(that one process, by its id) when the block ends. `request()` is a one-off HTTP call to it.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = PROJECT_ROOT / ".venv" / "bin" / "gunicorn"
HOST = "127.0.0.1"
STARTUP_SECONDS = 30.0
STOP_SECONDS = 15.0


@dataclass(frozen=True)
class Server:
    """A running gunicorn: where it listens and what it was started with."""

    port: int
    #: The gunicorn master's process id (its workers are its children).
    pid: int
    database_url: str
    secret_key: str
    workers: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, secret_key: str, port: int) -> dict[str, str]:
    """The environment for the app: production mode, no inherited PORTAL_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_ENV="production",
        PORTAL_DATABASE_URL=database_url,
        PORTAL_SECRET_KEY=secret_key,
        PORTAL_BASE_URL=f"http://{HOST}:{port}",
        # The load generator is one address sending thousands of requests: exactly what the
        # abuse limits refuse. The benchmarks measure the pages, not the limiter.
        PORTAL_RATELIMIT_ENABLED="false",
    )
    return env


@contextmanager
def serve(
    database_url: str, *, secret_key: str, log_path: Path, workers: int = 2
) -> Iterator[Server]:
    """Run gunicorn for the block; its output goes to `log_path`."""
    port = free_port()
    command = [
        str(GUNICORN),
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        # The default 30 s would kill a worker in the middle of a large bulk sync.
        "--timeout",
        "120",
        "wsgi:app",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=server_env(database_url, secret_key, port),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(process, port, log_path)
            yield Server(
                port=port,
                pid=process.pid,
                database_url=database_url,
                secret_key=secret_key,
                workers=workers,
            )
        finally:
            _stop(process)


def _wait_until_up(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log_path}")
        try:
            if request(port, "GET", "/healthz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz in {STARTUP_SECONDS:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # gunicorn's master stops its own workers.
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> Reply:
    """Send one request to 127.0.0.1:`port` without following redirects."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Reply(status=response.status, headers=response.msg, body=response.read())
    finally:
        connection.close()
