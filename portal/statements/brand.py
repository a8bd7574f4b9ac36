"""The firm's brand colour on the client pages: the stored colour as the stylesheet's URL names
it, and the stylesheet itself, readable under WCAG 2.2 AA."""

from __future__ import annotations

import re

from portal.errors import NotFound

#: A brand colour as the firm stores it, and as the brand stylesheet's URL names it.
_STORED_COLOUR = re.compile(r"#([0-9a-fA-F]{6})")
_URL_COLOUR = re.compile(r"[0-9a-f]{6}")


def brand_hex(colour: str | None) -> str | None:
    """Six lower-case hex digits from a stored "#rrggbb" colour, or None if it is not one."""
    match = _STORED_COLOUR.fullmatch(colour or "")
    return match.group(1).lower() if match else None


def brand_stylesheet(colour: str) -> str:
    """The per-firm stylesheet for `colour` (six lower-case hex digits), else NotFound.

    Three variables, each readable under WCAG 2.2 AA (contrast of 4.5:1 or more for text):
    --brand, the firm's colour as given, fills the header and the main buttons; --brand-ink,
    black or white, whichever contrasts more with it (at least 4.58:1 for any colour), is
    the text on top of it; --brand-text is the colour for text and controls on the page's own
    light backgrounds: the firm's colour, darkened just enough when it is too pale.
    """
    if not _URL_COLOUR.fullmatch(colour):
        raise NotFound("brand colour")
    rgb = tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4))
    ink = "#ffffff" if _contrast(rgb, _WHITE) >= _contrast(rgb, _BLACK) else "#000000"
    text = rgb
    for step in range(20, -1, -1):  # 100% of the colour, 95%, ... black at worst
        text = tuple(channel * step // 20 for channel in rgb)
        if _contrast(text, _PAGE_WASH) >= _TEXT_CONTRAST:
            break
    text_hex = "#" + "".join(f"{channel:02x}" for channel in text)
    return f":root{{--brand:#{colour};--brand-ink:{ink};--brand-text:{text_hex}}}\n"


#: WCAG 2.2 success criterion 1.4.3: text contrasts 4.5:1 or more with what is behind it.
_TEXT_CONTRAST = 4.5
_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)
#: The darkest background brand text sits on (--wash in static/css/portal.css).
_PAGE_WASH = (0xF4, 0xF6, 0xF8)


def _luminance(rgb: tuple[int, ...]) -> float:
    """WCAG relative luminance of an sRGB colour (a colour computation: floats are right)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white)."""
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
