"""Settings, API keys and the audit log (admins only): each form's refusals come back next to
their field with what was typed, every change lands in the audit log under the admin, a new
key is shown once, and the role and firm gates hold."""

from __future__ import annotations

import csv
import io
import re

from flask_babel import refresh
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.db import db
from portal.firms import services as firms
from portal.firms.account_lists import set_lists
from portal.firms.models import APIKey, Firm
from portal.postings.models import MessageStatus, OutboundMessage
from tests.clocks import Clock
from tests.console.conftest import PASSWORD, Console, Person
from tests.console.test_api_key_once import once
from tests.factories import FirmWithKey

SETTINGS = {
    "auto_post": "y",
    "ar_message": "Paid online",
    "notify_email": "billing@okafor.example",
    "time_zone": "America/New_York",
    "contact_email": "",
    "contact_phone": "+1 (212) 555-0100",
    "postal_address": "1 Main St\nNew York, NY",
    "website": "https://okafor.example",
    "email_message": "",
    "email_signature": "",
}


def _account(firm: FirmWithKey, kind: str = "operating") -> str:
    return next(a.public_id for a in firms.merchant_accounts_of(firm.id) if a.kind.value == kind)


def _account_form(public_id: str, **values: str) -> dict[str, str]:
    data = {"label": "Operating", "accepts_card": "y", "accepts_ach": "y"}
    data.update(values)
    return {f"acct-{public_id}-{k}": v for k, v in data.items()}


def test_settings_page_shows_the_firm_and_its_accounts(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    response = console.get("/console/settings")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="time_zone"' in html
    for account in firms.merchant_accounts_of(admin.user.firm_id):
        assert f'id="account-{account.public_id}"' in html


def test_a_changed_setting_is_saved_and_shown_in_the_audit_log(
    console: Console, admin: Person, firm: FirmWithKey
) -> None:
    console.sign_in_as(admin)
    response = console.post("/console/settings", SETTINGS)
    assert response.status_code == 303, response.get_data(as_text=True)
    stored = db.session.get(Firm, firm.id)
    assert stored is not None
    assert stored.time_zone == "America/New_York"
    assert stored.ar_message == "Paid online"
    assert stored.use_posted_date is False
    audit = console.get("/console/audit?entity=firm&field=ar_message").get_data(as_text=True)
    assert "Paid online" in audit
    assert admin.email in audit
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.field == "ar_message")).all()
    assert (event.actor_kind, event.actor_id) == ("staff", str(admin.user.id))


def test_bad_settings_come_back_next_to_their_fields_with_what_was_typed(
    console: Console, admin: Person, firm: FirmWithKey
) -> None:
    console.sign_in_as(admin)
    bad = {**SETTINGS, "time_zone": "Mars/Olympus", "contact_phone": "call me", "website": "ftp:x"}
    response = console.post("/console/settings", bad)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a time zone such as America/New_York." in html
    assert "Enter a phone number such as +1 (212) 555-0100." in html
    assert 'value="Mars/Olympus"' in html and 'value="call me"' in html
    assert 'value="Paid online"' in html  # the good fields are kept too
    assert 'id="time_zone-error"' in html
    stored = db.session.get(Firm, firm.id)
    assert stored is not None and stored.ar_message is None  # nothing was saved


def test_turning_automatic_posting_on_says_how_many_are_held(
    console: Console, admin: Person, firm: FirmWithKey
) -> None:
    firm.firm.auto_post = False
    for n in range(2):
        db.session.add(
            OutboundMessage(
                public_id=f"msg_held{n}",
                firm_id=firm.id,
                type="payment.succeeded",
                payload="{}",
                status=MessageStatus.HELD,
            )
        )
    db.session.flush()
    console.sign_in_as(admin)
    response = console.post("/console/settings", SETTINGS)
    assert response.status_code == 303
    page = console.get("/console/settings").get_data(as_text=True)
    assert "2 postings are still held" in page


