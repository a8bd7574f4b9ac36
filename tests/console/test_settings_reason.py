"""Settings' reason (admins only): every form that saves a setting asks why, optionally, on one
line; the reason is kept on each audit event of that change (as PATCH /firm's `reason` is),
a blank one is null, and a bad one is a 422 beside its field with nothing saved."""

from __future__ import annotations

import html
import io
import re

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.audit.models import AuditEvent
from portal.db import db
from portal.firms import services as firms
from portal.firms.models import Firm
from tests.conftest import APIClient
from tests.console.conftest import BASE_URL, Console, Person
from tests.console.test_admin_pages import SETTINGS as FIRM_SETTINGS
from tests.factories import FirmWithKey

PAGE = "/console/settings"
WHY = "Ticket 4812: the firm moved to New York"


def _events(firm: FirmWithKey) -> list[AuditEvent]:
    """The firm's settings events (firm and merchant accounts), oldest first."""
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.firm_id == firm.id,
                AuditEvent.entity.in_(("firm", "merchant_account")),
            )
            .order_by(AuditEvent.id)
        )
    )


def _error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field_id}"
    return html.unescape(found.group(1))


def _account(firm: FirmWithKey) -> str:
    return next(a.public_id for a in firms.merchant_accounts_of(firm.id))


def _account_form(firm: FirmWithKey, public_id: str, **values: str) -> dict[str, str]:
    """The account's form as stored, with `values` typed over it."""
    account = firms.merchant_account_for_firm(firm.id, public_id)
    data = {
        "label": account.label,
        "ledger_code": account.ledger_code or "",
        "transaction_type": account.transaction_type or "",
        "bank_account_code": account.bank_account_code or "",
        "accepts_card": "y" if account.accepts_card else "",
        "accepts_ach": "y" if account.accepts_ach else "",
        **{f"labels_{lang}": label for lang, label in (account.labels or {}).items()},
        **values,
    }
    return {f"acct-{public_id}-{k}": v for k, v in data.items() if v}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (29, 78, 216)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def signed_in(console: Console, admin: Person) -> Console:
    console.sign_in_as(admin)
    return console


def test_the_page_asks_a_reason_in_each_form_that_saves_a_setting(
    signed_in: Console, firm: FirmWithKey
) -> None:
    page = signed_in.get(PAGE).get_data(as_text=True)
    ids = re.findall(r'<input [^>]*\bid="([^"]*reason)"', page)
    prefixes = ["", "branding-", "logo-", "origin-", "deposits-", "evergreen-", "refunds-"]
    accounts = [f"acct-{a.public_id}-" for a in firms.merchant_accounts_of(firm.id)]
    assert sorted(ids) == sorted(f"{p}reason" for p in prefixes + accounts)
    label = "Reason for the change (kept in the audit log)"
    assert page.count(f">{label}</label>") == len(ids)


def test_a_reason_is_on_each_event_of_the_firm_settings_change(
    signed_in: Console, api: APIClient, firm: FirmWithKey
) -> None:
    # when the firm's settings are saved with a reason (blanks around it)
    response = signed_in.post(PAGE, {**FIRM_SETTINGS, "reason": f"  {WHY}  "}, form_page=PAGE)

    # then each event of that change carries it, as GET /audit-events shows
    assert response.status_code == 303, response.get_data(as_text=True)
    listed = api.get("/api/v1/audit-events?entity=firm").get_json()["data"]
    assert len(listed) >= 2
    assert {e["reason"] for e in listed} == {WHY}
    assert WHY in signed_in.get("/console/audit?entity=firm").get_data(as_text=True)


def test_without_a_reason_the_events_have_none(
    signed_in: Console, api: APIClient, firm: FirmWithKey
) -> None:
    response = signed_in.post(PAGE, {**FIRM_SETTINGS, "reason": "   "}, form_page=PAGE)
    assert response.status_code == 303
    account = _account(firm)
    response = signed_in.post(
        f"{PAGE}/accounts/{account}",
        _account_form(firm, account, ledger_code="4010"),
        form_page=PAGE,
    )
    assert response.status_code == 303
    listed = api.get("/api/v1/audit-events").get_json()["data"]
    settings = [e for e in listed if e["entity"] in ("firm", "merchant_account")]
    assert {e["entity"] for e in settings} == {"firm", "merchant_account"}
    assert {e["reason"] for e in settings} == {None}


