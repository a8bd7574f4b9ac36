"""The benchmark report: figures printed as they come and collected as markdown.

Benchmarks only print. A target is a PASS/FAIL line in the output, never an assertion.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """One target: `passed` is None when it could not be measured."""

    name: str
    passed: bool | None
    detail: str

    @property
    def label(self) -> str:
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]


class Report:
    """Prints to stdout and keeps the same content as markdown for bench/results/report.md."""

    def __init__(self) -> None:
        self._markdown: list[str] = []
        self.verdicts: list[Verdict] = []

    def section(self, title: str, *, level: int = 2) -> None:
        """Start a titled part of the output (level 2 for a benchmark, 3 for its parts)."""
        print(f"\n{'=' * level} {title} {'=' * level}", flush=True)
        self._markdown += [f"{'#' * level} {title}", ""]

    def note(self, text: str) -> None:
        """Print a line of prose (progress, a fact, a caveat)."""
        print(text, flush=True)
        self._markdown += [text, ""]

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """Print an aligned table; the report gets a markdown table."""
        cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for n, row in enumerate(cells):
            print(
                "  ".join(
                    c.rjust(w) if n and i else c.ljust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        print(flush=True)
        self._markdown.append("| " + " | ".join(cells[0]) + " |")
        self._markdown.append("|" + "|".join("---" for _ in headers) + "|")
        self._markdown += ["| " + " | ".join(row) + " |" for row in cells[1:]]
        self._markdown.append("")

    def verdict(self, name: str, passed: bool | None, detail: str) -> None:
        """Record a target and print PASS, FAIL or SKIP against it."""
        verdict = Verdict(name, passed, detail)
        self.verdicts.append(verdict)
        print(f"{verdict.label}  {name}: {detail}", flush=True)
        self._markdown += [f"**{verdict.label}** {name}: {detail}", ""]

    def error(self, what: str, exc: BaseException) -> None:
        """Report that part of a benchmark failed, with the traceback, and carry on."""
        trace = "".join(traceback.format_exception(exc)).rstrip()
        print(f"ERROR  {what}:\n{trace}", flush=True)
        self._markdown += [f"**ERROR** {what}:", "", "```", trace, "```", ""]
        self.verdicts.append(Verdict(what, None, f"error: {type(exc).__name__}: {exc}"))

    def markdown(self) -> str:
        """The collected body, followed by a summary of every target."""
        lines = list(self._markdown)
        if self.verdicts:
            lines += ["## Targets", "", "| target | result | detail |", "|---|---|---|"]
            lines += [f"| {v.name} | {v.label} | {v.detail} |" for v in self.verdicts]
            lines.append("")
        return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
