"""Payment numbers: the short reference a person reads, says on the phone and types.

A number reads "P-7K3Q-9M2X": eight characters drawn at random from an alphabet without the
characters people confuse (no 0/O, 1/I/L, nor U), in two groups of four. 30**8 (about 6.6e11)
numbers per firm: a firm taking a million payments meets a collision about once in a million
draws, which the unique constraint on (firm_id, number) catches and the writer draws again
(`checkout.submit_plan`). Random, not sequential, so a number tells nothing of how many
payments a firm takes, and one payment's number does not lead to the next one's.
"""

from __future__ import annotations

import re
import secrets

#: Digits and capitals a reader cannot mistake for one another (Crockford's base 32 without
#: 0 and 1, whose look-alikes O, I and L it already leaves out).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "P-"
#: The longest form a number takes ("P-XXXX-XXXX").
LENGTH = 11
_SHAPE = re.compile(rf"^P-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")


def new_payment_number() -> str:
    """Draw a payment number (unique within the firm only once the row is written)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{PREFIX}{body[:4]}-{body[4:]}"


def read_payment_number(text: str) -> str | None:
    """The number a person typed ("p 7k3q 9m2x", "P7K3Q9M2X"), as stored; None if not one."""
    compact = re.sub(r"[\s-]", "", text.upper())
    if compact.startswith("P"):
        compact = compact[1:]
    candidate = f"{PREFIX}{compact[:4]}-{compact[4:]}"
    return candidate if _SHAPE.match(candidate) else None
