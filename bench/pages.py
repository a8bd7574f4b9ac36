"""The client's matter page at 1,000 and at 1,000,000 invoices, /healthz beside it, and the sync.

For a small database (10 matters, 1,000 invoices) and a large one (10,000 matters, 1,000,000
invoices), gunicorn serves the app in production mode; a 24-hour link is opened to get the
session cookie, then GET /matters/<id> (one matter of the same shape in both) and GET /healthz
are put under load in the same run. Targets: the matter page at 1M invoices keeps at least 80%
of its speed at 1k, and serves at least 12% of /healthz's requests per second.

Then POST /api/v1/sync with 5,000 records is timed on a fresh database: new records first,
then the same body again (every record unchanged).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import loadgen, machine, seed
from bench.loadgen import LoadResult, Target
from bench.report import Report
from bench.server import PROJECT_ROOT, Server, request, serve
from portal import clock

TITLE = "Client pages and bulk sync"

#: Seconds of load per measured route and round (BENCH_DURATION overrides).
DURATION = float(os.environ.get("BENCH_DURATION", "4"))
#: Rounds; each measures every route on both databases in turn, so a slow spell on a shared
#: machine hits all of them alike. Each figure is the route's median round.
ROUNDS = 3
WARMUP = 2.0
THREADS = 2
CONNECTIONS = 16
#: Longest wait, per round, for other programs to stop using the CPU.
QUIET_WAIT_SECONDS = 20.0
#: Clients (ten matters each) whose matters the "spread" run picks from at random.
SPREAD_CLIENTS = 50
#: Cores used by other programs above which the figures are flagged as noisy.
BUSY_WARNING = 0.3
#: Where the seeded SQLite files are kept between runs (bench/results/ is gitignored).
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", PROJECT_ROOT / "bench" / "results" / "data"))
LOG_DIR = PROJECT_ROOT / "bench" / "results" / "logs"
SESSION_COOKIE = "matterpay_session"

#: The matter page must keep this share of its small-database speed at 1M invoices.
SCALE_TARGET = 0.80
#: The matter page must serve this share of /healthz's requests per second.
HEALTHZ_TARGET = 0.12

SYNC_SHAPE = {"clients": 100, "matters": 900, "invoices": 3_000, "trust_entries": 1_000}
SYNC_FRESH_RUNS = 3
SYNC_UNCHANGED_RUNS = 5
#: Stop starting new sync requests once this much time has gone by.
SYNC_BUDGET_SECONDS = 120.0


@dataclass(frozen=True)
class Measured:
    """A route's median round, the range over all rounds, and others' CPU use meanwhile."""

    result: LoadResult
    #: The lowest and highest requests per second over the rounds.
    rps_range: tuple[float, float]
    #: The most cores other programs used during any round.
    others_busy: float
    #: How many different requests it spread over.
    targets: int


@dataclass
class Prepared:
    """One database's server, sessions and routes, ready for load."""

    db: seed.SeededDatabase
    server: Server
    matter_id: int
    page_bytes: int
    problem: str | None
    #: Route name ("matter", "spread", "healthz") -> the requests it sends.
    routes: dict[str, list[Target]]
    #: Route name -> (result, cores used by others) per round.
    rounds: dict[str, list[tuple[LoadResult, float]]]


@dataclass(frozen=True)
class PageRun:
    """The figures for one database (the matter pages are None if they could not be loaded)."""

    shape: seed.Shape
    matter_id: int
    #: The one chosen matter, again and again: the figure the targets are set on.
    matter: Measured | None
    #: Matters all over the database, picked at random: for information only.
    spread: Measured | None
    healthz: Measured
    page_bytes: int
    problem: str | None


