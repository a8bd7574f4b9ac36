"""Files the client's pages hand over: a PDF to save, kept by no cache."""

from __future__ import annotations

from flask import Response


def pdf_download(body: bytes, filename: str) -> Response:
    """A PDF for the browser to save, kept by no cache (it is the client's own data)."""
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
