"""gunicorn.conf.py preloads the app: workers fork from it, own their connections, and
`kill -HUP` still brings in new code."""

from __future__ import annotations

import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

from tests.conftest import make_test_app

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF = PROJECT_ROOT / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).parent / "gunicorn"
#: Longest wait for gunicorn to start, to answer with new code, or to stop.
WAIT_SECONDS = 60.0

PROBE_APP = """
import os
from pathlib import Path

VERSION = "{version}"
# Who imported this code: the master (preloaded) or a worker.
with open(Path(__file__).with_name("imported-by"), "a") as out:
    out.write(f"{{os.getpid()}} {{VERSION}}\\n")


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
"""


def test_workers_fork_from_the_preloaded_app() -> None:
    assert runpy.run_path(str(CONF))["preload_app"] is True


def test_a_forked_worker_gets_a_connection_pool_of_its_own(database_url: str) -> None:
    post_fork = runpy.run_path(str(CONF))["post_fork"]
    app = make_test_app(database_url)
    engine = app.extensions["portal.engine"]
    with engine.connect():
        pass
    inherited = engine.pool
    post_fork(None, SimpleNamespace(app=SimpleNamespace(callable=app)))
    assert engine.pool is not inherited
    inherited.dispose()  # A real master keeps using these; this test closes them itself.
    # Not preloaded (the worker imports the app itself) or not the portal: nothing to drop.
    post_fork(None, SimpleNamespace(app=SimpleNamespace(callable=None)))
    post_fork(None, SimpleNamespace(app=SimpleNamespace(callable=lambda environ, start: [])))
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answer(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return None


def _wait_for_answer(port: int, expected: str, process: subprocess.Popen[bytes]) -> str | None:
    deadline = time.monotonic() + WAIT_SECONDS
    answer = None
    while time.monotonic() < deadline and process.poll() is None:
        answer = _answer(port)
        if answer == expected:
            break
        time.sleep(0.2)
    return answer


def _wait_for_log(log: Path, text: str) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if text in log.read_text():
            return True
        time.sleep(0.2)
    return False


def _run(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PORTAL_"))}
    env.update(
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        PYTHONPATH=str(tmp_path),
        PYTHONDONTWRITEBYTECODE="1",
    )
    with (tmp_path / "gunicorn.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603 (this virtualenv's gunicorn, a fixed command)
            [str(GUNICORN), "-c", str(CONF), "probe_app:app"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # The group this test started.
            process.wait(timeout=WAIT_SECONDS)


def test_hup_serves_new_code_and_bad_code_keeps_the_old(tmp_path: Path) -> None:
    source = tmp_path / "probe_app.py"
    source.write_text(PROBE_APP.format(version="one"))
    port = _free_port()
    process = _run(tmp_path, port)
    try:
        assert _wait_for_answer(port, "one", process) == "one", (
            tmp_path / "gunicorn.log"
        ).read_text()
        # Preloaded: the master imported the app, and the worker did not import it again.
        assert (tmp_path / "imported-by").read_text().split() == [str(process.pid), "one"]

        source.write_text(PROBE_APP.format(version="two, after kill -HUP"))
        process.send_signal(signal.SIGHUP)
        assert _wait_for_answer(port, "two, after kill -HUP", process) == "two, after kill -HUP"

        source.write_text("this is not Python\n")
        process.send_signal(signal.SIGHUP)
        assert _wait_for_log(tmp_path / "gunicorn.log", "the new code does not load")
        assert _wait_for_answer(port, "two, after kill -HUP", process) == "two, after kill -HUP"
        assert process.poll() is None
    finally:
        _stop(process)
    imports = (tmp_path / "imported-by").read_text().splitlines()
    assert imports == [f"{process.pid} one", f"{process.pid} two, after kill -HUP"]
