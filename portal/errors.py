"""Domain errors and how they reach people: an HTML page for browsers, RFC 9457 for the API.

Services raise a `PortalError`; only the handlers here know about HTTP. Anything else that
escapes a view is a bug: it is logged with the traceback and answered with a plain 500.

One error shape from every service: a `PortalError` carries `errors`, a list of problems,
each with a stable `code` (e.g. "amount_too_large"), where it is (`pointer`: a JSON pointer
into the request such as "/allocations/0/amount", or `field`: the name of a form box such as
"invoice-12"), `params` (what a message needs, e.g. {"places": 2}) and an English `detail`.
Faces render them: the API as English problem+json whose `errors` are always
{"pointer", "detail"} (`api_errors` below); the client pages translate by `code` through the
catalogs and format `params` in the client's locale (portal.payments.checkout_forms).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
#: The last resort when even errors/500.html cannot be rendered.
_PLAIN_500 = (
    "Something went wrong on our side. Nothing was charged because of this error. "
    "Please try again in a few minutes; if it keeps happening, contact your law firm.\n"
)


@dataclass(frozen=True)
class ValidationProblem:
    """One thing wrong with one input: a stable `code`, where, its `params` and English text.

    `where` is a JSON pointer ("/amount", "" for the whole request) for API inputs, or a form
    field name ("total", "invoice-12", "basket") for the pay pages.
    """

    code: str
    where: str
    detail: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The dict form services put in `PortalError.errors` (pointers start with "/")."""
        key = "pointer" if not self.where or self.where.startswith("/") else "field"
        return {key: self.where, "detail": self.detail, "code": self.code, "params": self.params}


def api_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A service's `errors` as the API shows them: [{"pointer": ..., "detail": ...}] (or
    {"parameter": ..., "detail": ...} for a header or query parameter, as the registry says).

    A form field name (a pay page's problem) becomes the pointer "/<field>"; codes and
    parameters stay inside: the API's English `detail` already says it.
    """
    shown = []
    for error in errors:
        shown_error = {k: v for k, v in error.items() if k not in ("code", "params", "field")}
        if "field" in error and "pointer" not in error:
            shown_error = {"pointer": f"/{error['field']}" if error["field"] else "", **shown_error}
        shown.append(shown_error)
    return shown


class PortalError(Exception):
    """Something the caller can fix or must be told; `status`, `code` and `title` are stable."""

    status = 400
    code = "bad-request"
    title = "Something is wrong with this request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any] | ValidationProblem] | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors: list[dict[str, Any]] = [
            e.as_dict() if isinstance(e, ValidationProblem) else dict(e) for e in errors or ()
        ]


class NotFound(PortalError):
    """Missing, or someone else's: the two answers are the same on purpose."""

    status = 404
    code = "not-found"
    title = "Not found"


class ValidationFailed(PortalError):
    """Input that does not fit; `errors` lists each field with a JSON pointer and a message."""

    status = 422
    code = "validation-error"
    title = "The request has invalid fields"


class AllocationError(PortalError):
    """The basket cannot be paid as asked; `errors` says which line and why (a code, the
    line's field, params, an English detail: the pay pages word it by code).

    Raised by payments' planning and by the features it reserves money on (trust requests), so
    it lives below both."""

    status = 422
    code = "allocation-error"
    title = "The payment cannot be made as entered"


class Conflict(PortalError):
    status = 409
    code = "conflict"
    title = "The request conflicts with what is recorded"


class Unauthorized(PortalError):
    status = 401
    code = "unauthorized"
    title = "A valid API key is required"


class LinkGone(PortalError):
    """A genuine link that can no longer be used; `public_id` names it when it is known, so
    its page can offer to email the client a fresh one."""

    status = 410

    def __init__(self, detail: str | None = None, *, public_id: str | None = None):
        super().__init__(detail)
        self.public_id = public_id


class LinkExpired(LinkGone):
    code = "link-expired"
    title = "This payment link has expired"


class LinkRevoked(LinkGone):
    code = "link-revoked"
    title = "This payment link is no longer active"


class LinkInvalid(PortalError):
    status = 404
    code = "not-found"
    title = "Not found"


class SessionMissing(PortalError):
    """A client page was asked for without a live link session."""

    status = 401
    code = "no-session"
    title = "Open the payment link from your email to continue"


def wants_problem_json() -> bool:
    """API paths answer in problem+json; everything else is for people."""
    return request.path.startswith("/api/")


def problem(
    status: int,
    title: str,
    *,
    code: str = "about:blank",
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build an RFC 9457 problem details response."""
    body: dict[str, Any] = {
        "type": f"/problems/{code}" if code != "about:blank" else code,
        "title": title,
        "status": status,
    }
    if detail and detail != title:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body["instance"] = request.path
    response = jsonify(body)
    response.status_code = status
    response.content_type = PROBLEM_JSON
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def http_error_response(exc: HTTPException, headers: dict[str, str]) -> Any:
    """A werkzeug HTTP error for the caller: problem+json under /api/, else a page."""
    status = exc.code or 500
    if wants_problem_json():
        code = (exc.name or "error").lower().replace(" ", "-")
        return problem(status, exc.name, code=code, detail=exc.description, headers=headers)
    template = {404: "errors/404.html", 429: "errors/429.html"}.get(status, "errors/generic.html")
    body, status = _html(status, template, error=exc)
    return body, status, headers


def _html(status: int, template: str, **context: Any) -> tuple[str, int]:
    return render_template(template, status=status, **context), status


def init_app(app: Flask) -> None:
    @app.errorhandler(PortalError)
    def _portal_error(exc: PortalError) -> Any:
        if wants_problem_json():
            return problem(
                exc.status,
                exc.title,
                code=exc.code,
                detail=exc.detail,
                errors=api_errors(exc.errors),
            )
        template = {
            404: "errors/404.html",
            410: "errors/410.html",
            401: "errors/401.html",
        }.get(exc.status, "errors/generic.html")
        return _html(exc.status, template, error=exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        headers = {}
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return http_error_response(exc, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_problem_json():
            return problem(500, "Internal server error", code="internal-error")
        try:
            return _html(500, "errors/500.html")
        except Exception:  # the page itself failed (a broken catalog, say): say it plainly
            log.exception("the error page failed too")
            return _PLAIN_500, 500, {"Content-Type": "text/plain; charset=utf-8"}
