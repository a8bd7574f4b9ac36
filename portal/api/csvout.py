"""The text/csv form of the API's reports (trust request reports, reconciliation): content
negotiation, one cell's text with the spreadsheet formula guard, and the attachment."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Response, request
from pydantic import BaseModel

from portal.csvfiles import CSV_TYPE, attachment, cell

__all__ = ["CSV_TYPE", "attachment", "cell", "models_attachment", "wants_csv"]


def wants_csv(format: str | None) -> bool:
    """True for `format=csv`, or with no `format`, when the Accept header prefers text/csv."""
    if format is not None:
        return format == "csv"
    return request.accept_mimetypes.best_match(["application/json", CSV_TYPE]) == CSV_TYPE


def models_attachment(rows: Sequence[BaseModel], model: type[BaseModel], filename: str) -> Response:
    """`attachment` with one column per field of `model`, one row per answer model."""
    header = list(model.model_fields)
    return attachment(header, ([getattr(row, name) for name in header] for row in rows), filename)
