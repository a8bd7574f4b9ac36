"""CSV files the firm downloads (API reports, the console's exports): one cell's text with the
spreadsheet formula guard, and RFC 4180 text as an attachment. Every face writes CSV here."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

from flask import Response

CSV_TYPE = "text/csv"


def cell(value: object) -> str:
    """One CSV cell: None empty, booleans true/false, times in UTC with Z, dates ISO, enums by
    their value; a text a spreadsheet would read as a formula is prefixed with '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(getattr(value, "value", value))
    # A text starting with = + - @ would be a formula to a spreadsheet.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not text.lstrip("-").isdigit():
        return "'" + text
    return text


def attachment(header: Sequence[str], rows: Iterable[Iterable[object]], filename: str) -> Response:
    """RFC 4180 CSV (CRLF line ends): the header row, then each row's values through `cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([cell(value) for value in row] for row in rows)
    return Response(
        out.getvalue(),
        mimetype=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
