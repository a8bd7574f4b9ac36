"""The client's pages: their matters, and per matter the invoices and the trust balance."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from flask.typing import ResponseReturnValue

from portal import colors, statements
from portal.client.downloads import pdf_download
from portal.client.session import link_required
from portal.statements import statement_pdf as statement_pdfs
from portal.templating import render_page

#: Named "billing" as before the move: templates and tests use `billing.*` endpoints.
bp = Blueprint("billing", __name__)

#: The brand stylesheet's URL names its colour, so browsers may keep it for good.
_FOREVER = "public, max-age=31536000, immutable"


@bp.get("/matters")
@link_required
def matters() -> ResponseReturnValue:
    """List the matters the link may see, with what is owed and held in trust on each."""
    return render_template("billing/matters.html", matters=statements.matter_summaries(g.link))


@bp.get("/matters/<int:matter_id>")
@link_required
def matter(matter_id: int) -> ResponseReturnValue:
    """Show one matter: open and recently paid invoices, trust balance and trust history."""
    statement = statements.statement_for(g.link, matter_id)
    # The page shows the statement and nothing else of this request but what render_page
    # keys on: an unchanged statement is not rendered again.
    return render_page("billing/matter.html", statement, statement=statement)


@bp.get("/matters/<int:matter_id>/statement.pdf")
@link_required
def statement_pdf(matter_id: int) -> ResponseReturnValue:
    """The matter's statement as a PDF: open invoices, recent payments, the trust ledger."""
    number, body = statement_pdfs.statement_pdf(g.link, g.firm, matter_id)
    return pdf_download(body, statement_pdfs.statement_filename(number))


@bp.get("/matters/<int:matter_id>/trust")
@link_required
def trust_history(matter_id: int) -> ResponseReturnValue:
    """The matter's whole trust ledger, newest first, a page at a time."""
    page = request.args.get("page", default=1, type=int) or 1
    history = statements.trust_history(g.link, matter_id, page)
    return render_template("billing/trust_history.html", history=history)


@bp.get("/brand/<colour>.css")
def brand(colour: str) -> ResponseReturnValue:
    """Serve a firm's colour as CSS variables; the CSP forbids inline style attributes."""
    css = colors.brand_stylesheet(colour)
    return css, 200, {"Content-Type": "text/css; charset=utf-8", "Cache-Control": _FOREVER}
