"""Headers every response carries: no framing, no sniffing, no cross-site referrer, no caching.

The Content-Security-Policy allows only this origin's own files and no inline script or
style, so client pages must keep CSS and JS in `static/`.
"""

from __future__ import annotations

from flask import Flask, Response, request

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # same-origin: no other site ever learns a portal URL, while our own form posts still
    # carry the Referer that Flask-WTF's strict HTTPS CSRF check requires. The one response
    # whose URL holds a secret (/l/<token>) sends no-referrer itself.
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if not request.path.startswith("/static/"):
        # Pages and JSON carry balances and invoices: never keep them in a shared cache.
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_headers)
