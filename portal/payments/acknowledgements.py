"""What the back office says it has already counted: an invoice's record lists the portal
payments its balance reflects, and their allocations are marked `acknowledged_at`, so the
invoice's effective balance never counts a portal payment twice. Payments own the allocations,
so the back-office sync (portal.backoffice) asks here. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable

from portal.payments.models import Allocation


def acknowledge(
    lines: Iterable[Allocation], payment_ids: Collection[int], now: dt.datetime
) -> bool:
    """Mark `lines` acknowledged exactly when their payment is in `payment_ids`; say whether any
    changed. A line acknowledged before keeps its first `acknowledged_at`."""
    changed = False
    for line in lines:
        if line.charge.payment_id in payment_ids and line.acknowledged_at is None:
            line.acknowledged_at = now
        elif line.charge.payment_id not in payment_ids and line.acknowledged_at is not None:
            line.acknowledged_at = None
        else:
            continue
        changed = True
    return changed
