"""The audit log is append-only in the database itself, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.audit import services as audit
from portal.audit.models import AuditEvent, AuditLogIsAppendOnly
from tests import factories


def _event(session: Session, firm: factories.FirmWithKey) -> AuditEvent:
    row = audit.record(
        firm.firm.id,
        audit.CLI,
        action="firm.updated",
        entity="firm",
        entity_id=firm.firm.id,
        field="auto_post",
        before=True,
        after=False,
    )
    session.flush()
    return row


def test_the_orm_refuses_to_change_or_delete_an_event(
    session: Session, firm: factories.FirmWithKey
) -> None:
    row = _event(session, firm)
    row.after = True
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()
    session.expire(row)
    session.delete(row)
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET after = 'true'", "DELETE FROM audit_events"],
)
def test_the_database_refuses_to_change_or_delete_an_event(
    session: Session, firm: factories.FirmWithKey, statement: str
) -> None:
    _event(session, firm)
    count = session.scalar(text("SELECT count(*) FROM audit_events"))
    assert count  # the event, and the factory's key issue
    with pytest.raises(DBAPIError, match="never changed or deleted"), session.begin_nested():
        session.execute(text(statement))
    assert session.scalar(text("SELECT count(*) FROM audit_events")) == count


def test_changes_records_only_what_differs(session: Session, firm: factories.FirmWithKey) -> None:
    rows = audit.record_changes(
        firm.firm.id,
        audit.CLI,
        action="firm.updated",
        entity="firm",
        entity_id=firm.firm.id,
        before={"auto_post": True, "ar_message": None},
        after={"auto_post": True, "ar_message": "Paid online"},
    )
    assert [(r.field, r.before, r.after, r.actor_kind) for r in rows] == [
        ("ar_message", None, "Paid online", "cli")
    ]
