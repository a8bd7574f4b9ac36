"""The firm's API keys as people manage them: list, create with scopes, revoke.

`create_key` and `revoke_key` are use cases (each commits) over `services.issue_api_key` and
`services.revoke_api_key`, which audit with the given actor; the console calls them. A key id
from another firm is NotFound, as if it did not exist.

The console's form carries a one-time token (`once`), kept on the key it creates under a
unique constraint: the same form sent again (reloading the answer page, a double click, two
requests racing) finds that key and makes no other, and its secret is not shown again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.audit.services import Actor
from portal.db import db
from portal.errors import NotFound, ValidationFailed, ValidationProblem
from portal.firms import services
from portal.firms.models import APIKey
from portal.firms.scopes import SCOPES
from portal.text import text_problem

#: Longest label (the column's size).
LABEL_MAX = 100


def keys_of(firm_id: int) -> list[APIKey]:
    """The firm's API keys, newest first (revoked ones too)."""
    return list(
        db.session.scalars(
            select(APIKey).where(APIKey.firm_id == firm_id).order_by(APIKey.id.desc())
        )
    )


def key_in_firm(firm_id: int, key_id: int) -> APIKey:
    key = db.session.get(APIKey, key_id)
    if key is None or key.firm_id != firm_id:
        raise NotFound(f"no API key {key_id}")
    return key


@dataclass(frozen=True)
class Created:
    """The key a creation made, with its secret; or, when the same one-time token had already
    made it, that key and no secret (it was shown once, on the first answer)."""

    api_key: APIKey
    secret: str | None

    @property
    def is_replay(self) -> bool:
        return self.secret is None


def _made_by(firm_id: int, once: str) -> APIKey | None:
    return db.session.scalar(
        select(APIKey).where(APIKey.firm_id == firm_id, APIKey.creation_token == once)
    )


def create_key(
    firm_id: int, *, label: str, scopes: Iterable[str], actor: Actor, once: str | None = None
) -> Created:
    """Issue a key limited to `scopes` (at least one) and commit; its secret is shown once.

    With `once` (a form's one-time token), a second call with the same token answers the key
    the first one made, without its secret, and issues nothing."""
    chosen = sorted(set(scopes))
    problems = []
    text = (label or "").strip()
    if not text:
        problems.append(ValidationProblem("label_empty", "/label", "label must not be empty"))
    elif len(text) > LABEL_MAX:
        problems.append(
            ValidationProblem(
                "label_too_long", "/label", f"label must be at most {LABEL_MAX} characters"
            )
        )
    elif (found := text_problem(text)) is not None:
        problems.append(ValidationProblem("text_invalid", "/label", f"label {found}"))
    if not chosen:
        problems.append(ValidationProblem("scopes_empty", "/scopes", "choose at least one scope"))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown:
        problems.append(
            ValidationProblem("scope_unknown", "/scopes", f"unknown scope {', '.join(unknown)}")
        )
    if once is not None and (made := _made_by(firm_id, once)) is not None:
        return Created(made, None)
    if problems:
        raise ValidationFailed("The key was not created.", errors=problems)
    try:
        with db.transaction():
            firm = services.firm_by_id(firm_id)
            issued = services.issue_api_key(firm, label=text, scopes=chosen, actor=actor)
            issued.api_key.creation_token = once
            db.session.flush()
    except IntegrityError:
        # The same form sent twice at once: the other request made the key first.
        made = _made_by(firm_id, once) if once is not None else None
        if made is None:
            raise
        return Created(made, None)
    return Created(issued.api_key, issued.secret)


def revoke_key(firm_id: int, key_id: int, *, actor: Actor) -> APIKey:
    """Revoke the firm's key `key_id` and commit (revoking it twice changes nothing)."""
    with db.transaction():
        key = key_in_firm(firm_id, key_id)
        services.revoke_api_key(key, actor=actor)
    return key
