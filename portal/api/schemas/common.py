"""Shared by every resource: field types, base models, cursors, list queries, problem details."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from functools import lru_cache
from typing import Annotated, Any

from babel import Locale, UnknownLocaleError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from portal.config import MAX_LINK_SECONDS
from portal.money import MAX_MINOR, is_currency
from portal.text import pydantic_text

#: Most items one list endpoint returns per page.
MAX_PAGE_SIZE = 500


# Field types shared by several models.


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    # Only the calendar-date form: Python would also take "20240115" or "2024-W03-1".
    if isinstance(value, str):
        if not _ISO_DATE.fullmatch(value):
            raise PydanticCustomError("date_format", "must be a date written YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "date_format", "must be a real calendar date written YYYY-MM-DD"
            ) from None
    return value  # Anything else fails the strict date check with "date_type".


def _firm_currency(value: str, info: ValidationInfo) -> str:
    if not is_currency(value):
        raise PydanticCustomError(
            "currency_unknown", "must be an ISO 4217 currency code, not {value}", {"value": value}
        )
    allowed = (info.context or {}).get("currencies")
    if allowed is not None and value not in allowed:
        raise PydanticCustomError(
            "currency_not_used",
            "must be a currency this firm takes ({allowed}), not {value}",
            {"value": value, "allowed": ", ".join(sorted(allowed)) or "none"},
        )
    return value


@lru_cache(maxsize=1024)
def _locale(value: str) -> str:
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        raise PydanticCustomError(
            "locale_unknown",
            "must be a known locale such as en_US or es-US, not {value!r}",
            {"value": value},
        ) from None


def _not_zero(value: int) -> int:
    if value == 0:
        raise PydanticCustomError("amount_zero", "must not be zero")
    return value


def link_lifetime(value: int, info: ValidationInfo) -> int:
    most = (info.context or {}).get("link_max_age", MAX_LINK_SECONDS)
    if value > most:
        raise PydanticCustomError("link_too_long", "must be at most {most} seconds", {"most": most})
    return value


ExternalId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[^/\x00-\x1f\x7f]+$"),
    pydantic_text(),
    Field(
        description="The back office's own id for the record, unique within the firm "
        "(1-100 characters, no '/').",
        examples=["C-1042"],
    ),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_firm_currency),
    Field(description="ISO 4217 code of a currency the firm takes.", examples=["USD"]),
]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
LocaleName = Annotated[
    str,
    StringConstraints(min_length=2, max_length=16),
    AfterValidator(_locale),
    Field(description="CLDR locale; es-US is read as es_US.", examples=["es_US"]),
]
Amount = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=MAX_MINOR,
        description="A JSON integer of minor units (12050 is 120.50 USD).",
        examples=[125000],
    ),
]
SignedAmount = Annotated[
    int,
    Field(
        strict=True,
        ge=-MAX_MINOR,
        le=MAX_MINOR,
        description="A non-zero JSON integer of minor units: deposits positive, "
        "disbursements negative.",
        examples=[250000, -40000],
    ),
    AfterValidator(_not_zero),
]
PaymentId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$"),
    Field(
        description="A portal payment's public id (`id` in /payments).",
        examples=["k3Jd9QpW2xZr7TfA"],
    ),
]
# Free text: one line unless said otherwise, never a control character (portal.text).
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    pydantic_text(),
]
Number = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), pydantic_text()
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    pydantic_text(),
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=10_000), pydantic_text(multiline=True)
]
# Why a setting is changed: kept as `reason` on each audit event the change appends.
AuditReason = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), pydantic_text()
]


def audit_reason() -> Any:
    """The optional `reason` field of a settings PATCH body."""
    return Field(
        default=None,
        description="Why this change is made (one line, at most 500 characters): kept as "
        "`reason` on each audit event it appends (GET /audit-events). Not a setting: nothing "
        "else stores it, and a body that changes nothing records nothing.",
        examples=["Ticket 4812: the back office moved to a new ledger code"],
    )


class Input(BaseModel):
    """A request body: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Output(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


NEXT_CURSOR = Field(description="Pass as `cursor` for the next page; null on the last page.")


_CURSOR_PREFIX = "after:"


def encode_cursor(last_id: int | None) -> str | None:
    """An opaque cursor for "the rows after `last_id`" (None when there are no more)."""
    if last_id is None:
        return None
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues after; ValueError if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("cursor is not a cursor this API returned") from None
    number = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > 18:
        raise ValueError("cursor is not a cursor this API returned")
    return int(number)


def _check_cursor(value: str) -> str:
    try:
        decode_cursor(value)
    except ValueError:
        raise PydanticCustomError(
            "cursor_invalid", "is not a cursor this API returned; start without one"
        ) from None
    return value


Cursor = Annotated[str, StringConstraints(max_length=200), AfterValidator(_check_cursor)]


class ListQuery(BaseModel):
    """Query parameters of every list endpoint (query strings are text, so not strict)."""

    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Items per page, 1-500; the server's API_PAGE_SIZE (100) when left out.",
    )
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the previous page.")

    @property
    def after_id(self) -> int | None:
        return None if self.cursor is None else decode_cursor(self.cursor)


class ExternalIdPath(BaseModel):
    external_id: ExternalId


# Problems (RFC 9457)


class ProblemError(Output):
    pointer: str | None = Field(
        default=None, description="JSON Pointer (RFC 6901) to the offending body field."
    )
    parameter: str | None = Field(
        default=None, description="Name of the offending path or query parameter, or header."
    )
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemError] | None = None
    scope: str | None = Field(
        default=None, description="On a 403: the scope the API key lacks for this operation."
    )
