"""Headers every response carries: a strict Content-Security-Policy, no framing, no sniffing,
no cross-site referrer, no powerful browser features, no caching; HSTS in production.

The Content-Security-Policy runs scripts only by nonce: a template writes
`<script nonce="{{ csp_nonce() }}" src="...">`, and that response's policy names the nonce
(a page that asks for none runs no script at all). There is no 'unsafe-inline' and no
'unsafe-eval'; styles come only from this origin's own files (static/, /brand/<colour>.css).
A payment page charged through Stripe calls `allow_stripe()`, which adds Stripe's origins
(Stripe.js, its frames, its API) to that one response's policy, and nowhere else.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, request
from flask_wtf.csrf import CSRFProtect

#: Flask-WTF's CSRF protection for every form post; the API and processor hooks are exempt
#: (create_app), and a view that checks its own token says so with `@csrf.exempt`.
csrf = CSRFProtect()

#: The policy of every response, directive by directive (R44, R52).
BASE_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": (),  # nonces only, added per response
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "frame-src": ("'none'",),
    "object-src": ("'none'",),
    "base-uri": ("'none'",),
    "form-action": ("'self'",),
    # No page is ever shown inside another site's frame (clickjacking on the pay button).
    "frame-ancestors": ("'none'",),
}

#: What Stripe.js needs on a page with Stripe's Payment Element (Stripe's integration
#: security guide): its script and the scripts it loads, its frames, and its API.
STRIPE_JS_ORIGIN = "https://js.stripe.com"
STRIPE_SOURCES: dict[str, tuple[str, ...]] = {
    "script-src": (STRIPE_JS_ORIGIN, "https://*.js.stripe.com"),
    "frame-src": (STRIPE_JS_ORIGIN, "https://*.js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
}

#: Browser features no portal page uses, turned off for the page and any frame in it.
#: (Only names Chromium knows: an unknown one is reported as an error in the console.)
DENIED_FEATURES = (
    "accelerometer",
    "autoplay",
    "camera",
    "display-capture",
    "encrypted-media",
    "fullscreen",
    "geolocation",
    "gyroscope",
    "hid",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "publickey-credentials-get",
    "screen-wake-lock",
    "serial",
    "usb",
    "xr-spatial-tracking",
)

#: HSTS in production: one year (ASVS 5.0 3.4.1), subdomains included. Not preloaded:
#: joining the browsers' preload list is the operator's decision for their whole domain.
HSTS = "max-age=31536000; includeSubDomains"

NONE = "'none'"
# Kept in the request's environ rather than `g`: the app context (and so `g`) may outlive
# one request, as it does in tests, and a nonce must never be used twice.
_NONCE = "portal.csp_nonce"
_STRIPE = "portal.csp_stripe"


def csp_nonce() -> str:
    """This response's script nonce (made on first use): `<script nonce="{{ csp_nonce() }}">`."""
    nonce: str | None = request.environ.get(_NONCE)
    if nonce is None:
        nonce = secrets.token_urlsafe(18)  # 144 random bits
        request.environ[_NONCE] = nonce
    return nonce


def allow_stripe() -> None:
    """Let this response's page load Stripe.js and talk to Stripe (a Stripe payment page)."""
    request.environ[_STRIPE] = True


def content_security_policy(nonce: str | None = None, *, stripe: bool = False) -> str:
    """The policy text for a response that uses `nonce` (if any) and Stripe (if `stripe`)."""
    policy = {name: list(sources) for name, sources in BASE_POLICY.items()}
    if nonce is not None:
        policy["script-src"].append(f"'nonce-{nonce}'")
    if stripe:
        for name, sources in STRIPE_SOURCES.items():
            policy[name] = [s for s in policy[name] if s != "'none'"] + list(sources)
    return "; ".join(
        f"{name} {' '.join(sources) if sources else NONE}" for name, sources in policy.items()
    )


def permissions_policy(*, stripe: bool = False) -> str:
    # Stripe's frame may offer the browser's payment sheet (Payment Request API).
    allowed = {"payment": f'(self "{STRIPE_JS_ORIGIN}")'} if stripe else {}
    return ", ".join(f"{name}={allowed.get(name, '()')}" for name in DENIED_FEATURES)


def _headers(response: Response) -> Response:
    headers = response.headers
    stripe = bool(request.environ.get(_STRIPE))
    headers.setdefault(
        "Content-Security-Policy",
        content_security_policy(request.environ.get(_NONCE), stripe=stripe),
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors, for older browsers
    # same-origin: no other site ever learns a portal URL, while our own form posts still
    # carry the Referer that Flask-WTF's strict HTTPS CSRF check requires. The one response
    # whose URL holds a secret (/l/<token>) sends no-referrer, whatever the answer: the
    # redirect, a dead link's 410 and the limit's 429 alike (their pages load a stylesheet
    # and an icon, whose requests would otherwise carry the token in their Referer).
    if request.path.startswith("/l/"):
        headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", permissions_policy(stripe=stripe))
    if current_app.config["ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", HSTS)
    if not request.path.startswith("/static/"):
        # Pages and JSON carry balances and invoices: never keep them in a shared cache.
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_headers)
