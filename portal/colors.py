"""Colour arithmetic for branding: WCAG 2.2 relative luminance and contrast ratios.

A colour computation, so floats are right here (they never touch money). One definition serves
the API's check of a firm's colour and the stylesheet that derives readable text from it.
"""

from __future__ import annotations

import re

RGB = tuple[int, int, int]

#: WCAG 2.2 success criterion 1.4.3: normal text contrasts 4.5:1 or more with its background.
TEXT_CONTRAST = 4.5
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)

_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


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
