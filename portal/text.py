"""Free text from outside: one rule for every name, title, memo and message the portal takes.

`text_problem(value, multiline=...)` says what is wrong with a piece of text, or None:
NUL and the other C0/C1 control characters (a multi-line field keeps line feeds and tabs; its
CR LF is read as LF), DEL, the line separators U+2028/U+2029 (U+0085 is a C1 control) in a
single-line field, and lone surrogates (which no database or mail server can store). Every
face uses it: `clean_text` raises the portal's ValidationFailed naming the field (the API's
problem+json points at it), `pydantic_text` wraps it for the API's models and `FormText` for
WTForms pages. `one_line` is the other way round, for text that must go out on one line
whatever it holds (an email subject): it turns what `text_problem` refuses into spaces.

`init_app` adds the central guard for what never reaches a field validator: a NUL in the
request's path is a 404 page (no record has one in its id; the API answers 422 naming the path
parameter, as for any other value it cannot take), in a query parameter a 400 page or a 422
problem naming the parameter.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, request
from flask_babel import lazy_gettext
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from wtforms import Field
from wtforms.validators import ValidationError

from portal.errors import NotFound, PortalError, ValidationFailed, wants_problem_json

#: C0 controls, DEL and C1 controls (U+0085 NEL among them).
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_SINGLE_LINE_BAD = re.compile(f"[{_CONTROLS}\t\n\u2028\u2029\ud800-\udfff]")
_MULTI_LINE_BAD = re.compile(f"[{_CONTROLS}\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

#: The English sentence (after the field's name) and its code, for the API and logs.
CONTROL_DETAIL = "must not contain control characters, NUL or line separators"
LINE_BREAK_DETAIL = "must be on one line (no line breaks, tabs or control characters)"
SURROGATE_DETAIL = "must be valid Unicode text (it holds a lone surrogate)"
CODE = "text_invalid"


def _normal(value: str, multiline: bool) -> str:
    return value.replace("\r\n", "\n") if multiline else value


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """The English predicate saying what is wrong with `value` ("must not contain..."), or
    None when it is acceptable free text."""
    value = _normal(value, multiline)
    bad = (_MULTI_LINE_BAD if multiline else _SINGLE_LINE_BAD).search(value)
    if bad is None:
        return None
    char = bad.group()
    if _SURROGATE.fullmatch(char):
        return SURROGATE_DETAIL
    if not multiline and char in "\t\n\r\x85\u2028\u2029":
        return LINE_BREAK_DETAIL
    return CONTROL_DETAIL


def unstorable(value: str) -> bool:
    """Whether `value` holds what no database column can store (NUL, a lone surrogate)."""
    return _UNSTORABLE.search(value) is not None


def clean_text(
    value: str,
    *,
    field: str,
    max_length: int | None = None,
    multiline: bool = False,
    required: bool = False,
) -> str:
    """`value` stripped (CR LF read as LF in a multi-line field), or ValidationFailed naming
    `field` (a JSON pointer such as "/name" for the API, or a form field's name)."""
    name = field.rsplit("/", 1)[-1] or "text"
    detail = text_problem(value, multiline=multiline)
    if detail is None:
        value = _normal(value, multiline).strip()
        if required and not value:
            detail = "must not be empty"
        elif max_length is not None and len(value) > max_length:
            detail = f"must be at most {max_length} characters"
    if detail is not None:
        key = "pointer" if field.startswith("/") else "field"
        raise ValidationFailed(
            f"{name} {detail}",
            errors=[{key: field, "detail": f"{name} {detail}", "code": CODE}],
        )
    return value


def _pydantic_check(multiline: bool) -> Any:
    def check(value: str) -> str:
        detail = text_problem(value, multiline=multiline)
        if detail is not None:
            raise PydanticCustomError(CODE, detail)
        return _normal(value, multiline)

    return check


def pydantic_text(*, multiline: bool = False) -> AfterValidator:
    """The validator for an API model's free-text field, for the field's Annotated. It runs
    after the field's own constraints: what their strip took off the ends is gone, anything
    left inside is judged."""
    return AfterValidator(_pydantic_check(multiline))


def one_line(value: str) -> str:
    """`value` on one line: every control character, line break or separator and lone
    surrogate becomes a space, and runs of spaces one (for email headers)."""
    return " ".join(_SINGLE_LINE_BAD.sub(" ", value.replace("\r\n", " ")).split())


def first_line(value: str) -> str:
    """What `value` holds before its first line break, separator or control character."""
    return _SINGLE_LINE_BAD.split(value.replace("\t", " "), maxsplit=1)[0].strip()


class FormText:
    """WTForms validator: the same rule for a page's text box, its message next to the box."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, _form: object, field: Field) -> None:
        data = field.data
        if isinstance(data, str) and text_problem(data, multiline=self.multiline) is not None:
            raise ValidationError(str(form_message(self.multiline)))


def form_message(multiline: bool = False) -> Any:
    """What a page says next to a box holding text `text_problem` refuses, in the reader's
    language."""
    if multiline:
        return lazy_gettext("Remove the control characters from this text.")
    return lazy_gettext("Use plain text on one line, without control characters.")


class BadParameter(PortalError):
    """A query parameter holding a NUL: answered before any view reads it."""

    status = 400
    code = "bad-request"
    title = "The request has an invalid parameter"


def _refuse_unstorable_url() -> None:
    if "\x00" in request.path:
        if wants_problem_json():
            # The API names the path parameter, as it does for any other it cannot take.
            names = [k for k, v in (request.view_args or {}).items() if "\x00" in str(v)]
            if names:
                detail = f"{names[0]} must not contain NUL characters"
                problem = [{"parameter": names[0], "detail": detail}]
                raise ValidationFailed("Some parameters are invalid.", errors=problem)
        raise NotFound("no such page")
    for name, value in request.args.items(multi=True):
        if unstorable(name) or unstorable(value):
            detail = f"{name.replace(chr(0), '')!r} must not contain NUL characters"
            problem = [{"parameter": name.replace("\x00", "\\0"), "detail": detail}]
            if wants_problem_json():
                raise ValidationFailed("Some parameters are invalid.", errors=problem)
            raise BadParameter(detail)


def init_app(app: Flask) -> None:
    """Refuse a NUL in the path (404; 422 under /api/) or a query parameter (400; 422)."""
    app.before_request(_refuse_unstorable_url)
