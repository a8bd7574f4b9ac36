"""The text/csv form of the API's reports (trust request reports, reconciliation): content
negotiation, one cell's text with the spreadsheet formula guard, and the attachment."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

from flask import Response, request
from pydantic import BaseModel

CSV_TYPE = "text/csv"


def wants_csv(format: str | None) -> bool:
    """True for `format=csv`, or with no `format`, when the Accept header prefers text/csv."""
    if format is not None:
        return format == "csv"
    return request.accept_mimetypes.best_match(["application/json", CSV_TYPE]) == CSV_TYPE


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


def models_attachment(rows: Sequence[BaseModel], model: type[BaseModel], filename: str) -> Response:
    """`attachment` with one column per field of `model`, one row per answer model."""
    header = list(model.model_fields)
    return attachment(header, ([getattr(row, name) for name in header] for row in rows), filename)
