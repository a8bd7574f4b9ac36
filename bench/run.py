"""Run every benchmark, print its figures, and write them to bench/results/report.md.

`make bench` runs this file; `bench/run.py pages` runs only the named modules. A benchmark is
a module in bench/ with a `TITLE` and a `run(report)` function, listed in `MODULES` below.
Benchmarks print figures and PASS/FAIL lines against their targets; nothing here asserts.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Protocol

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ itself first on the path; import it as a package instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != PROJECT_ROOT / "bench"]
sys.path.insert(0, str(PROJECT_ROOT))

from bench import machine  # noqa: E402
from bench.report import Report  # noqa: E402
from portal import clock  # noqa: E402

#: Every benchmark module, in the order they run.
MODULES: tuple[str, ...] = ("pages", "payflow", "delivery", "shipped")
RESULTS = PROJECT_ROOT / "bench" / "results"


class Benchmark(Protocol):
    TITLE: str

    def run(self, report: Report) -> None: ...


def main(argv: list[str]) -> int:
    """Run the benchmarks named in `argv` (all when none) and write the report."""
    names = argv or list(MODULES)
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(MODULES)}")
        return 2
    started = time.perf_counter()
    report = Report()
    if {"pages", "shipped"} & set(names):
        # These benchmarks install wrk when they can; do it first so the facts name it.
        from bench.loadgen import find_wrk

        find_wrk()
    report.section("Machine")
    report.table(["fact", "value"], machine.facts())
    for name in names:
        module: Benchmark = importlib.import_module(f"bench.{name}")
        report.section(module.TITLE)
        try:
            module.run(report)
        except Exception as exc:  # One broken benchmark must not hide the others' figures.
            report.error(f"benchmark {name}", exc)
    elapsed = time.perf_counter() - started
    report.note(f"All benchmarks took {elapsed:.0f} s.")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "report.md"
    stamp = clock.now().strftime("%Y-%m-%d %H:%M UTC")
    path.write_text(f"# MatterPay benchmarks, {stamp}\n\n{report.markdown()}")
    summary = [(v.name, v.label, v.detail) for v in report.verdicts]
    if summary:
        print("\n== Targets ==")
        width = max(len(name) for name, _, _ in summary)
        for name, label, detail in summary:
            print(f"{label:4}  {name.ljust(width)}  {detail}")
    print(f"\nReport written to {path.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
