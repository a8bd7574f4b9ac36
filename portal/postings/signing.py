"""Standard Webhooks signatures and secrets, through the `standardwebhooks` library only.

We never write the HMAC ourselves: the library's `sign` is the reference the back office
verifies against, so using it keeps both sides byte-for-byte in agreement.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import secrets
from collections.abc import Iterable

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
#: Random bytes in a new secret; the spec asks for 24 to 64.
SECRET_BYTES = 24


def new_secret() -> str:
    """Return a fresh endpoint secret: whsec_ and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, *, msg_id: str, sent_at: dt.datetime, body: str) -> str:
    """Return one "v1,<base64>" signature of `body` under `secret`."""
    return Webhook(secret).sign(msg_id, sent_at, body)


def headers(
    secrets_in_use: Iterable[str], *, msg_id: str, sent_at: dt.datetime, body: str
) -> dict[str, str]:
    """Build the three Standard Webhooks headers, one signature per secret, space-separated.

    During a rotation both the new and the previous secret sign, so a receiver that still
    holds either one accepts the message.
    """
    keys = list(secrets_in_use)
    if not keys:
        raise ValueError("at least one secret is needed to sign")
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be aware")
    # The library reads the instant as UTC whatever zone it carries, so hand it UTC.
    sent_at = sent_at.astimezone(dt.UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(sent_at.timestamp())),
        "webhook-signature": " ".join(
            signature(key, msg_id=msg_id, sent_at=sent_at, body=body) for key in keys
        ),
    }
