"""`update_firm_settings` called as the staff console will: the same rules as the API, each
change audited with the acting user and the reason given, all or nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent
from portal.audit.services import CLI, Actor
from portal.errors import ValidationFailed
from portal.firms.settings import RULES, refund_needs_reauth, update_firm_settings
from tests import factories

STAFF = Actor.staff(3)


def _firm_events(session: Session, firm: factories.FirmWithKey) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.firm_id == firm.id, AuditEvent.entity == "firm")
    return list(session.scalars(query.order_by(AuditEvent.id)))


def test_a_staff_change_is_audited_with_the_user_and_the_reason(
    session: Session, firm: factories.FirmWithKey
) -> None:
    # when
    changed = update_firm_settings(
        firm.id,
        {"auto_post": False, "contact_phone": "+44 20 7946 0958", "website": None},
        STAFF,
        reason="Posting by hand during the migration",
    )

    # then: two changes (website was already unset)
    assert (changed.auto_post, changed.contact_phone) == (False, "+44 20 7946 0958")
    events = _firm_events(session, firm)
    assert [(e.field, e.before, e.after) for e in events] == [
        ("auto_post", True, False),
        ("contact_phone", None, "+44 20 7946 0958"),
    ]
    assert {(e.actor_kind, e.actor_id, e.reason) for e in events} == {
        ("staff", "3", "Posting by hand during the migration")
    }


def test_every_bad_field_is_named_and_nothing_is_saved(
    session: Session, firm: factories.FirmWithKey
) -> None:
    # when
    with pytest.raises(ValidationFailed) as refused:
        update_firm_settings(
            firm.id,
            {"ar_message": "Fine", "slug": "taken", "time_zone": "Nowhere/Town", "auto_post": 1},
            STAFF,
        )

    # then
    assert [e["pointer"] for e in refused.value.errors] == ["/slug", "/time_zone", "/auto_post"]
    assert {e["code"] for e in refused.value.errors} == {"setting_invalid"}
    session.refresh(firm.firm)
    assert (firm.firm.ar_message, firm.firm.slug) == (None, "okafor-lindqvist-llp")
    assert _firm_events(session, firm) == []


def test_every_rule_takes_null_or_refuses_it_by_name() -> None:
    for name, rule in RULES.items():
        if name in ("auto_post", "use_posted_date"):
            with pytest.raises(ValueError, match="true or false"):
                rule(None)
        elif name == "auto_apply_order":  # a choice with a default: null is not one of them
            with pytest.raises(ValueError, match="must be one of oldest_due"):
                rule(None)
        else:
            assert rule(None) is None, name


@pytest.mark.parametrize(
    ("threshold", "amount", "currency", "asks"),
    [
        (None, 10**9, "USD", False),  # no threshold: never
        (1_500, 1_500, "USD", False),  # at it: not above
        (1_500, 1_501, "USD", True),
        (0, 1, "USD", True),  # 0: every refund
        (1_500, 1, "EUR", True),  # another currency cannot be compared: asks
    ],
)
def test_a_refund_asks_for_the_password_only_above_the_threshold(
    firm: factories.FirmWithKey, threshold: int | None, amount: int, currency: str, asks: bool
) -> None:
    # given the firm's threshold (its accounts take USD)
    update_firm_settings(firm.id, {"refund_reauth_above_minor": threshold}, CLI)
    # then
    assert refund_needs_reauth(firm.firm, amount, currency) is asks
