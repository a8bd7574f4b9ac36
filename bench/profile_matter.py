"""Where one matter page's time goes: cProfile and per-statement SQL timings on a seeded database.

Not a benchmark (run.py does not run it); a tool for when the matter page misses a target:

    .venv/bin/python bench/profile_matter.py [small|large] [--requests 200] [--top 25]

It opens a link with the Flask test client in production config, then requests
GET /matters/<id> repeatedly, printing the SQL statements per request with their time and
SQLite's query plan, and the functions that took the most time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import secrets
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != PROJECT_ROOT / "bench"]
sys.path.insert(0, str(PROJECT_ROOT))

from sqlalchemy import event  # noqa: E402

from bench import seed  # noqa: E402
from bench.pages import DATA_DIR  # noqa: E402
from portal import create_app  # noqa: E402
from portal.billing.models import Client  # noqa: E402
from portal.db import db  # noqa: E402
from portal.links import services as links  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", choices=["small", "large"], nargs="?", default="large")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    requests = max(1, min(args.requests, 100_000))

    shape = seed.LARGE if args.database == "large" else seed.SMALL
    secret_key = secrets.token_urlsafe(48)
    database = seed.seeded_sqlite(shape, DATA_DIR, secret_key=secret_key)
    matter_id = (shape.matters + 1) // 2
    app = create_app({"ENV": "production", "DATABASE_URL": database.url, "SECRET_KEY": secret_key})
    with app.app_context():
        client = db.session.get(Client, seed.client_of(matter_id, shape))
        if client is None:
            raise SystemExit("the seeded database has no such client")
        token = links.token_for(links.issue_link(firm_id=client.firm_id, client=client))
        db.session.commit()

    # The session cookie is Secure, so the test client must speak "https" to get it back.
    browser = app.test_client()
    opened = browser.get(f"/l/{token}", base_url="https://localhost")
    page = f"/matters/{matter_id}"
    first = browser.get(page, base_url="https://localhost")
    print(
        f"{shape.name}: GET /l/<token> -> {opened.status_code}; GET {page} -> "
        f"{first.status_code}, {len(first.data):,} bytes"
    )
    if first.status_code != 200:
        return 1

    statements: dict[str, list[float]] = defaultdict(list)
    parameters: dict[str, Any] = {}
    engine = app.extensions["portal.engine"]

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements[statement].append(time.perf_counter() - conn.info.pop("bench_started"))
        parameters.setdefault(statement, params)

    started = time.perf_counter()
    for _ in range(requests):
        browser.get(page, base_url="https://localhost")
    plain = time.perf_counter() - started
    print(
        f"{requests} requests in {plain:.2f} s: {plain / requests * 1000:.2f} ms each "
        "(one process, in-process test client, no profiler)"
    )
    statements.clear()
    parameters.clear()

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(requests):
        browser.get(page, base_url="https://localhost")
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(
        f"{requests} requests in {elapsed:.2f} s: {elapsed / requests * 1000:.2f} ms each "
        f"(one process, in-process test client, profiler on)\n"
    )

    sql_total = sum(sum(times) for times in statements.values())
    print(
        f"SQL per request: {sum(len(t) for t in statements.values()) / requests:.1f} "
        f"statements, {sql_total / requests * 1000:.2f} ms of cursor time"
    )
    ranked = sorted(statements.items(), key=lambda item: -sum(item[1]))
    for statement, times in ranked:
        per_request = sum(times) / requests * 1000
        print(
            f"\n{per_request:7.3f} ms/request  x{len(times) / requests:.1f}  "
            f"{' '.join(statement.split())[:400]}"
        )
        if engine.dialect.name == "sqlite" and statement.lstrip().upper().startswith("SELECT"):
            with engine.connect() as connection:
                plan = connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", parameters[statement]
                ).all()
            for row in plan:
                print(f"      plan: {row[-1]}")

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    print("\nWhere a request's time goes (cumulative, per request, profiler on):")
    for label, ms in breakdown(stats, requests):
        print(f"  {ms:8.2f} ms  {label}")
    stats.sort_stats("cumulative").print_stats(r"/portal/|/babel/|/jinja2/", args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    return 0


#: (label, path fragment, function name) of the calls worth knowing the cost of.
_BREAKDOWN = (
    ("whole request (Flask wsgi_app)", "/flask/app.py", "wsgi_app"),
    ("link_required: live_link (load the link)", "/portal/links/services.py", "live_link"),
    ("link_required: audience (firm, locale)", "/portal/statements/matters.py", "audience"),
    ("statement_for (all SQL + dataclasses)", "/portal/statements/statement.py", "statement_for"),
    ("render_template (Jinja + filters)", "/flask/templating.py", "render_template"),
    ("  |money filter", "/portal/templating.py", "_money"),
    ("  |local_date filter", "/portal/templating.py", "_local_date"),
    (
        "  gettext lookups (Flask-Babel get_translations)",
        "/flask_babel/__init__.py",
        "get_translations",
    ),
    ("session commit/close (teardown)", "/portal/db.py", "_remove"),
)


def breakdown(stats: pstats.Stats, requests: int) -> list[tuple[str, float]]:
    """Cumulative milliseconds per request spent in each call named in _BREAKDOWN."""
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for label, path, name in _BREAKDOWN:
        seconds = sum(
            ct
            for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in raw.items()
            if func == name and path in file
        )
        rows.append((label, seconds / requests * 1000))
    return rows


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
