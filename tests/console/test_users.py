"""The Users page (admins): invite, change role (after re-entering the password), deactivate,
reset an authenticator; each appends audit events naming the admin."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.db import db
from portal.mail.models import OutgoingEmail
from portal.staff.models import RecoveryCode, StaffRole, StaffUser
from tests.clocks import Clock
from tests.console.conftest import PASSWORD, Console, Person, emailed_url, make_person


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_admin_invites_someone_by_email(
    app: Flask, console: Console, admin: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    response = console.post(
        "/console/users/invite",
        {"email": "Lee@Okafor.example", "role": "staff"},
        form_page="/console/users",
    )
    assert response.status_code == 303
    page = console.get("/console/users").get_data(as_text=True)
    assert "Invitation emailed to lee@okafor.example" in page
    assert "Invited" in page
    # the email carries the single-use address, through the outbox
    email_row = db.session.scalar(
        select(OutgoingEmail).where(OutgoingEmail.kind == "staff_invitation")
    )
    assert email_row is not None and email_row.recipients == "lee@okafor.example"
    url = emailed_url("staff_invitation", "/console/invitation/")
    assert Console(app.test_client()).get("/" + url.split("/", 3)[3]).status_code == 200
    # and the audit log says who invited whom
    (event,) = _events("staff_user.invited")
    assert (event.actor_kind, event.actor_id) == ("staff", str(admin.user.id))
    assert event.after == {"email": "lee@okafor.example", "role": "staff", "language": None}


def test_a_bad_invitation_comes_back_with_the_error_and_what_was_typed(
    console: Console, admin: Person
) -> None:
    console.sign_in_as(admin)
    response = console.post(
        "/console/users/invite",
        {"email": "not an address", "role": "staff"},
        form_page="/console/users",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a valid email address." in html
    assert 'value="not an address"' in html
    taken = console.post(
        "/console/users/invite", {"email": admin.email, "role": "staff"}, form_page="/console/users"
    )
    assert taken.status_code == 422
    assert "already has a console account" in taken.get_data(as_text=True)


def test_changing_a_role_asks_for_the_password_again(
    console: Console, admin: Person, staffer: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    frozen_clock.advance(minutes=6)  # the sign-in's password is no longer recent
    field = f"u{staffer.user.id}-role"
    asked = console.post(
        f"/console/users/{staffer.user.id}/role", {field: "admin"}, form_page="/console/users"
    )
    assert asked.status_code == 303
    assert asked.headers["Location"].startswith("/console/confirm-password?next=/console/users")
    assert db.session.get(StaffUser, staffer.user.id).role is StaffRole.STAFF  # type: ignore[union-attr]
    # a wrong password is refused
    wrong = console.post(
        "/console/confirm-password", {"password": "not my password", "next": "/console/users"}
    )
    assert wrong.status_code == 401
    # the right one leads back, and the change then goes through
    back = console.post(
        "/console/confirm-password", {"password": PASSWORD, "next": "/console/users"}
    )
    assert back.headers["Location"] == "/console/users"
    done = console.post(
        f"/console/users/{staffer.user.id}/role", {field: "admin"}, form_page="/console/users"
    )
    assert done.status_code == 303
    assert db.session.get(StaffUser, staffer.user.id).role is StaffRole.ADMIN  # type: ignore[union-attr]
    (event,) = _events("staff_user.role_changed")
    assert (event.field, event.before, event.after) == ("role", "staff", "admin")
    assert event.actor_id == str(admin.user.id)


def test_deactivating_ends_the_persons_sessions(
    app: Flask, console: Console, admin: Person, staffer: Person
) -> None:
    theirs = Console(app.test_client())
    theirs.sign_in_as(staffer)
    console.sign_in_as(admin)
    done = console.post(
        f"/console/users/{staffer.user.id}/deactivate", {}, form_page="/console/users"
    )
    assert done.status_code == 303
    assert theirs.get("/console/").status_code == 302
    assert theirs.sign_in(staffer.email, PASSWORD, staffer.code()).status_code == 401
    (event,) = _events("staff_user.deactivated")
    assert (event.before, event.after, event.actor_id) == (False, True, str(admin.user.id))


def test_resetting_mfa_makes_the_person_enrol_again(
    app: Flask, console: Console, admin: Person, staffer: Person, frozen_clock: Clock
) -> None:
    app.config["CONSOLE_REQUIRE_MFA"] = "on"
    theirs = Console(app.test_client())
    theirs.sign_in_as(staffer)
    console.sign_in_as(admin)
    done = console.post(
        f"/console/users/{staffer.user.id}/reset-mfa", {}, form_page="/console/users"
    )
    assert done.status_code == 303
    assert theirs.get("/console/").status_code == 302
    user = db.session.get(StaffUser, staffer.user.id)
    assert user is not None and user.totp_secret is None
    assert not db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    (event,) = _events("staff_user.mfa_reset")
    assert (event.field, event.before, event.after) == ("mfa", True, False)
    # at the next sign-in (password alone) they set up a new authenticator first
    again = theirs.sign_in(staffer.email, PASSWORD, "")
    assert again.headers["Location"] == "/console/enrol"


def test_the_last_admin_can_be_neither_demoted_nor_deactivated(
    console: Console, admin: Person, staffer: Person
) -> None:
    console.sign_in_as(admin)
    demoted = console.post(
        f"/console/users/{admin.user.id}/role",
        {f"u{admin.user.id}-role": "staff"},
        form_page="/console/users",
    )
    assert demoted.status_code == 422
    assert "last admin" in demoted.get_data(as_text=True)
    assert not _events("staff_user.role_changed")


def test_a_second_admin_may_be_demoted(console: Console, admin: Person, firm) -> None:  # type: ignore[no-untyped-def]
    other = make_person(firm, "bea@okafor.example")
    console.sign_in_as(admin)
    done = console.post(
        f"/console/users/{other.user.id}/role",
        {f"u{other.user.id}-role": "staff"},
        form_page="/console/users",
    )
    assert done.status_code == 303


def test_reactivating_lets_the_person_sign_in_again(
    app: Flask, console: Console, admin: Person, staffer: Person
) -> None:
    console.sign_in_as(admin)
    console.post(f"/console/users/{staffer.user.id}/deactivate", {}, form_page="/console/users")
    page = console.get("/console/users").get_data(as_text=True)
    assert f"/console/users/{staffer.user.id}/reactivate" in page

    done = console.post(
        f"/console/users/{staffer.user.id}/reactivate", {}, form_page="/console/users"
    )

    assert done.status_code == 303
    user = db.session.get(StaffUser, staffer.user.id)
    assert user is not None and user.deactivated_at is None
    assert staffer.email in console.get("/console/users").get_data(as_text=True)
    theirs = Console(app.test_client())
    assert theirs.sign_in(staffer.email, PASSWORD, staffer.code()).status_code == 303
    (event,) = _events("staff_user.reactivated")
    assert (event.field, event.before, event.after) == ("deactivated", True, False)
    assert event.actor_id == str(admin.user.id)
    # reactivating someone active changes nothing and records nothing more
    again = console.post(
        f"/console/users/{staffer.user.id}/reactivate", {}, form_page="/console/users"
    )
    assert again.status_code == 303
    assert len(_events("staff_user.reactivated")) == 1


def test_someone_who_never_accepted_is_invited_again_instead(
    console: Console,
    admin: Person,
    firm,  # type: ignore[no-untyped-def]
) -> None:
    invited = make_person(firm, "ivy@okafor.example", role="staff")
    invited.user.activated_at = None
    console.sign_in_as(admin)
    console.post(f"/console/users/{invited.user.id}/deactivate", {}, form_page="/console/users")
    assert "Never accepted the invitation" in console.get("/console/users").get_data(as_text=True)

    refused = console.post(
        f"/console/users/{invited.user.id}/reactivate", {}, form_page="/console/users"
    )

    assert refused.status_code == 422
    assert "invite them again" in refused.get_data(as_text=True)
    user = db.session.get(StaffUser, invited.user.id)
    assert user is not None and user.deactivated_at is not None
    assert not _events("staff_user.reactivated")


def test_reactivating_is_for_admins_and_this_firms_users(
    console: Console,
    staffer: Person,
    admin: Person,
    other_firm,  # type: ignore[no-untyped-def]
) -> None:
    stranger = make_person(other_firm, "zed@elsewhere.example", role="staff")
    stranger.user.deactivated_at = stranger.user.created_at
    console.sign_in_as(admin)
    db.session.flush()
    other = console.post(
        f"/console/users/{stranger.user.id}/reactivate", {}, form_page="/console/users"
    )
    assert other.status_code == 404
    assert stranger.user.deactivated_at is not None

    staff_browser = Console(console.client.application.test_client())
    staff_browser.sign_in_as(staffer)
    refused = staff_browser.post(
        f"/console/users/{admin.user.id}/reactivate", {}, form_page="/console/"
    )
    assert refused.status_code == 403
    assert not _events("staff_user.reactivated")
