"""What postings announces to the layers above it, which it may not import (blinker signals).

`endpoint_disabled` is sent with the `WebhookEndpoint` as sender, inside the transaction that
disables it (the worker's recording, or the API's and console's update): a receiver joins that
transaction and must not commit. portal.notifications connects to it in `create_app`, and
emails the firm's staff who asked; postings itself knows nothing of staff.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: An endpoint was disabled (sender: the endpoint; `reason`: why, as stored on it).
endpoint_disabled = _signals.signal("endpoint-disabled")
