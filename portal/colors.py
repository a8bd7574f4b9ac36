"""A firm's brand colour, read and made readable: WCAG 2.2 relative luminance and contrast
ratios, the brand stylesheet of the client pages, and the ink of emails' buttons.

A colour computation, so floats are right here (they never touch money). One definition serves
the API's check of a firm's colour, the stylesheet and the emails.
"""

from __future__ import annotations

import re

from portal.errors import NotFound

RGB = tuple[int, int, int]

#: WCAG 2.2 success criterion 1.4.3: normal text contrasts 4.5:1 or more with its background.
TEXT_CONTRAST = 4.5
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)

#: The darkest background brand text sits on (--wash in static/css/portal.css).
PAGE_WASH: RGB = (0xF4, 0xF6, 0xF8)

_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
#: A brand colour as the firm stores it, and as the brand stylesheet's URL names it.
_STORED_COLOUR = re.compile(r"#([0-9a-fA-F]{6})")
_URL_COLOUR = re.compile(r"[0-9a-f]{6}")


def parse_hex(colour: str) -> RGB | None:
    """(red, green, blue) from "#rrggbb" or "rrggbb" (any case), or None if it is not one."""
    match = _HEX.fullmatch(colour)
    if match is None:
        return None
    digits = match.group(1)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2.2 relative luminance of an sRGB colour, from 0 (black) to 1 (white).

    The linearisation threshold is sRGB's 0.04045 (WCAG 2.2's definition); WCAG 2.0's 0.03928
    gives the same result for every 8-bit channel value, as none falls between the two.
    """

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    light, dark = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# -- a firm's brand colour -------------------------------------------------------------------


def brand_hex(colour: str | None) -> str | None:
    """Six lower-case hex digits from a stored "#rrggbb" colour, or None if it is not one."""
    match = _STORED_COLOUR.fullmatch(colour or "")
    return match.group(1).lower() if match else None


def _rgb(six_hex: str) -> RGB:
    return int(six_hex[0:2], 16), int(six_hex[2:4], 16), int(six_hex[4:6], 16)


def ink_on(six_hex: str) -> str:
    """Black or white, whichever contrasts more with the colour (at least 4.58:1 for any)."""
    rgb = _rgb(six_hex)
    return "#ffffff" if contrast(rgb, WHITE) >= contrast(rgb, BLACK) else "#000000"


def brand_stylesheet(colour: str) -> str:
    """The per-firm stylesheet for `colour` (six lower-case hex digits), else NotFound.

    Three variables, each readable under WCAG 2.2 AA (contrast of 4.5:1 or more for text):
    --brand, the firm's colour as given, fills the header and the main buttons; --brand-ink,
    black or white, whichever contrasts more with it, is the text on top of it; --brand-text is
    the colour for text and controls on the page's own light backgrounds: the firm's colour,
    darkened just enough when it is too pale.
    """
    if not _URL_COLOUR.fullmatch(colour):
        raise NotFound("brand colour")
    rgb = _rgb(colour)
    text = rgb
    for step in range(20, -1, -1):  # 100% of the colour, 95%, ... black at worst
        text = (rgb[0] * step // 20, rgb[1] * step // 20, rgb[2] * step // 20)
        if contrast(text, PAGE_WASH) >= TEXT_CONTRAST:
            break
    text_hex = "#" + "".join(f"{channel:02x}" for channel in text)
    return f":root{{--brand:#{colour};--brand-ink:{ink_on(colour)};--brand-text:{text_hex}}}\n"
