"""The console's emails to a staff user are in that user's language: a password reset in the
language they chose, an invitation in the language the inviting admin picked for them (by
default the one the admin is reading the console in), or the create-staff command's."""

from __future__ import annotations

import email
import email.policy

from flask import Flask
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.db import db
from portal.mail.models import OutgoingEmail
from portal.staff.models import StaffUser
from tests.clocks import Clock
from tests.console.conftest import BASE_URL, Console, Person, invite_by_cli, make_person
from tests.factories import FirmWithKey

USERS = "/console/users"


def _emailed(kind: str) -> tuple[str, str, str]:
    """(recipient, subject, plain text) of the newest email of `kind` in the outbox."""
    row = db.session.scalars(
        select(OutgoingEmail).where(OutgoingEmail.kind == kind).order_by(OutgoingEmail.id.desc())
    ).first()
    assert row is not None, f"no {kind} email"
    message = email.message_from_bytes(row.message, policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    return row.recipients, str(message["Subject"]), text.get_content()


def _user(address: str) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(StaffUser.email == address))


def test_a_spanish_users_reset_email_is_in_spanish(
    app: Flask, admin: Person, frozen_clock: Clock
) -> None:
    # given an admin who reads the console's emails in Spanish
    admin.user.language = "es_US"
    db.session.flush()
    # when they ask for a reset from a browser in English
    answer = Console(app.test_client()).post("/console/forgot", {"email": admin.email})
    assert answer.status_code == 200
    # then the email is in Spanish
    to, subject, text = _emailed("staff_password_reset")
    with force_locale("es_US"):
        expected = gettext("Choose a new password for the MatterPay console")
        ignore = gettext("If it was not you, ignore this email: your password stays as it is.")
    assert expected != "Choose a new password for the MatterPay console"  # the catalog has it
    assert (to, subject) == (admin.email, expected)
    assert ignore in text and "/console/reset/" in text


def test_a_user_who_never_chose_gets_the_reset_in_the_portals_default(
    app: Flask, admin: Person, frozen_clock: Clock
) -> None:
    app.config["DEFAULT_LOCALE"] = "fr_CA"
    Console(app.test_client()).post("/console/forgot", {"email": admin.email})
    _, subject, _ = _emailed("staff_password_reset")
    with force_locale("fr_CA"):
        assert subject == gettext("Choose a new password for the MatterPay console")


def test_an_invitation_sent_from_a_french_console_is_in_french(
    app: Flask, console: Console, admin: Person, frozen_clock: Clock
) -> None:
    # given an admin reading the console in French
    console.sign_in_as(admin)
    console.client.get(f"/language/fr_CA?next={USERS}", base_url=BASE_URL)
    page = console.get(USERS).get_data(as_text=True)
    # the invitation's language offers every language by its own name, French chosen
    assert '<option selected value="fr_CA">Français</option>' in page
    for locale, name in (("en_US", "English"), ("es_US", "Español")):
        assert f'<option value="{locale}">{name}</option>' in page
    # when they invite someone with it
    sent = console.post(
        "/console/users/invite",
        {"email": "lee@okafor.example", "role": "staff", "language": "fr_CA"},
        form_page=USERS,
    )
    assert sent.status_code == 303
    # then the email is in French, the new user's language is French, and the audit says so
    to, subject, text = _emailed("staff_invitation")
    firm_name = admin.user.firm.name
    with force_locale("fr_CA"):
        expected = gettext("You are invited to %(firm)s's MatterPay console", firm=firm_name)
        unexpected = gettext("If you did not expect this, ignore this email.")
    assert expected != f"You are invited to {firm_name}'s MatterPay console"
    assert (to, subject) == ("lee@okafor.example", expected)
    assert unexpected in text and "/console/invitation/" in text
    invited = _user("lee@okafor.example")
    assert invited is not None and invited.language == "fr_CA"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff_user.invited"))
    assert event is not None
    assert event.after == {"email": "lee@okafor.example", "role": "staff", "language": "fr_CA"}


def test_an_english_console_offers_english_first_choice(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    page = console.get(USERS).get_data(as_text=True)
    assert '<option selected value="en_US">English</option>' in page
    assert '<option value="">The portal&#39;s default (English)</option>' in page


def test_a_language_the_portal_lacks_is_refused_and_nothing_saved(
    console: Console, admin: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    refused = console.post(
        "/console/users/invite",
        {"email": "lee@okafor.example", "role": "staff", "language": "de_DE"},
        form_page=USERS,
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="language-error">Choose a language from the list.</p>' in html
    assert 'value="lee@okafor.example"' in html  # what was typed comes back
    assert _user("lee@okafor.example") is None
    assert db.session.scalar(select(func.count(OutgoingEmail.id))) == 0
    invited = select(func.count(AuditEvent.id)).where(AuditEvent.action == "staff_user.invited")
    assert db.session.scalar(invited) == 0


def test_a_reinvitation_changes_the_language_only_when_given(
    app: Flask, console: Console, admin: Person, firm: FirmWithKey, frozen_clock: Clock
) -> None:
    # given someone invited in Spanish who has not accepted
    pending = make_person(firm, "ivy@okafor.example", role="staff")
    pending.user.activated_at = None
    pending.user.language = "es_US"
    db.session.flush()
    # a new invitation by the command line without --language keeps Spanish
    invite_by_cli(app, firm.firm.slug, "ivy@okafor.example", role="staff")
    assert pending.user.language == "es_US"
    # one from the console in French changes it, and is in French
    console.sign_in_as(admin)
    again = console.post(
        "/console/users/invite",
        {"email": "ivy@okafor.example", "role": "staff", "language": "fr_CA"},
        form_page=USERS,
    )
    assert again.status_code == 303
    assert pending.user.language == "fr_CA"
    with force_locale("fr_CA"):
        assert _emailed("staff_invitation")[1] == gettext(
            "You are invited to %(firm)s's MatterPay console", firm=firm.firm.name
        )
    # and "the portal's default" sets it back to none
    console.post(
        "/console/users/invite",
        {"email": "ivy@okafor.example", "role": "staff", "language": ""},
        form_page=USERS,
    )
    assert pending.user.language is None


def test_create_staff_takes_a_language(app: Flask, firm: FirmWithKey) -> None:
    runner = app.test_cli_runner()
    args = ["create-staff", "bo@okafor.example", "--firm", firm.firm.slug]
    assert runner.invoke(args=[*args, "--language", "es"]).exit_code == 0
    user = _user("bo@okafor.example")
    assert user is not None and user.language == "es_US"
    bad = runner.invoke(args=[*args, "--language", "de"])
    assert bad.exit_code != 0 and "--language" in bad.output
    assert user.language == "es_US"