def test_a_merchant_accounts_change_carries_its_reason(
    signed_in: Console, firm: FirmWithKey
) -> None:
    account = _account(firm)
    response = signed_in.post(
        f"{PAGE}/accounts/{account}",
        _account_form(firm, account, ledger_code="4010", reason="New ledger code"),
        form_page=PAGE,
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    (event,) = _events(firm)
    assert (event.entity, event.field, event.after, event.reason) == (
        "merchant_account",
        "ledger_code",
        "4010",
        "New ledger code",
    )


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        (
            "/branding",
            {"branding-name": "Okafor LLP", "branding-brand_colour": "#1d4ed8"},
            "brand_colour",
        ),
        ("/origins", {"origin-origin": "https://www.okafor.example"}, "website_origins"),
        ("/trust-deposits", {"deposits-public_trust_deposits": "y"}, "public_trust_deposits"),
        ("/evergreen", {"evergreen-mode": "create"}, "evergreen_mode"),
        ("/refunds", {"refunds-refund_reauth_above": "100"}, "refund_reauth_above_minor"),
    ],
)
def test_each_section_keeps_its_reason(
    signed_in: Console, firm: FirmWithKey, path: str, data: dict[str, str], field: str
) -> None:
    prefix = next(iter(data)).split("-", 1)[0]
    response = signed_in.post(
        PAGE + path, {**data, f"{prefix}-reason": "Asked by the partners"}, form_page=PAGE
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    events = _events(firm)
    assert field in {e.field for e in events}
    assert {e.reason for e in events} == {"Asked by the partners"}


def test_an_uploaded_logo_keeps_its_reason(signed_in: Console, firm: FirmWithKey) -> None:
    boundary, body = encode_multipart(
        {
            "csrf_token": signed_in.csrf(PAGE),
            "logo-logo": FileStorage(io.BytesIO(_png()), "logo.png", content_type="image/png"),
            "logo-reason": "New letterhead",
        }
    )
    response = signed_in.client.post(
        f"{PAGE}/logo",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        base_url=BASE_URL,
        headers={"Referer": BASE_URL + PAGE},
    )
    assert response.status_code == 303
    (event,) = _events(firm)
    assert (event.field, event.reason) == ("logo_digest", "New letterhead")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("x" * 501, "Use at most 500 characters."),
        ("first line\nsecond line", "Use plain text on one line, without control characters."),
    ],
)
def test_a_bad_reason_is_a_422_beside_its_field_and_saves_nothing(
    signed_in: Console, firm: FirmWithKey, typed: str, message: str
) -> None:
    # the firm's settings
    response = signed_in.post(PAGE, {**FIRM_SETTINGS, "reason": typed}, form_page=PAGE)
    assert response.status_code == 422
    assert _error(response.get_data(as_text=True), "reason") == message
    # a section
    response = signed_in.post(
        f"{PAGE}/evergreen", {"evergreen-mode": "create", "evergreen-reason": typed}, form_page=PAGE
    )
    assert response.status_code == 422
    assert _error(response.get_data(as_text=True), "evergreen-reason") == message
    # a merchant account
    account = _account(firm)
    code = firms.merchant_account_for_firm(firm.id, account).ledger_code
    response = signed_in.post(
        f"{PAGE}/accounts/{account}",
        _account_form(firm, account, ledger_code="4010", reason=typed),
        form_page=PAGE,
    )
    assert response.status_code == 422
    assert _error(response.get_data(as_text=True), f"acct-{account}-reason") == message
    # nothing was saved or audited
    assert _events(firm) == []
    stored = db.session.get(Firm, firm.id)
    assert stored is not None
    db.session.refresh(stored)
    assert (stored.ar_message, stored.evergreen_mode.value) == (None, "off")
    assert firms.merchant_account_for_firm(firm.id, account).ledger_code == code


def test_a_reason_of_exactly_500_characters_is_kept(signed_in: Console, firm: FirmWithKey) -> None:
    response = signed_in.post(PAGE, {**FIRM_SETTINGS, "reason": "y" * 500}, form_page=PAGE)
    assert response.status_code == 303
    assert {e.reason for e in _events(firm)} == {"y" * 500}