def test_an_account_is_changed_with_the_back_office_lists_as_dropdowns(
    console: Console, admin: Person, firm: FirmWithKey
) -> None:
    set_lists(firm.id, {"ledger_codes": [{"code": "4000", "name": "Fees"}]})
    db.session.flush()
    public_id = _account(firm)
    console.sign_in_as(admin)
    html = console.get("/console/settings").get_data(as_text=True)
    assert f'<select class="input" id="acct-{public_id}-ledger_code"' in html
    assert '<option value="4000">4000 · Fees</option>' in html
    response = console.post(
        f"/console/settings/accounts/{public_id}",
        _account_form(public_id, ledger_code="4000", labels_es="Cuenta de la firma"),
        form_page="/console/settings",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    account = firms.merchant_account_for_firm(firm.id, public_id)
    assert account.ledger_code == "4000"
    assert account.labels["es"] == "Cuenta de la firma"
    audit = console.get("/console/audit?entity=merchant_account").get_data(as_text=True)
    assert "ledger_code" in audit and admin.email in audit


def test_an_account_id_ending_in_a_separator_names_the_same_fields(
    console: Console, admin: Person, firm: FirmWithKey
) -> None:
    # One public id in 32 ends in "-" or "_", after which WTForms added no separator of its own.
    account = firms.merchant_account_for_firm(firm.id, _account(firm))
    account.public_id = account.public_id[:-1] + "_"
    db.session.flush()
    console.sign_in_as(admin)
    response = console.post(
        f"/console/settings/accounts/{account.public_id}",
        _account_form(account.public_id, label="Operating (renamed)"),
        form_page="/console/settings",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert firms.merchant_account_for_firm(firm.id, account.public_id).label == (
        "Operating (renamed)"
    )


def test_bad_account_fields_come_back_next_to_their_field(
    console: Console, admin: Person, firm: FirmWithKey
) -> None:
    set_lists(firm.id, {"ledger_codes": [{"code": "4000", "name": "Fees"}]})
    db.session.flush()
    public_id = _account(firm)
    before = firms.merchant_account_for_firm(firm.id, public_id).ledger_code
    console.sign_in_as(admin)
    response = console.post(
        f"/console/settings/accounts/{public_id}",
        _account_form(public_id, label=" ", ledger_code="9999", transaction_type="PAY-7"),
        form_page="/console/settings",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a label." in html
    assert "Choose one of the back office" in html
    assert f'id="acct-{public_id}-ledger_code-error"' in html
    assert 'value="PAY-7"' in html  # typed values are kept
    assert firms.merchant_account_for_firm(firm.id, public_id).ledger_code == before


def test_another_firms_account_is_not_found(
    console: Console, admin: Person, other_firm: FirmWithKey
) -> None:
    console.sign_in_as(admin)
    theirs = _account(other_firm)
    response = console.post(
        f"/console/settings/accounts/{theirs}",
        _account_form(theirs, label="Mine now"),
        form_page="/console/settings",
    )
    assert response.status_code == 404


def _secret(html: str) -> str:
    found = re.search(r'<code id="new-key-secret">([^<]+)</code>', html)
    assert found, html
    return found.group(1)


def test_a_key_is_created_with_scopes_shown_once_then_listed_by_prefix(
    app, console: Console, admin: Person
) -> None:
    console.sign_in_as(admin)
    response = console.client.post(
        "/console/api-keys",
        data={
            "csrf_token": console.csrf("/console/api-keys"),
            "label": "Back office sync",
            "scopes": ["sync", "links"],
            "once": once(console),
        },
        base_url="https://localhost",
        headers={"Referer": "https://localhost/console/api-keys"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    secret = _secret(response.get_data(as_text=True))
    key = db.session.scalar(select(APIKey).where(APIKey.label == "Back office sync"))
    assert key is not None and key.scopes == ["links", "sync"]
    listed = console.get("/console/api-keys").get_data(as_text=True)
    assert secret not in listed
    assert f"{key.prefix}…" in listed and "links, sync" in listed
    # the key works on the API, within its scopes
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/clients", headers=headers).status_code == 200
    (event,) = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "api_key.issued")
        .where(AuditEvent.actor_kind == "staff")
    ).all()
    assert event.actor_id == str(admin.user.id)


def test_a_bad_key_form_comes_back_with_the_errors(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    response = console.post(
        "/console/api-keys",
        {"label": "Reports", "once": once(console)},
        form_page="/console/api-keys",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose at least one scope." in html and 'value="Reports"' in html
    empty = console.client.post(
        "/console/api-keys",
        data={
            "csrf_token": console.csrf("/console/api-keys"),
            "label": "",
            "scopes": "sync",
            "once": once(console),
        },
        base_url="https://localhost",
        headers={"Referer": "https://localhost/console/api-keys"},
    )
    assert empty.status_code == 422
    assert "Enter a label" in empty.get_data(as_text=True)
    assert '<input checked id="scopes-0" name="scopes" type="checkbox" value="sync">' in (
        empty.get_data(as_text=True)
    )


def test_creating_a_key_asks_for_the_password_again(
    console: Console, admin: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    frozen_clock.advance(minutes=6)
    asked = console.post(
        "/console/api-keys", {"label": "Late", "scopes": "sync"}, form_page="/console/api-keys"
    )
    assert asked.status_code == 303
    assert asked.headers["Location"].startswith("/console/confirm-password?next=/console/api-keys")
    assert db.session.scalar(select(APIKey).where(APIKey.label == "Late")) is None
    confirmed = console.post(
        "/console/confirm-password",
        {"password": PASSWORD, "next": "/console/api-keys"},
    )
    assert confirmed.status_code == 303
    again = console.post(
        "/console/api-keys",
        {"label": "Late", "scopes": "sync", "once": once(console)},
        form_page="/console/api-keys",
    )
    assert again.status_code == 201


def test_a_key_is_revoked(app, console: Console, admin: Person, firm: FirmWithKey) -> None:
    console.sign_in_as(admin)
    key = db.session.scalar(select(APIKey).where(APIKey.firm_id == firm.id))
    assert key is not None
    response = console.post(f"/console/api-keys/{key.id}/revoke", {}, form_page="/console/api-keys")
    assert response.status_code == 303
    assert key.revoked_at is not None
    page = console.get("/console/api-keys").get_data(as_text=True)
    assert "Revoked" in page
    api = app.test_client()
    refused = api.get("/api/v1/clients", headers={"Authorization": f"Bearer {firm.key}"})
    assert refused.status_code == 401
    audit = console.get("/console/audit?entity=api_key").get_data(as_text=True)
    assert "api_key.revoked" in audit and admin.email in audit


def test_another_firms_key_is_not_found(
    console: Console, admin: Person, other_firm: FirmWithKey
) -> None:
    console.sign_in_as(admin)
    theirs = db.session.scalar(select(APIKey).where(APIKey.firm_id == other_firm.id))
    assert theirs is not None
    response = console.post(
        f"/console/api-keys/{theirs.id}/revoke", {}, form_page="/console/api-keys"
    )
    assert response.status_code == 404
    assert theirs.revoked_at is None


def test_the_audit_log_filters_pages_and_exports_what_it_shows(
    console: Console, admin: Person, firm: FirmWithKey, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    assert console.post("/console/settings", SETTINGS).status_code == 303
    page = console.get("/console/audit").get_data(as_text=True)
    assert "firm.updated" in page and "api_key.issued" in page
    mine = console.get(f"/console/audit?actor=staff:{admin.user.id}&field=website")
    html = mine.get_data(as_text=True)
    assert "https://okafor.example/" in html and "api_key.issued" not in html
    today = frozen_clock().date().isoformat()
    later = console.get("/console/audit?since=2100-01-01").get_data(as_text=True)
    assert "No events match." in later
    bad = console.get(f"/console/audit?since={today}&until=2000-01-01")
    assert bad.status_code == 422
    assert "The last day comes before the first." in bad.get_data(as_text=True)
    exported = console.get(f"/console/audit.csv?actor=staff:{admin.user.id}&field=website")
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(r["who"], r["field"], r["after"]) for r in rows] == [
        (admin.email, "website", '"https://okafor.example/"')
    ]


def test_the_audit_log_pages_back_in_time(
    console: Console, admin: Person, firm: FirmWithKey, monkeypatch
) -> None:
    monkeypatch.setattr("portal.console.audit.PAGE_SIZE", 2)
    console.sign_in_as(admin)
    assert console.post("/console/settings", SETTINGS).status_code == 303
    first = console.get("/console/audit?entity=firm").get_data(as_text=True)
    found = re.search(r'href="(/console/audit\?after=\d+[^"]*)"', first)
    assert found
    second = console.get(found.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert "firm.updated" in second.get_data(as_text=True)


def test_admin_pages_are_admins_only(console: Console, staffer: Person, firm: FirmWithKey) -> None:
    for path in ("/console/settings", "/console/api-keys", "/console/audit", "/console/audit.csv"):
        assert console.get(path).status_code == 302
    public_id = _account(firm)
    for path in (
        "/console/settings",
        f"/console/settings/accounts/{public_id}",
        "/console/api-keys",
    ):
        assert console.post(path, {}, form_page="/console/sign-in").status_code == 302
    console.sign_in_as(staffer)
    for path in ("/console/settings", "/console/api-keys", "/console/audit", "/console/audit.csv"):
        assert console.get(path).status_code == 403, path
    forbidden = console.post(
        f"/console/settings/accounts/{public_id}",
        _account_form(public_id),
        form_page="/console/",
    )
    assert forbidden.status_code == 403


def test_the_admin_pages_speak_french_and_spanish(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    console.client.get("/language/fr_CA?next=/console/settings", base_url="https://localhost")
    refresh()  # Flask-Babel caches the catalog on the app context the test client keeps
    settings = console.get("/console/settings").get_data(as_text=True)
    assert "Fuseau horaire" in settings and "Libellé en espagnol" in settings
    assert "Créer la clé" in console.get("/console/api-keys").get_data(as_text=True)
    console.client.get("/language/es_US?next=/console/audit", base_url="https://localhost")
    refresh()
    audit = console.get("/console/audit").get_data(as_text=True)
    assert "Descargar como CSV" in audit


def test_the_audit_links_keep_only_the_filters(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    response = console.get("/console/audit?entity=firm&_external=1&_scheme=ftp")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="/console/audit.csv?entity=firm"' in html


def test_saving_untouched_settings_records_nothing(
    console: Console, admin: Person, firm: FirmWithKey
) -> None:
    console.sign_in_as(admin)
    page = console.get("/console/settings").get_data(as_text=True)
    assert re.search(r'<input[^>]*name="time_zone"[^>]*value=""', page)
    untouched = {
        **SETTINGS,
        "auto_post": "y",
        "ar_message": "",
        "notify_email": "",
        "time_zone": "",
    }
    for name in ("contact_phone", "postal_address", "website"):
        untouched[name] = ""
    assert console.post("/console/settings", untouched).status_code == 303
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.entity == "firm")).all() == []


def test_the_auto_apply_order_is_chosen_from_a_list_and_audited(
    console: Console, admin: Person, firm: FirmWithKey
) -> None:
    console.sign_in_as(admin)
    page = console.get("/console/settings").get_data(as_text=True)
    assert '<option selected value="oldest_due">' in page or 'value="oldest_due" selected' in page
    response = console.post("/console/settings", {**SETTINGS, "auto_apply_order": "smallest_first"})
    assert response.status_code == 303, response.get_data(as_text=True)
    stored = db.session.get(Firm, firm.id)
    assert stored is not None and stored.auto_apply_order.value == "smallest_first"
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.field == "auto_apply_order")
    ).all()
    assert (event.before, event.after) == ("oldest_due", "smallest_first")

    forged = console.post("/console/settings", {**SETTINGS, "auto_apply_order": "largest_first"})
    assert forged.status_code == 422
    assert "Choose one of the orders listed." in forged.get_data(as_text=True)
    db.session.refresh(stored)
    assert stored.auto_apply_order.value == "smallest_first"
