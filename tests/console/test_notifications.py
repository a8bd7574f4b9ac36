"""Notifications (every staff user, their own): the checkboxes show the user's choices (the
role's defaults until they choose), saving changes only theirs and audits each change with
them as the actor, and a bad post shows the page again, never a 500."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.db import db
from portal.notifications.choices import Kind, choices_of
from portal.notifications.models import NotificationChoice
from tests.console.conftest import BASE_URL, Console, Person

PAGE = "/console/notifications"


def _audited() -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == "staff_notifications.updated")
    return list(db.session.scalars(query))


def _checked(html: str) -> set[str]:
    return set(re.findall(r'<input checked id="([a-z_]+)"', html)) | set(
        re.findall(r'<input[^>]*id="([a-z_]+)"[^>]*checked', html)
    )


def _all_but(*kinds: Kind) -> dict[str, str]:
    """The form as a browser posts it: a "y" for each box left ticked, nothing for the others."""
    return {kind.value: "y" for kind in Kind if kind not in kinds}


def test_an_admin_sees_the_defaults_and_a_staff_user_reaches_the_page_too(
    app: Flask, console: Console, admin: Person, staffer: Person
) -> None:
    console.sign_in_as(admin)
    html = console.get(PAGE).get_data(as_text=True)
    assert _checked(html) == {kind.value for kind in Kind} - {"payment_succeeded"}
    assert 'href="/console/notifications"' in html  # in the navigation
    other = Console(app.test_client())
    other.sign_in_as(staffer)
    page = other.get(PAGE)
    assert page.status_code == 200
    assert _checked(page.get_data(as_text=True)) == set()
    assert 'href="/console/notifications"' in page.get_data(as_text=True)


def test_saving_changes_only_mine_and_audits_each_change(
    console: Console, admin: Person, staffer: Person
) -> None:
    console.sign_in_as(admin)
    # when the admin ticks "succeeds" and unticks "fails"
    form = {**_all_but(Kind.PAYMENT_FAILED), Kind.PAYMENT_SUCCEEDED.value: "y"}
    response = console.post(PAGE, form)
    assert response.status_code == 303
    # then the page shows it saved, and it is
    html = console.get(PAGE).get_data(as_text=True)
    assert "Your notifications are saved." in html
    assert "payment_succeeded" in _checked(html) and "payment_failed" not in _checked(html)
    mine = choices_of(admin.user)
    assert mine[Kind.PAYMENT_SUCCEEDED] and not mine[Kind.PAYMENT_FAILED]
    # one audit event per changed kind, naming the admin
    events = _audited()
    assert {(e.field, e.before, e.after) for e in events} == {
        ("payment_succeeded", False, True),
        ("payment_failed", True, False),
    }
    assert {(e.actor_kind, e.actor_id, e.entity_id) for e in events} == {
        ("staff", str(admin.user.id), str(admin.user.id))
    }
    # the staff user's choices are untouched
    assert not db.session.scalars(
        select(NotificationChoice).where(NotificationChoice.staff_user_id == staffer.user.id)
    ).all()
    assert not any(choices_of(staffer.user).values())
    # saving the same again changes and audits nothing
    assert console.post(PAGE, form).status_code == 303
    assert "Nothing changed." in console.get(PAGE).get_data(as_text=True)
    assert len(_audited()) == len(events)


def test_a_post_without_its_token_or_with_odd_values_is_never_a_500(
    console: Console, admin: Person
) -> None:
    console.sign_in_as(admin)
    before = choices_of(admin.user)
    # no CSRF token: refused as every form of the portal refuses it (400), nothing saved
    stale = console.client.post(PAGE, data={"payment_succeeded": "y"}, base_url=BASE_URL)
    assert stale.status_code == 400
    assert choices_of(admin.user) == before
    # odd values and unknown fields: read as ticked or not, nothing else
    odd = console.post(PAGE, {"payment_succeeded": "\u00e9" * 300, "user_id": "1", "x": ""})
    assert odd.status_code == 303
    assert choices_of(admin.user)[Kind.PAYMENT_SUCCEEDED]


def test_signed_out_visitors_are_sent_to_sign_in(console: Console, admin: Person) -> None:
    answer = console.get(PAGE)
    assert answer.status_code == 302 and "/console/sign-in" in answer.headers["Location"]


def test_each_user_chooses_the_language_of_their_emails(
    console: Console, admin: Person, staffer: Person
) -> None:
    console.sign_in_as(admin)
    page = console.get(PAGE).get_data(as_text=True)
    assert '<option selected value="">' in page  # the portal's default until chosen
    for locale, name in (("en_US", "English"), ("es_US", "Español"), ("fr_CA", "Français")):
        assert f'<option value="{locale}">{name}</option>' in page
    # choosing Spanish saves it, audited with the admin as actor, and shows it chosen
    answer = console.post(PAGE, {**_all_but(), "language": "es_US"})
    assert answer.status_code == 303
    assert admin.user.language == "es_US"
    assert '<option selected value="es_US">' in console.get(PAGE).get_data(as_text=True)
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "staff_user.language_changed")
    )
    assert (event.field, event.before, event.after) == ("language", None, "es_US")
    assert (event.actor_kind, event.actor_id, event.entity_id) == (
        "staff",
        str(admin.user.id),
        str(admin.user.id),
    )
    assert staffer.user.language is None  # only mine
    # a language the portal lacks is refused next to its field, nothing saved
    refused = console.post(PAGE, {**_all_but(), "language": "de_DE"})
    assert refused.status_code == 422
    assert "Choose a language from the list." in refused.get_data(as_text=True)
    assert admin.user.language == "es_US"
    # a form without the field keeps it; the portal's default again is None
    assert console.post(PAGE, _all_but()).status_code == 303
    assert admin.user.language == "es_US"
    assert console.post(PAGE, {**_all_but(), "language": ""}).status_code == 303
    assert admin.user.language is None
