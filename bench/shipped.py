"""The client's matter page beside a hello-world Flask app, both under gunicorn.conf.py as shipped.

One run starts two gunicorn servers side by side with the same settings: no GUNICORN_* or
WEB_CONCURRENCY variable but the bind address, so workers, worker class, recycling
(max_requests and jitter) and preloading are gunicorn.conf.py's own defaults. One serves the
portal (`wsgi:app`, PORTAL_ENV=production, a SQLite file); the other bench/hello.py. The
database holds one client with one matter: 50 open invoices (50 more paid) and 20 trust
entries. A 24-hour link is opened once with `requests` to get the client's session cookie,
which wrk sends with -H.

Each app gets a short warm-up, then wrk (2 threads, 32 connections, ~10 s) loads GET / on the
hello app and GET /matters/<id> on the portal, one after the other. Printed: requests/s and
p99 of both and their ratios. Targets: the matter page serves at least 20% of hello-world's
requests/s, with a p99 at most 10 times hello-world's.

    .venv/bin/python bench/run.py shipped

Needs wrk (`apt-get install -y wrk`; run.py installs it itself when run as root).
BENCH_SHIPPED_DURATION sets the seconds per measured load (default 10).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import loadgen, machine, seed
from bench.loadgen import LoadResult, Target
from bench.report import Report
from bench.server import GUNICORN, HOST, PROJECT_ROOT, Server, free_port

TITLE = "Matter page beside hello-world, gunicorn.conf.py as shipped"

#: Seconds of load per measured app (BENCH_SHIPPED_DURATION overrides).
DURATION = float(os.environ.get("BENCH_SHIPPED_DURATION", "10"))
WARMUP_SECONDS = 3.0
THREADS = 2
CONNECTIONS = 32
#: The matter page must serve this share of hello-world's requests per second...
SHARE_TARGET = 0.20
#: ...with a p99 latency at most this many times hello-world's.
P99_TARGET = 10.0
#: One client, one matter of the usual benchmark shape: 50 open and 50 paid invoices,
#: 20 trust entries.
SHAPE = seed.Shape("shipped", matters=1, matters_per_client=1)
MATTER_ID = 1
SESSION_COOKIE = "matterpay_session"
STARTUP_SECONDS = 90.0
STOP_SECONDS = 30.0
QUIET_WAIT_SECONDS = 20.0
BUSY_WARNING = 0.3
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", PROJECT_ROOT / "bench" / "results" / "data"))
LOG_DIR = PROJECT_ROOT / "bench" / "results" / "logs"
WRK_MISSING = (
    "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu; `brew install wrk` on "
    "macOS), then run `.venv/bin/python bench/run.py shipped` again"
)


@dataclass(frozen=True)
class Running:
    """A gunicorn master started by this benchmark."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


def run(report: Report) -> None:
    """Seed, serve both apps side by side, load each with wrk, print the figures and ratios."""
    wrk = loadgen.find_wrk()
    if wrk is None:
        report.note(WRK_MISSING)
        report.verdict("matter page >= 20% of hello-world", None, "wrk is not installed")
        return
    secret_key = secrets.token_urlsafe(48)
    database = seed.seeded_sqlite(SHAPE, DATA_DIR, secret_key=secret_key)
    settings = _shipped_settings()
    report.note(
        f"gunicorn.conf.py as shipped: {settings['workers']} {settings['worker_class']} "
        f"workers, max_requests {settings['max_requests']} (+ up to "
        f"{settings['max_requests_jitter']} jitter), preload_app {settings['preload_app']}; "
        f"PORTAL_ENV=production, SQLite ({database.path.name}); {loadgen.wrk_name(wrk)}, "
        f"{THREADS} threads, {CONNECTIONS} connections, {WARMUP_SECONDS:.0f} s warm-up, "
        f"{DURATION:.0f} s measured per app."
    )
    with contextlib.ExitStack() as stack:
        portal = stack.enter_context(
            _gunicorn("wsgi:app", "/healthz", database.url, secret_key, "shipped-portal")
        )
        hello = stack.enter_context(
            _gunicorn("bench.hello:app", "/", database.url, secret_key, "shipped-hello")
        )
        cookie = _session_cookie(portal, database.url, secret_key)
        page = Target(f"/matters/{MATTER_ID}", {"Cookie": f"{SESSION_COOKIE}={cookie}"})
        targets = {"hello-world GET /": (hello, Target("/")), "matter page": (portal, page)}
        for server, target in targets.values():
            _load(server, target, wrk, WARMUP_SECONDS)
        others = machine.wait_until_quiet(threshold=BUSY_WARNING, max_seconds=QUIET_WAIT_SECONDS)
        results = {}
        for name, (server, target) in targets.items():
            cpu_before = _tree_cpu_seconds(server.process.pid)
            result = _load(server, target, wrk, DURATION)
            cpu_ms = (_tree_cpu_seconds(server.process.pid) - cpu_before) * 1000
            results[name] = (result, cpu_ms / result.requests if result.requests else 0.0)
    _report(report, results["hello-world GET /"], results["matter page"], others)


