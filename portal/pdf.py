"""PDF documents (receipts, statements) through fpdf2: headings, label/value rows and tables.

fpdf2 is pure Python (with fontTools and Pillow, which the portal has already) and draws text
as text, so a PDF reader can search it and tests can read it back. The DejaVu Sans font is
embedded from static/fonts (subset to the characters used), so names in any Latin, Greek or
Cyrillic script print as typed, with no network and no system font at run time. Callers hand
in text already translated and formatted (amounts, dates); nothing here formats numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, XPos, YPos

from portal.colors import RGB, brand_hex, ink_on, parse_hex

#: fontTools logs each font subset at INFO ("cmap pruned"...): noise in the portal's log.
logging.getLogger("fontTools").setLevel(logging.WARNING)

_FONTS = Path(__file__).resolve().parent.parent / "static" / "fonts"
_FAMILY = "DejaVu"
#: The portal's own colour, for a firm that has not set one (as the pages use).
_DEFAULT_ACCENT = "#1f3a5f"
_MUTED = (85, 85, 85)


class Document:
    """One PDF being written, top to bottom, on US Letter paper."""

    def __init__(
        self, *, title: str, firm_name: str, heading: str, accent: str | None = None
    ) -> None:
        """Start the document: `title` in its properties, then the firm's banner in its colour
        (`accent`, "#rrggbb") and the `heading` at the top of the first page."""
        pdf = FPDF(format="Letter", unit="mm")
        pdf.set_title(title)
        pdf.set_author(firm_name)
        pdf.set_creator("MatterPay")
        pdf.add_font(_FAMILY, "", _FONTS / "DejaVuSans.ttf")
        pdf.add_font(_FAMILY, "B", _FONTS / "DejaVuSans-Bold.ttf")
        pdf.set_margins(18, 18, 18)
        pdf.set_auto_page_break(auto=True, margin=18)
        pdf.add_page()
        self._pdf = pdf
        six = brand_hex(accent) or brand_hex(_DEFAULT_ACCENT) or "1f3a5f"
        self._accent: RGB = parse_hex(six) or (31, 58, 95)
        self._ink: RGB = parse_hex(ink_on(six)) or (255, 255, 255)
        self._banner(firm_name)
        self.heading(heading)

    def _banner(self, firm_name: str) -> None:
        """The firm's name on its colour (in the ink that reads on it), across the page."""
        pdf = self._pdf
        pdf.set_fill_color(*self._accent)
        pdf.set_text_color(*self._ink)
        pdf.set_font(_FAMILY, "B", 14)
        pdf.cell(0, 12, f"  {firm_name}", fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.set_fill_color(255, 255, 255)  # fpdf2 keeps the fill for every cell after
        pdf.ln(5)

    def heading(self, text: str, *, size: int = 16) -> None:
        self._pdf.set_font(_FAMILY, "B", size)
        self._pdf.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._pdf.ln(2)

    def paragraph(self, text: str, *, muted: bool = False) -> None:
        pdf = self._pdf
        pdf.set_font(_FAMILY, "", 10)
        if muted:
            pdf.set_text_color(*_MUTED)
        pdf.multi_cell(0, 5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.ln(1)

    def pairs(self, rows: Sequence[tuple[str, str]]) -> None:
        """Label and value, one pair a line ("Payment number   P-7K3Q-9M2X")."""
        pdf = self._pdf
        for label, value in rows:
            pdf.set_font(_FAMILY, "B", 10)
            pdf.cell(52, 6, label)
            pdf.set_font(_FAMILY, "", 10)
            pdf.multi_cell(0, 6, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)

    def table(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        widths: Sequence[int],
        numeric: Sequence[int] = (),
        total: Sequence[str] | None = None,
    ) -> None:
        """A table with a heading row; columns listed in `numeric` align right; `total` is a
        last row in bold."""
        pdf = self._pdf
        pdf.set_font(_FAMILY, "", 9)
        align = ["RIGHT" if n in numeric else "LEFT" for n in range(len(headings))]
        with pdf.table(
            col_widths=tuple(widths),
            text_align=tuple(align),
            borders_layout=TableBordersLayout.HORIZONTAL_LINES,
            headings_style=FontFace(emphasis="BOLD", fill_color=(238, 238, 238)),
            line_height=5.5,
            padding=1.2,
        ) as table:
            for cells in (headings, *rows):
                row = table.row()
                for text in cells:
                    row.cell(text)
            if total is not None:
                row = table.row()
                for text in total:
                    row.cell(text, style=FontFace(emphasis="BOLD"))
        pdf.ln(4)

    def output(self) -> bytes:
        return bytes(self._pdf.output())
