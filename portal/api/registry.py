"""A small route registry: each API route is declared once, with its pydantic models, and that
one declaration both validates the request and describes the route in the OpenAPI document.

Why not flask-openapi3 or apispec? flask-openapi3 validates with pydantic too, but it asks for
its own `OpenAPI` class (a Flask subclass) and `APIBlueprint` in place of ours, and its
validation errors would have to be rewritten through a callback into our problem+json shape
with JSON pointers. apispec only writes documents: the schemas it documents are declared apart
from whatever validates the request (marshmallow, in its usual setup), which is how the two
drift apart. This registry is a couple of hundred lines, adds no dependency, keeps the plain
`Flask` app and `Blueprint`, runs our strict models with our error format, and has one source
of truth: the model that validates a request is the model the document shows.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError

from portal.errors import PortalError, ValidationFailed
from portal.firms.scopes import SCOPES
from portal.text import unstorable

#: Fields holding money, whose type errors get the minor-units explanation.
AMOUNT_FIELDS = frozenset({"total", "balance_due", "amount", "trust_minimum"})
#: Error types raised by the validators in `schemas`, whose messages read after a field name.
CUSTOM_ERRORS = frozenset(
    {
        "allocation_twice",
        "apply_target",
        "amount_order",
        "amount_zero",
        "balance_over_total",
        "code_twice",
        "currency_not_used",
        "currency_unknown",
        "cursor_invalid",
        "date_format",
        "date_order",
        "due_before_issue",
        "line_kind",
        "link_too_long",
        "locale_unknown",
        "not_null",
        "setting_invalid",
        "text_invalid",
        "too_many_records",
    }
)


class MalformedBody(PortalError):
    """The body is not JSON, or not a JSON object."""

    status = 400
    code = "malformed-body"
    title = "The request body could not be read as a JSON object"


class UnsupportedMediaType(PortalError):
    """A body sent as anything but JSON."""

    status = 415
    code = "unsupported-media-type"
    title = "The request body must be sent as application/json"


class TooManyRecords(PortalError):
    """A bulk request carries more records than the server takes at once."""

    status = 413
    code = "too-many-records"
    title = "The request carries too many records"


@dataclass(frozen=True)
class Operation:
    """One route as declared: enough to validate its requests and to document it."""

    method: str
    rule: str
    endpoint: str
    summary: str
    description: str
    tag: str
    responses: Mapping[int, type[BaseModel] | None]
    path: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    #: Request headers, validated by their aliases ("Idempotency-Key").
    headers: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    #: False when an empty body means `{}` (every body field has a default).
    body_required: bool = True
    errors: tuple[int, ...] = ()
    public: bool = False
    #: The scope an API key needs for this route (`portal.firms.scopes.SCOPES`); None only
    #: for public routes.
    scope: str | None = None
    #: Other media types a status may answer with besides JSON, for the document: status ->
    #: media type -> OpenAPI media type object (e.g. {"text/csv": {"schema": ...}}). The view
    #: returns those as a ready Response.
    alternatives: Mapping[int, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    #: Media types of a body sent as raw bytes (a file), read by the view itself.
    raw_body: tuple[str, ...] = ()

    @property
    def error_statuses(self) -> list[int]:
        """Every problem status this route can answer with, for the document."""
        # Every API route is under the per-key limit (RATELIMIT_API), public ones included.
        statuses = set(self.errors) | {429}
        if not self.public:
            statuses.add(401)
        if self.scope is not None:
            statuses.add(403)
        if self.body is not None:
            statuses |= {400, 415, 422}
        if self.path is not None or self.query is not None or self.headers is not None:
            statuses.add(422)
        return sorted(statuses)


#: A view returns a model (status 200), a (model, status) pair, or a ready Response.
Reply = BaseModel | tuple[BaseModel, int] | Response
#: Called with the raw body and the problems found when the body model refused it; returns
#: the problems to report (the sync adds those of its valid records' references).
Problems = list[dict[str, Any]]
OnInvalid = Callable[[Mapping[str, Any], Problems, Mapping[str, Any]], Problems]


@dataclass
class Registry:
    """Declares routes on `blueprint` and remembers them for the OpenAPI document."""

    blueprint: Blueprint
    #: Builds the validation context for a request body (the firm's currencies and limits).
    context: Callable[[], Mapping[str, Any]] = dict
    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: str,
        rule: str,
        *,
        summary: str,
        tag: str,
        responses: Mapping[int, type[BaseModel] | None],
        path: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        headers: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        body_required: bool = True,
        errors: Sequence[int] = (),
        public: bool = False,
        scope: str | None = None,
        on_invalid: OnInvalid | None = None,
        alternatives: Mapping[int, Mapping[str, Mapping[str, Any]]] | None = None,
        raw_body: Sequence[str] = (),
    ) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
        """Register the decorated function as `method rule`, validating what it declares.

        The function receives the path parameters as keyword arguments (validated by `path`),
        and `query=`, `headers=` and `body=` as validated models when those are declared.
        Parameters are checked before the body, so a missing header is reported even when the
        body is also wrong. Every route but a public one names the `scope` a key needs
        (`portal.api.auth` refuses a key without it).
        """
        if public == (scope is not None):
            raise ValueError(f"{method} {rule}: a route is public or declares a scope, not both")
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"{method} {rule}: unknown scope {scope!r}")

        def decorator(fn: Callable[..., Reply]) -> Callable[..., Reply]:
            operation = Operation(
                method=method.upper(),
                rule=rule,
                endpoint=fn.__name__,
                summary=summary,
                description=_description(fn),
                tag=tag,
                responses=dict(responses),
                path=path,
                query=query,
                headers=headers,
                body=body,
                body_required=body_required,
                errors=tuple(errors),
                public=public,
                scope=scope,
                alternatives=dict(alternatives or {}),
                raw_body=tuple(raw_body),
            )

            @functools.wraps(fn)
            def view(**values: str) -> Response:
                kwargs: dict[str, Any] = {}
                if path is not None:
                    kwargs.update(_parameters(path, values).model_dump())
                if query is not None:
                    kwargs["query"] = _parameters(query, request.args.to_dict())
                if headers is not None:
                    kwargs["headers"] = _parameters(headers, _header_values(headers))
                if body is not None:
                    kwargs["body"] = self._body(body, on_invalid, required=body_required)
                return _respond(operation, fn(**kwargs))

            view.is_public = public  # type: ignore[attr-defined]  # read by the auth hook
            view.scope = scope  # type: ignore[attr-defined]  # read by the auth hook
            self.blueprint.add_url_rule(rule, fn.__name__, view, methods=[operation.method])
            self.operations.append(operation)
            return fn

        return decorator

    def _body(
        self, model: type[BaseModel], on_invalid: OnInvalid | None, *, required: bool = True
    ) -> BaseModel:
        data = read_json_object(allow_empty=not required)
        context = self.context()
        try:
            return model.model_validate(data, context=context)
        except ValidationError as exc:
            for error in exc.errors():
                if error["type"] == "too_many_records":
                    raise TooManyRecords(_message(error)) from None
            problems = problems_from(exc)
            if on_invalid is not None:
                problems = on_invalid(data, problems, context)
            raise ValidationFailed(
                "Some fields are invalid; nothing was saved.", errors=problems
            ) from None


def is_json(mimetype: str) -> bool:
    """Whether a request's media type (parameters left out) is JSON: application/json or
    application/<something>+json."""
    kind, _, subtype = mimetype.lower().partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def read_json_object(*, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or MalformedBody (400); {} for no body if allowed.

    A body must say it is JSON (415 otherwise), and no string in it, key or value, may hold a
    NUL or a lone surrogate (422 naming where): no column could store it.
    """
    raw = request.get_data(cache=False)
    if not raw.strip():
        if allow_empty:
            return {}
        raise MalformedBody("The body is not valid JSON.")
    if not is_json(request.mimetype):
        shown = request.mimetype or "no Content-Type"
        raise UnsupportedMediaType(
            f"Send the body as Content-Type: application/json (this request sent {shown})."
        )
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise MalformedBody("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise MalformedBody("The body must be a JSON object.")
    problems = _unstorable_strings(data)
    if problems:
        raise ValidationFailed("Some fields are invalid; nothing was saved.", errors=problems)
    return data


def _unstorable_strings(data: dict[str, Any]) -> list[dict[str, str]]:
    """Problems for every string in `data` holding a NUL or a lone surrogate (walked without
    recursion: json.loads takes nesting deeper than a recursive walk could)."""
    problems = []
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, str):
            if unstorable(value):
                detail = f"{_field(loc)} must not contain NUL characters or lone surrogates"
                problems.append({"pointer": pointer(loc), "detail": detail})
        elif isinstance(value, dict):
            for key, item in value.items():
                if unstorable(key):
                    shown = repr(key)[1:-1]  # the NUL or surrogate written as an escape
                    detail = "A field name holds a NUL or a lone surrogate"
                    problems.append({"pointer": pointer((*loc, shown)), "detail": detail})
                else:
                    stack.append((item, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((item, (*loc, n)) for n, item in enumerate(value))
    problems.sort(key=lambda problem: problem["pointer"])
    return problems


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parameters(model: type[BaseModel], values: Mapping[str, str]) -> BaseModel:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = [
            {"parameter": str(error["loc"][0]) if error["loc"] else "", "detail": _message(error)}
            for error in exc.errors()
        ]
        raise ValidationFailed("Some parameters are invalid.", errors=problems) from None


def _header_values(model: type[BaseModel]) -> dict[str, str]:
    """The request's values of the headers `model` declares, keyed by their aliases."""
    values = {}
    for name, info in model.model_fields.items():
        header = info.alias or name
        if header in request.headers:
            values[header] = request.headers[header]
    return values


def _respond(operation: Operation, reply: Reply) -> Response:
    if isinstance(reply, Response):
        if reply.status_code == 204:
            # Flask labels every response text/html; a 204 has no body to label.
            reply.headers.pop("Content-Type", None)
        return reply
    model, status = reply if isinstance(reply, tuple) else (reply, 200)
    declared = operation.responses.get(status)
    if declared is None or not isinstance(model, declared):
        # The document would be lying about this route: a bug, so a 500 in tests.
        raise TypeError(f"{operation.endpoint} answered {status} {type(model).__name__}")
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


def _description(fn: Callable[..., Any]) -> str:
    lines = (fn.__doc__ or "").strip().splitlines()
    return " ".join(line.strip() for line in lines)


# Pydantic's errors, rewritten as JSON pointers and sentences that name the field.


def pointer(loc: Sequence[int | str]) -> str:
    """RFC 6901 JSON Pointer for a pydantic error location ("" is the whole body)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in loc)


def problems_from(exc: ValidationError) -> list[dict[str, Any]]:
    """Turn a pydantic ValidationError on a body into our `errors` list."""
    return [
        {"pointer": pointer(error["loc"]), "detail": _message(error)}
        for error in exc.errors(include_url=False)
    ]


def _field(loc: Sequence[int | str]) -> str:
    names = [str(part) for part in loc if isinstance(part, str)]
    if not loc:
        return "The body"
    if isinstance(loc[-1], int) and names:
        return f"{names[-1]}[{loc[-1]}]"
    return names[-1] if names else "The body"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float):
        return f"the decimal number {value!r}"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _message(error: Mapping[str, Any]) -> str:
    """A sentence naming the field and saying what would be accepted."""
    name = _field(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    given = error.get("input")
    messages: dict[str, Callable[[], str]] = {
        "missing": lambda: f"{name} is required",
        "extra_forbidden": lambda: f"{name} is not a field this endpoint accepts",
        "int_type": lambda: (
            f"{name} must be a JSON integer of minor units (e.g. 12050 for 120.50), "
            f"not {_kind_of(given)}"
            if name in AMOUNT_FIELDS
            else f"{name} must be an integer, not {_kind_of(given)}"
        ),
        "int_parsing": lambda: f"{name} must be an integer",
        "bool_type": lambda: f"{name} must be true or false, not {_kind_of(given)}",
        "string_type": lambda: f"{name} must be a string, not {_kind_of(given)}",
        "string_too_short": lambda: f"{name} must not be empty",
        "string_too_long": lambda: f"{name} must be at most {ctx.get('max_length')} characters",
        "string_pattern_mismatch": lambda: _pattern_message(name),
        "greater_than_equal": lambda: (
            f"{name} must not be negative"
            if ctx.get("ge") == 0
            else f"{name} must be at least {ctx.get('ge')}"
        ),
        "less_than_equal": lambda: f"{name} must be at most {ctx.get('le')}",
        "literal_error": lambda: f"{name} must be one of {ctx.get('expected')}",
        "enum": lambda: f"{name} must be one of {ctx.get('expected')}",
        "date_type": lambda: f"{name} must be a date written YYYY-MM-DD, not {_kind_of(given)}",
        "list_type": lambda: f"{name} must be a list, not {_kind_of(given)}",
        "too_long": lambda: f"{name} may hold at most {ctx.get('max_length')} items",
        "model_type": lambda: f"{name} must be an object, not {_kind_of(given)}",
        "model_attributes_type": lambda: f"{name} must be an object, not {_kind_of(given)}",
        "value_error": lambda: (
            f"{name} is not a valid email address: {ctx.get('reason')}"
            if name == "email"
            else f"{name} is not valid: {ctx.get('reason') or error['msg']}"
        ),
    }
    if kind in messages:
        return messages[kind]()
    if kind in CUSTOM_ERRORS:
        # Our own PydanticCustomErrors are worded as a predicate ("must not be zero").
        return f"{name} {error['msg']}"
    return f"{name}: {error['msg']}"


def _pattern_message(name: str) -> str:
    if name == "currency":
        return "currency must be a three-letter ISO 4217 code in capitals, such as USD"
    if re.search(r"external_id|client|matter|invoice", name):
        return f"{name} must not contain '/' or control characters"
    return f"{name} has an unexpected format"
