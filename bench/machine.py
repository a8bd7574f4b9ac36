"""What the figures were measured on: cores, CPU, memory, and the versions that matter."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import sqlite3
import time
from importlib import metadata
from pathlib import Path

#: The PostgreSQL whose server version the report names (the one `make test-pg` uses).
PG_URL = os.environ.get("PORTAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def facts() -> list[tuple[str, str]]:
    """Return (fact, value) pairs describing this machine and its software."""
    from portal import clock

    return [
        ("date", clock.now().strftime("%Y-%m-%d %H:%M UTC")),
        ("nproc", str(os.cpu_count() or "?")),
        ("CPU model", _cpu_model()),
        ("memory", _memory()),
        ("kernel", platform.release()),
        ("Python", platform.python_version()),
        ("SQLite (library)", sqlite3.sqlite_version),
        ("PostgreSQL (server)", _postgres_version()),
        ("SQLAlchemy", _version("sqlalchemy")),
        ("Flask", _version("flask")),
        ("gunicorn", _version("gunicorn")),
        ("wrk", _wrk_version()),
    ]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _postgres_version() -> str:
    from sqlalchemy import text

    from portal.db import make_engine

    try:
        engine = make_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            version = str(connection.execute(text("SHOW server_version")).scalar_one())
        engine.dispose()
        return f"{version} (not used by these benchmarks)"
    except Exception as exc:  # An absent server is a fact to report.
        return f"not reachable ({type(exc).__name__})"


def _wrk_version() -> str:
    from bench.loadgen import wrk_name

    path = shutil.which("wrk")
    return wrk_name(path) if path else "not installed (the Python load generator is used)"


def busy_cores(interval: float = 1.0) -> float:
    """How many cores' worth of CPU the whole machine used over the next `interval` seconds."""
    first = _cpu_times()
    time.sleep(interval)
    second = _cpu_times()
    if first is None or second is None:
        return 0.0
    busy = (second[0] - first[0]) / max(1, second[1] - first[1])
    return busy * (os.cpu_count() or 1)


def wait_until_quiet(*, threshold: float = 0.3, max_seconds: float = 30.0) -> float:
    """Wait (at most `max_seconds`) until others use under `threshold` cores; return the last use.

    The machine may be shared with builds and test runs, which would skew load-test figures.
    """
    deadline = time.monotonic() + max_seconds
    used = busy_cores()
    while used > threshold and time.monotonic() < deadline:
        used = busy_cores()
    return used


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies over all cores, from the first line of /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy since boot (all cores, all programs)."""
    times = _cpu_times()
    return times[0] / _TICKS if times else 0.0


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by process `pid` and its direct children (gunicorn's workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # The process ended while we looked.
            continue
        # The command name is in parentheses and may hold spaces; the fields follow it.
        fields = text[text.rindex(")") + 2 :].split()
        this_pid, parent = int(stat.parent.name), int(fields[1])
        if pid in (this_pid, parent):
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / _TICKS


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and its finished children (such as wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
