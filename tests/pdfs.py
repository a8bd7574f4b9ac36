"""Reading a PDF's text back (pypdf), as the receipt and statement tests do."""

from __future__ import annotations

import io

from pypdf import PdfReader


def pdf_text(body: bytes) -> str:
    """The PDF's text as a reader extracts it, whitespace folded."""
    reader = PdfReader(io.BytesIO(body))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
