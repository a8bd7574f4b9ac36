"""Public ids: random, URL-safe, and never starting with "-" or "_".

A leading "-" reads as an option on a command line and as a formula to a spreadsheet (so a
CSV export would have to quote it and the id would differ between CSV and JSON); ids are
drawn again until they start with a letter or digit (31 in 32 draws do).
"""

from __future__ import annotations

import secrets


def new_public_id(nbytes: int, prefix: str = "") -> str:
    while True:
        candidate = secrets.token_urlsafe(nbytes)
        if candidate[0] not in "-_":
            return prefix + candidate
