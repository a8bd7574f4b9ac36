"""The firm's API keys as people manage them: list, create with scopes, revoke.

`create_key` and `revoke_key` are use cases (each commits) over `services.issue_api_key` and
`services.revoke_api_key`, which audit with the given actor; the console calls them. A key id
from another firm is NotFound, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

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


def create_key(
    firm_id: int, *, label: str, scopes: Iterable[str], actor: Actor
) -> services.IssuedKey:
    """Issue a key limited to `scopes` (at least one) and commit; its secret is shown once."""
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
    if problems:
        raise ValidationFailed("The key was not created.", errors=problems)
    with db.transaction():
        firm = services.firm_by_id(firm_id)
        return services.issue_api_key(firm, label=text, scopes=chosen, actor=actor)


def revoke_key(firm_id: int, key_id: int, *, actor: Actor) -> APIKey:
    """Revoke the firm's key `key_id` and commit (revoking it twice changes nothing)."""
    with db.transaction():
        key = key_in_firm(firm_id, key_id)
        services.revoke_api_key(key, actor=actor)
    return key