def run(report: Report) -> None:
    """Seed both databases, measure the pages on each, then measure the bulk sync."""
    secret_key = secrets.token_urlsafe(48)  # Production mode wants 32+ characters.
    wrk = loadgen.find_wrk()
    report.note(
        f"Load generator: {_generator_name(wrk)}; {THREADS} threads, {CONNECTIONS} "
        f"connections; per route a {WARMUP:.0f} s warm-up, then {ROUNDS} rounds of "
        f"{DURATION:.0f} s interleaved over routes and databases (figures: the median round). "
        "Server: gunicorn, 2 sync workers, PORTAL_ENV=production, SQLite (WAL)."
    )

    report.section("Seeding", level=3)
    databases = [_seeded(report, shape, secret_key) for shape in (seed.SMALL, seed.LARGE)]

    report.section("Matter page and /healthz", level=3)
    try:
        _report_pages(report, _measure_pages(report, databases, secret_key, wrk))
    except Exception as exc:  # The sync figures are still worth having.
        report.error("matter page and /healthz", exc)

    report.section("Bulk sync: POST /api/v1/sync", level=3)
    try:
        _measure_sync(report, secret_key)
    except Exception as exc:
        report.error("bulk sync", exc)


# -- seeding ---------------------------------------------------------------------------------


def _seeded(report: Report, shape: seed.Shape, secret_key: str) -> seed.SeededDatabase:
    counts = shape.expected_counts()
    report.note(
        f"{shape.name}: {counts['matters']:,} matters, {counts['invoices']:,} invoices, "
        f"{counts['trust_entries']:,} trust entries, {counts['clients']:,} client(s)"
    )
    db = seed.seeded_sqlite(shape, DATA_DIR, secret_key=secret_key)
    took = "unknown time" if db.seconds is None else f"{db.seconds:.1f} s"
    size = f"{db.path.stat().st_size / 1024 / 1024:,.1f} MiB"
    if db.reused:
        report.note(f"  reused {db.path.name} ({size}; seeding it took {took} earlier)")
    else:
        report.note(f"  seeded {db.path.name} in {took} ({size})")
    return db


# -- pages -----------------------------------------------------------------------------------


def _measure_pages(
    report: Report, databases: list[seed.SeededDatabase], secret_key: str, wrk: str | None
) -> list[PageRun]:
    """Serve every database at once, then load each route of each in turn, ROUNDS times."""
    with contextlib.ExitStack() as stack:
        prepared = []
        for db in databases:
            log = LOG_DIR / f"gunicorn-{db.shape.name}.log"
            server = stack.enter_context(serve(db.url, secret_key=secret_key, log_path=log))
            prepared.append(_prepare(db, server))
            if prepared[-1].problem:
                report.note(
                    f"{db.shape.name}: matter page not measured: {prepared[-1].problem} "
                    f"(server log: {log})"
                )
        for p in prepared:
            for targets in p.routes.values():
                _load(p.server, targets, wrk, WARMUP)  # Caches, templates, pooled connections.
        for _ in range(ROUNDS):
            # The machine may be shared: give others' builds and tests a moment to finish.
            machine.wait_until_quiet(threshold=BUSY_WARNING, max_seconds=QUIET_WAIT_SECONDS)
            for p in prepared:
                for route, targets in p.routes.items():
                    p.rounds[route].append(_timed_load(p.server, targets, wrk))
    return [_page_run(p) for p in prepared]


def _prepare(db: seed.SeededDatabase, server: Server) -> Prepared:
    """Issue and open the links, check the page once, and list the routes to load."""
    # The middle matter: every matter has the same shape, so any one is representative.
    matter_id = (db.shape.matters + 1) // 2
    spread_clients = _spread_clients(db.shape)
    paths = issue_link_paths(server, [seed.client_of(matter_id, db.shape), *spread_clients])
    problem, cookies = _open_links(server, paths)
    page_bytes = 0
    routes: dict[str, list[Target]] = {}
    if not problem:
        page = Target(f"/matters/{matter_id}", _cookie_header(cookies[0]))
        problem, page_bytes = _check_page(server, page)
        if not problem:
            routes["matter"] = [page]
            routes["spread"] = _spread_targets(db.shape, spread_clients, cookies[1:])
    routes["healthz"] = [Target("/healthz")]
    return Prepared(
        db, server, matter_id, page_bytes, problem, routes, {route: [] for route in routes}
    )


