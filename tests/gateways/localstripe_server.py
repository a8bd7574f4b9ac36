"""Run localstripe for the gateway tests: on 127.0.0.1 only, state in memory only.

Started by the `localstripe` fixture as `python localstripe_server.py`. It binds a free
loopback port, prints the port on its first line of output, and serves until terminated.
localstripe itself would listen on every interface and pickle its store to /tmp after each
write; both are switched off here.
"""

from __future__ import annotations

import socket
from typing import Any

from aiohttp import web
from localstripe import resources
from localstripe.server import app

#: PaymentIntent parameters real Stripe takes and localstripe refuses ("400 Unexpected ...").
#: The wrapper accepts them so the real gateway code runs unchanged; description and
#: receipt_email are echoed back on the intent, as Stripe does. localstripe predates
#: allowed_payment_method_types and ignores payment method types anyway.
TOLERATED = ("description", "receipt_email", "use_stripe_sdk", "allowed_payment_method_types")
ECHOED = ("description", "receipt_email")


def _keep_in_memory() -> None:
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]


def _tolerate_stripe_parameters() -> None:
    create = resources.PaymentIntent._api_create.__func__  # type: ignore[attr-defined]

    def api_create(cls: type, **data: Any) -> Any:
        extra = {name: data.pop(name) for name in TOLERATED if name in data}
        intent = create(cls, **data)
        for name in ECHOED:
            setattr(intent, name, extra.get(name))
        return intent

    resources.PaymentIntent._api_create = classmethod(api_create)  # type: ignore[assignment]


def main() -> None:
    _keep_in_memory()
    _tolerate_stripe_parameters()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)  # noqa: T201 (the fixture reads the port here)
    web.run_app(app, sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    main()