def _report(
    report: Report,
    hello_run: tuple[LoadResult, float],
    page_run: tuple[LoadResult, float],
    others: float,
) -> None:
    (hello, hello_cpu), (page, page_cpu) = hello_run, page_run
    report.table(
        ["app", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "server CPU ms/req"],
        [
            [name, r.requests, r.rps, r.p50_ms, r.p90_ms, r.p99_ms, r.non_2xx + r.errors, cpu]
            for name, r, cpu in (
                ("hello-world GET /", hello, hello_cpu),
                ("matter page", page, page_cpu),
            )
        ],
    )
    share = page.rps / hello.rps if hello.rps else 0.0
    p99_times = page.p99_ms / hello.p99_ms if hello.p99_ms else float("inf")
    cpu_share = hello_cpu / page_cpu if page_cpu else 0.0
    report.table(
        ["ratio", "value"],
        [
            ["matter / hello-world req/s", f"{share:.1%}"],
            ["matter / hello-world p99", p99_times],
            ["hello-world / matter server CPU per request", f"{cpu_share:.1%}"],
        ],
    )
    report.note(
        "server CPU ms/req: CPU time of the gunicorn master and its workers (recycled ones "
        "included) over the measured run, per request; on a busy machine steadier than req/s."
    )
    if others > BUSY_WARNING:
        report.note(
            f"WARNING: other programs used {others:.1f} cores just before the runs; the "
            "figures are lower and noisier than on a quiet machine."
        )
    if page.non_2xx or page.errors or hello.non_2xx or hello.errors:
        report.note(
            "Some responses failed (non-2xx/3xx or socket errors); see the logs in "
            f"{LOG_DIR.relative_to(PROJECT_ROOT)}."
        )
    report.verdict(
        "matter page >= 20% of hello-world",
        share >= SHARE_TARGET,
        f"{page.rps:,.1f} vs {hello.rps:,.1f} req/s = {share:.1%} (target >= {SHARE_TARGET:.0%})",
    )
    report.verdict(
        "matter page p99 <= 10x hello-world's",
        p99_times <= P99_TARGET,
        f"{page.p99_ms:,.1f} vs {hello.p99_ms:,.1f} ms = {p99_times:.1f}x "
        f"(target <= {P99_TARGET:.0f}x)",
    )


def _shipped_settings() -> dict[str, object]:
    """gunicorn.conf.py's values with none of its variables set (what the servers get)."""
    probe = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); print(json.dumps({k: c[k] "
        "for k in ('workers', 'worker_class', 'max_requests', 'max_requests_jitter', "
        "'preload_app')}))"
    )
    done = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-c", probe],
        cwd=PROJECT_ROOT,
        env=_env(HOST + ":0", "sqlite://", "x" * 48),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    settings: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return settings


def _env(bind: str, database_url: str, secret_key: str) -> dict[str, str]:
    """Production mode, and no gunicorn setting but the address: the shipped defaults."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PORTAL_", "GUNICORN_")) and k != "WEB_CONCURRENCY"
    }
    env.update(
        PORTAL_ENV="production",
        PORTAL_DATABASE_URL=database_url,
        PORTAL_SECRET_KEY=secret_key,
        PORTAL_BASE_URL=f"http://{bind}",
        GUNICORN_BIND=bind,
    )
    return env


@contextlib.contextmanager
def _gunicorn(
    app_uri: str, ready_path: str, database_url: str, secret_key: str, name: str
) -> Iterator[Running]:
    """`gunicorn -c gunicorn.conf.py <app_uri>` on a free 127.0.0.1 port, for the block."""
    port = free_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py", app_uri],
            cwd=PROJECT_ROOT,
            env=_env(f"{HOST}:{port}", database_url, secret_key),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Its own process group: stopped below, and only it.
        )
    running = Running(port, process, log)
    try:
        _wait_until_up(running, ready_path)
        yield running
    finally:
        _stop(process)


def _wait_until_up(server: Running, path: str) -> None:
    import requests

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}; {server.log}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(server.base_url + path, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer {path} in {STARTUP_SECONDS:.0f} s; {server.log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the master (it stops its idle workers at once); the group's kill if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # The group this benchmark started, by its id.
        process.wait(timeout=STOP_SECONDS)


def _session_cookie(portal: Running, database_url: str, secret_key: str) -> str:
    """Issue a link for the matter's client, open it once, and return the session cookie."""
    import requests

    from bench.pages import issue_link_paths

    server = Server(
        port=portal.port,
        pid=portal.process.pid,
        database_url=database_url,
        secret_key=secret_key,
        workers=0,
    )
    (path,) = issue_link_paths(server, [seed.client_of(MATTER_ID, SHAPE)])
    opened = requests.get(portal.base_url + path, allow_redirects=False, timeout=30)
    cookie = opened.cookies.get(SESSION_COOKIE)
    if opened.status_code not in (302, 303) or not cookie:
        raise RuntimeError(
            f"opening the link answered {opened.status_code} with no {SESSION_COOKIE} cookie"
        )
    check = requests.get(
        portal.base_url + f"/matters/{MATTER_ID}",
        headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
        allow_redirects=False,
        timeout=30,
    )
    if check.status_code != 200:
        raise RuntimeError(f"GET /matters/{MATTER_ID} answered {check.status_code}, expected 200")
    return str(cookie)


def _tree_cpu_seconds(master: int) -> float:
    """CPU seconds of a gunicorn master, its live workers, and the workers it has reaped."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # The process ended while we looked.
            continue
        fields = text[text.rindex(")") + 2 :].split()
        pid, parent = int(stat.parent.name), int(fields[1])
        if pid == master:  # Its own time and its reaped children's (cutime, cstime).
            total += sum(int(v) for v in fields[11:15])
        elif parent == master:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _load(server: Running, target: Target, wrk: str, seconds: float) -> LoadResult:
    return loadgen.run_load(
        server.base_url,
        [target],
        duration=seconds,
        threads=THREADS,
        connections=CONNECTIONS,
        wrk=wrk,
    )
