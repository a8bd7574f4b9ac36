"""Load generators: `wrk` when it is installed (or installable), else Python threads.

Both run for a fixed time against 127.0.0.1 only and report requests per second and latency
percentiles. The Python fallback shares the two cores with the server and with Python's GIL,
so its figures are lower than wrk's; the output always names the generator that was used.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

#: The only host a benchmark may put load on.
LOCALHOST = "127.0.0.1"
#: A request slower than this counts as an error in the Python generator.
REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class LoadResult:
    """What one timed run measured. Latencies are in milliseconds."""

    generator: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    #: Responses that were neither 2xx nor 3xx (a failed page is not a fast page).
    non_2xx: int
    #: Connect, read, write and timeout errors.
    errors: int


def find_wrk() -> str | None:
    """The path of `wrk`, installing Debian's package first when we are root and it is missing."""
    path = shutil.which("wrk")
    if path or os.geteuid() != 0 or not shutil.which("apt-get"):
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "install", "-y", "wrk"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "wrk"],
    ):
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if command[1] == "install" and (path := shutil.which("wrk")):
            return path
    return shutil.which("wrk")


@dataclass(frozen=True)
class Target:
    """One request to send: a path on the server and its headers (a session cookie, say)."""

    path: str
    headers: Mapping[str, str] = field(default_factory=dict)


def run_load(
    base_url: str,
    targets: Sequence[Target],
    *,
    duration: float = 10.0,
    threads: int = 2,
    connections: int = 16,
    wrk: str | None = None,
) -> LoadResult:
    """GET the targets for `duration` seconds over `connections` connections; wrk if given.

    With several targets each request picks one at random, so caches see many keys.
    """
    if urlsplit(base_url).hostname != LOCALHOST:
        raise ValueError(f"benchmarks only load {LOCALHOST}, not {base_url}")
    if not targets:
        raise ValueError("no targets to load")
    if wrk:
        return _wrk(wrk, base_url, targets, duration, threads, connections)
    return _python(base_url, targets, duration, connections)


# -- wrk -------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk(
    wrk: str,
    base_url: str,
    targets: Sequence[Target],
    duration: float,
    threads: int,
    connections: int,
) -> LoadResult:
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        f"--timeout={int(REQUEST_TIMEOUT_SECONDS)}s",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        if len(targets) == 1:
            for name, value in targets[0].headers.items():
                command += ["-H", f"{name}: {value}"]
            url = base_url + targets[0].path
        else:
            script = Path(folder) / "targets.lua"
            script.write_text(_lua_script(targets))
            command += ["-s", str(script)]
            url = base_url + "/"
        out = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=duration + 60, check=False
        )
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()}")
    return parse_wrk(out.stdout, version=wrk_name(wrk))


def _lua_script(targets: Sequence[Target]) -> str:
    """A wrk script whose every request is one of `targets`, picked at random."""

    def quoted(text: str) -> str:
        if not text.isascii() or not text.isprintable():
            raise ValueError(f"not a plain ASCII header or path: {text!r}")
        return json.dumps(text)  # A JSON string of printable ASCII is also a Lua string.

    rows = []
    for target in targets:
        headers = ", ".join(f"[{quoted(k)}] = {quoted(v)}" for k, v in target.headers.items())
        rows.append(f"  {{ path = {quoted(target.path)}, headers = {{ {headers} }} }},")
    return "\n".join(
        [
            "local targets = {",
            *rows,
            "}",
            "local count = #targets",
            "request = function()",
            "  local target = targets[math.random(count)]",
            '  return wrk.format("GET", target.path, target.headers)',
            "end",
            "",
        ]
    )


def parse_wrk(output: str, *, version: str = "wrk") -> LoadResult:
    """Read requests, duration, Requests/sec, the latency distribution and errors from wrk."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not done or not rps:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    percentiles = {
        int(p): float(v) * _UNITS[u]
        for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return LoadResult(
        generator=version,
        requests=int(done.group(1)),
        seconds=float(done.group(2)) * _UNITS[done.group(3)] / 1000,
        rps=float(rps.group(1)),
        p50_ms=percentiles.get(50, float("nan")),
        p90_ms=percentiles.get(90, float("nan")),
        p99_ms=percentiles.get(99, float("nan")),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(n) for n in socket.groups()) if socket else 0,
    )


def wrk_name(wrk: str) -> str:
    """Name the wrk build, e.g. "wrk debian/4.1.0-3", from `wrk --version`."""
    try:
        out = subprocess.run(
            [wrk, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        first = (out.stdout or out.stderr).split()
        return f"wrk {first[1]}" if len(first) > 1 else "wrk"
    except (OSError, subprocess.TimeoutExpired):
        return "wrk"


# -- Python fallback -------------------------------------------------------------------------


def _python(
    base_url: str, targets: Sequence[Target], duration: float, connections: int
) -> LoadResult:
    port = urlsplit(base_url).port or 80
    latencies: list[list[float]] = [[] for _ in range(connections)]
    failures = [[0, 0] for _ in range(connections)]  # [non_2xx, errors] per connection
    start = time.perf_counter()
    deadline = start + duration

    def worker(n: int) -> None:
        pick = random.Random(n)
        connection = http.client.HTTPConnection(LOCALHOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
        # A hard cap as well as the deadline: no loop here runs unbounded.
        for _ in range(10_000_000):
            if time.perf_counter() >= deadline:
                break
            target = targets[pick.randrange(len(targets))]
            sent = time.perf_counter()
            try:
                connection.request("GET", target.path, headers=dict(target.headers))
                response = connection.getresponse()
                response.read()
                if not 200 <= response.status < 400:
                    failures[n][0] += 1
                if response.will_close:
                    connection.close()
            except (OSError, http.client.HTTPException):
                failures[n][1] += 1
                connection.close()
                continue
            latencies[n].append((time.perf_counter() - sent) * 1000)
        connection.close()

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=duration + REQUEST_TIMEOUT_SECONDS + 5)
    elapsed = time.perf_counter() - start
    samples = sorted(ms for per in latencies for ms in per)
    return LoadResult(
        generator=f"python threads ({connections} keep-alive connections)",
        requests=len(samples),
        seconds=elapsed,
        rps=len(samples) / elapsed if elapsed else 0.0,
        p50_ms=percentile(samples, 50),
        p90_ms=percentile(samples, 90),
        p99_ms=percentile(samples, 99),
        non_2xx=sum(f[0] for f in failures),
        errors=sum(f[1] for f in failures),
    )


def percentile(sorted_samples: Sequence[float], p: float) -> float:
    """The nearest-rank percentile of already sorted samples (NaN when there are none)."""
    if not sorted_samples:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_samples)))
    return sorted_samples[rank - 1]