def _page_run(p: Prepared) -> PageRun:
    healthz = _median(p, "healthz")
    if healthz is None:
        raise RuntimeError(f"/healthz was not measured on {p.db.shape.name}")
    return PageRun(
        shape=p.db.shape,
        matter_id=p.matter_id,
        matter=_median(p, "matter"),
        spread=_median(p, "spread"),
        healthz=healthz,
        page_bytes=p.page_bytes,
        problem=p.problem,
    )


def _median(p: Prepared, route: str) -> Measured | None:
    """The route's median round by requests per second (None if it has no rounds)."""
    rounds = p.rounds.get(route)
    if not rounds:
        return None
    ordered = sorted(rounds, key=lambda r: r[0].rps)
    return Measured(
        result=ordered[len(ordered) // 2][0],
        rps_range=(ordered[0][0].rps, ordered[-1][0].rps),
        others_busy=max(others for _, others in rounds),
        targets=len(p.routes[route]),
    )


def _spread_clients(shape: seed.Shape) -> list[int]:
    """Up to SPREAD_CLIENTS client ids, evenly spaced over the whole database."""
    step = max(1, shape.clients // SPREAD_CLIENTS)
    return list(range(1, shape.clients + 1, step))[:SPREAD_CLIENTS]


def _spread_targets(shape: seed.Shape, clients: list[int], cookies: list[str]) -> list[Target]:
    """Every matter of each client, each with that client's session."""
    return [
        Target(f"/matters/{matter_id}", _cookie_header(cookie))
        for client_id, cookie in zip(clients, cookies, strict=True)
        for matter_id in range(1, shape.matters + 1)
        if seed.client_of(matter_id, shape) == client_id
    ]


def _cookie_header(value: str) -> dict[str, str]:
    # The cookie is Secure; a browser would send it only over HTTPS, a load generator anyway.
    return {"Cookie": f"{SESSION_COOKIE}={value}"}


def _open_links(server: Server, paths: list[str]) -> tuple[str | None, list[str]]:
    """GET each /l/<token> without following the redirect; return the session cookies."""
    cookies = []
    for path in paths:
        opened = request(server.port, "GET", path)
        if opened.status not in (302, 303):
            return f"GET /l/<token> answered {opened.status}, expected 303", []
        jar = SimpleCookie()
        for header in opened.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        if SESSION_COOKIE not in jar:
            return f"GET /l/<token> set no {SESSION_COOKIE} cookie", []
        cookies.append(jar[SESSION_COOKIE].value)
    return None, cookies


def _check_page(server: Server, target: Target) -> tuple[str | None, int]:
    """Fetch the page once: a problem if it is not a 200, else its size in bytes."""
    page = request(server.port, "GET", target.path, headers=target.headers)
    if page.status != 200:
        return f"GET {target.path} answered {page.status}, expected 200", 0
    return None, len(page.body)


def issue_link_paths(server: Server, client_ids: list[int]) -> list[str]:
    """Issue and commit a 24-hour link for each client; return their paths, /l/<token>."""
    from portal import create_app
    from portal.billing.models import Client
    from portal.db import db
    from portal.links import services as links

    app = create_app(
        {
            "ENV": "production",
            "DATABASE_URL": server.database_url,
            "SECRET_KEY": server.secret_key,
            "BASE_URL": server.base_url,
        }
    )
    urls = []
    try:
        with app.app_context():
            for client_id in client_ids:
                client = db.session.get(Client, client_id)
                if client is None:
                    raise RuntimeError(f"the benchmark database has no client {client_id}")
                urls.append(
                    links.url_for_link(links.issue_link(firm_id=client.firm_id, client=client))
                )
            db.session.commit()
    finally:
        app.extensions["portal.engine"].dispose()
    return [urlsplit(url).path for url in urls]


def _load(server: Server, targets: list[Target], wrk: str | None, seconds: float) -> LoadResult:
    return loadgen.run_load(
        server.base_url,
        targets,
        duration=seconds,
        threads=THREADS,
        connections=CONNECTIONS,
        wrk=wrk,
    )


def _timed_load(server: Server, targets: list[Target], wrk: str | None) -> tuple[LoadResult, float]:
    """One measured run, and how many cores other programs used meanwhile."""
    before = _cpu_split(server)
    result = _load(server, targets, wrk, DURATION)
    after = _cpu_split(server)
    # What the machine spent beyond the server and the load generator: someone else's work.
    others = (after[0] - before[0]) - (after[1] - before[1]) - (after[2] - before[2])
    return result, max(0.0, others / (after[3] - before[3]))


def _cpu_split(server: Server) -> tuple[float, float, float, float]:
    """(machine, server, this process + wrk) CPU seconds so far, and the wall clock."""
    return (
        machine.machine_cpu_seconds(),
        machine.process_tree_cpu_seconds(server.pid),
        machine.own_cpu_seconds(),
        time.monotonic(),
    )


def _report_pages(report: Report, runs: list[PageRun]) -> None:
    rows: list[list[object]] = []
    for r in runs:
        for route, measured in (
            (f"/matters/{r.matter_id}", r.matter),
            ("/matters/<random>", r.spread),
            ("/healthz", r.healthz),
        ):
            if measured is None:
                rows.append([r.shape.name, route, "not measured", *[""] * 8])
                continue
            result = measured.result
            rows.append(
                [
                    f"{r.shape.name} ({r.shape.invoices:,} inv.)",
                    route,
                    measured.targets,
                    result.requests,
                    result.rps,
                    f"{measured.rps_range[0]:,.0f}-{measured.rps_range[1]:,.0f}",
                    result.p50_ms,
                    result.p90_ms,
                    result.p99_ms,
                    result.non_2xx + result.errors,
                    f"{measured.others_busy:.2f}",
                ]
            )
    headers = ["database", "route", "URLs", "requests", "req/s", "req/s range", "p50 ms"]
    headers += ["p90 ms", "p99 ms"]
    report.table([*headers, "errors", "other CPU"], rows)
    report.note(
        "/matters/<random>: each request one of the URLs at random (matters of "
        f"{SPREAD_CLIENTS} clients spread over the database, each with its own session), so "
        "caches see many matters; for information, the targets use the single matter. "
        "requests and percentiles are the median round's; req/s range spans all rounds. "
        "other CPU: most cores other programs used during a round (0 = the machine was ours)."
    )
    measured_all = [m for r in runs for m in (r.matter, r.spread, r.healthz) if m is not None]
    busiest = max(m.others_busy for m in measured_all)
    if busiest > BUSY_WARNING:
        report.note(
            f"WARNING: other programs used up to {busiest:.1f} cores during these runs; "
            "the figures are lower and noisier than on a quiet machine."
        )
    for r in runs:
        if r.matter is not None:
            report.note(f"{r.shape.name}: matter page is {r.page_bytes:,} bytes")
    if any(m.result.non_2xx or m.result.errors for m in measured_all):
        report.note("Some responses failed (non-2xx/3xx or socket errors); see the errors column.")

    small, large = runs
    rps = {r.shape.name: (r.matter.result.rps if r.matter else None) for r in runs}
    ratio_rows: list[list[object]] = []
    for r in runs:
        if r.matter is not None:
            share = r.matter.result.rps / r.healthz.result.rps
            ratio_rows.append([f"matter / healthz ({r.shape.name})", f"{share:.1%}"])
    small_rps, large_rps = rps[small.shape.name], rps[large.shape.name]
    if small_rps and large_rps:
        ratio_rows.append(["matter large / small", f"{large_rps / small_rps:.1%}"])
    if small.spread and large.spread:
        spread = large.spread.result.rps / small.spread.result.rps
        ratio_rows.append(["matter <random> large / small", f"{spread:.1%}"])
    if ratio_rows:
        report.table(["ratio (req/s)", "value"], ratio_rows)

    if not small_rps or not large_rps:
        report.verdict("matter page at 1M within 20% of 1k", None, "matter page not measured")
    else:
        scale = large_rps / small_rps
        report.verdict(
            "matter page at 1M within 20% of 1k",
            scale >= SCALE_TARGET,
            f"{large_rps:,.1f} vs {small_rps:,.1f} req/s = {scale:.1%} "
            f"(target >= {SCALE_TARGET:.0%})",
        )
    for r in runs:
        name = f"matter page >= 12% of /healthz ({r.shape.name})"
        if r.matter is None:
            report.verdict(name, None, "matter page not measured")
            continue
        page, health = r.matter.result.rps, r.healthz.result.rps
        report.verdict(
            name,
            page / health >= HEALTHZ_TARGET,
            f"{page:,.1f} vs {health:,.1f} req/s = {page / health:.1%} "
            f"(target >= {HEALTHZ_TARGET:.0%})",
        )


def _generator_name(wrk: str | None) -> str:
    if wrk is None:
        return f"python threads ({CONNECTIONS} keep-alive connections; wrk not available)"
    return f"{loadgen.wrk_name(wrk)} ({wrk})"


# -- bulk sync -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncSample:
    seconds: float
    status: int
    body: bytes


def _measure_sync(report: Report, secret_key: str) -> None:
    records = sum(SYNC_SHAPE.values())
    report.note(
        f"{records:,} records per request "
        f"({', '.join(f'{n:,} {kind}' for kind, n in SYNC_SHAPE.items())})"
        f" on a fresh database: {SYNC_FRESH_RUNS} bodies of new records, then the first body "
        f"{SYNC_UNCHANGED_RUNS} more times (all unchanged)."
    )
    with tempfile.TemporaryDirectory(prefix="matterpay-bench-sync-") as folder:
        url = seed.sqlite_url(Path(folder) / "sync.sqlite3")
        api_key = _fresh_firm_with_key(url, secret_key)
        log = LOG_DIR / "gunicorn-sync.log"
        with serve(url, secret_key=secret_key, log_path=log) as server:
            headers = {
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
            }
            started = time.monotonic()
            bodies = [json.dumps(sync_body(f"R{n}-")).encode() for n in range(SYNC_FRESH_RUNS)]
            fresh: list[SyncSample] = []
            unchanged: list[SyncSample] = []
            plan = [(fresh, body) for body in bodies]
            plan += [(unchanged, bodies[0])] * SYNC_UNCHANGED_RUNS
            for samples, body in plan:
                if time.monotonic() - started > SYNC_BUDGET_SECONDS:
                    break
                t0 = time.perf_counter()
                reply = request(server.port, "POST", "/api/v1/sync", body=body, headers=headers)
                samples.append(SyncSample(time.perf_counter() - t0, reply.status, reply.body))
    report.note(f"Request body: {len(bodies[0]) / 1024:,.0f} KiB of JSON.")
    rows: list[list[object]] = []
    for name, samples in (("fresh (all new)", fresh), ("again (all unchanged)", unchanged)):
        if not samples:
            rows.append([name, 0, "", "", "", "", ""])
            continue
        ms = sorted(s.seconds * 1000 for s in samples)
        statuses = ",".join(sorted({str(s.status) for s in samples}))
        median = loadgen.percentile(ms, 50)
        rows.append(
            [
                name,
                len(samples),
                statuses,
                median,
                loadgen.percentile(ms, 90),
                loadgen.percentile(ms, 99),
                records / (median / 1000) if _all_ok(samples) else "n/a (failed)",
            ]
        )
    report.table(
        ["request", "count", "status", "p50 ms", "p90 ms", "p99 ms", "records/s (p50)"], rows
    )
    for name, samples in (("fresh", fresh), ("unchanged", unchanged)):
        if samples:
            report.note(f"First {name} answer ({samples[0].status}): {_outcomes(samples[0].body)}")
    if not _all_ok(fresh + unchanged):
        report.note(f"Some sync requests failed, so their timings mean little; see {log}.")
    report.verdict(
        "sync requests all succeed (a sanity check, not a speed target)",
        _all_ok(fresh + unchanged) and bool(fresh) and bool(unchanged),
        f"statuses {sorted({s.status for s in fresh + unchanged})}",
    )


def _all_ok(samples: list[SyncSample]) -> bool:
    return all(200 <= s.status < 300 for s in samples)


def _fresh_firm_with_key(url: str, secret_key: str) -> str:
    """Migrate an empty database, create the firm and an API key; return the key."""
    from portal import create_app, schema
    from portal.db import db, make_engine
    from portal.firms import services as firms

    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    app = create_app({"ENV": "production", "DATABASE_URL": url, "SECRET_KEY": secret_key})
    try:
        with app.app_context():
            firm = firms.create_firm(seed.FIRM_NAME, currency=seed.CURRENCY)
            issued = firms.issue_api_key(firm, label="bench")
            db.session.commit()
            return issued.secret
    finally:
        app.extensions["portal.engine"].dispose()


def sync_body(prefix: str) -> dict[str, list[dict[str, Any]]]:
    """A sync request of SYNC_SHAPE's size whose external ids all start with `prefix`.

    Amounts are JSON integers in minor units, as the API requires.
    """
    today = clock.today()
    day = dt.timedelta(days=1)
    clients = [
        {
            "external_id": f"{prefix}C-{c:04d}",
            "name": f"Sync client {c}",
            "email": f"sync{c}@example.com",
            "locale": "en_US",
        }
        for c in range(SYNC_SHAPE["clients"])
    ]
    matters = [
        {
            "external_id": f"{prefix}M-{m:04d}",
            "client": clients[m % len(clients)]["external_id"],
            "number": f"S-{m:04d}",
            "title": f"Sync matter {m}",
            "trust_minimum": 500_000 if m % 3 == 0 else None,
        }
        for m in range(SYNC_SHAPE["matters"])
    ]
    invoices = []
    for i in range(SYNC_SHAPE["invoices"]):
        total = 25_000 + (i * 7_919) % 500_000
        issued = today - (i % 200) * day
        invoices.append(
            {
                "external_id": f"{prefix}INV-{i:05d}",
                "matter": matters[i % len(matters)]["external_id"],
                "number": f"S-{i:05d}",
                "issued_on": issued.isoformat(),
                "due_on": (issued + 30 * day).isoformat(),
                "currency": seed.CURRENCY,
                "total": total,
                "balance_due": total if i % 2 else 0,
                "description": "Professional services rendered",
            }
        )
    trust_entries = [
        {
            "external_id": f"{prefix}T-{t:05d}",
            "matter": matters[t % len(matters)]["external_id"],
            "posted_on": (today - (t % 300) * day).isoformat(),
            "amount": 400_000 if t % 2 == 0 else -150_000,
            "currency": seed.CURRENCY,
            "description": "Retainer deposit" if t % 2 == 0 else "Transfer to operating",
        }
        for t in range(SYNC_SHAPE["trust_entries"])
    ]
    return {
        "clients": clients,
        "matters": matters,
        "invoices": invoices,
        "trust_entries": trust_entries,
    }


def _outcomes(body: bytes) -> str:
    """Count the outcomes a sync answer lists per kind, e.g. "invoices: 3,000 created"."""
    try:
        results = json.loads(body)["results"]
        parts = []
        for kind, items in results.items():
            counts = Counter(str(item.get("outcome")) for item in items)
            listed = ", ".join(f"{n:,} {outcome}" for outcome, n in sorted(counts.items()))
            parts.append(f"{kind}: {listed or 'none'}")
        return "; ".join(parts)
    except (ValueError, KeyError, TypeError, AttributeError):
        return _excerpt(body)


def _excerpt(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + " ..."
