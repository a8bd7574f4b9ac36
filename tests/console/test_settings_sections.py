"""Settings' other sections (admins only): name and brand colour, logo, website origins and the
pay button's snippet, public trust deposits, evergreen retainers and the refund password
threshold. Each form saves through the API's own use case and lands in the audit log under
the admin; a refused value comes back beside its field with what was typed; staff get 403."""

from __future__ import annotations

import html
import io
import re

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.db import db
from portal.firms import branding
from portal.firms.models import EvergreenMode, Firm
from tests.conftest import APIClient
from tests.console.conftest import BASE_URL, Console, Person
from tests.factories import FirmWithKey

SETTINGS = "/console/settings"


def _png(width: int = 32, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (29, 78, 216)).save(out, format="PNG")
    return out.getvalue()


def _firm(firm: FirmWithKey) -> Firm:
    found = db.session.get(Firm, firm.id)
    assert found is not None
    db.session.refresh(found)
    return found


def _error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field_id}"
    return html.unescape(found.group(1))


def _audit(console: Console, field: str) -> str:
    return console.get(f"/console/audit?field={field}").get_data(as_text=True)


def _post(console: Console, path: str, data: dict[str, str]) -> tuple[int, str]:
    response = console.post(path, data, form_page=SETTINGS)
    return response.status_code, response.get_data(as_text=True)


def _upload(console: Console, data: bytes) -> tuple[int, str]:
    """Send a logo as a browser does (multipart). The body is encoded here, in memory: the
    test client would spool a large one to a temporary file it never closes."""
    boundary, body = encode_multipart(
        {
            "csrf_token": console.csrf(SETTINGS),
            "logo-logo": FileStorage(io.BytesIO(data), "logo.png", content_type="image/png"),
        }
    )
    response = console.client.post(
        "/console/settings/logo",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        base_url=BASE_URL,
        headers={"Referer": BASE_URL + SETTINGS},
    )
    return response.status_code, response.get_data(as_text=True)


@pytest.fixture
def signed_in(console: Console, admin: Person) -> Console:
    console.sign_in_as(admin)
    return console


def test_name_and_colour_are_saved_and_audited(
    signed_in: Console, admin: Person, firm: FirmWithKey
) -> None:
    status, _ = _post(
        signed_in,
        "/console/settings/branding",
        {"branding-name": "Okafor LLP", "branding-brand_colour": "#1D4ED8"},
    )
    assert status == 303
    saved = _firm(firm)
    assert (saved.name, saved.brand_colour) == ("Okafor LLP", "#1d4ed8")
    page = signed_in.get(SETTINGS).get_data(as_text=True)
    assert "White text on #1d4ed8 has a contrast of 6.70:1: readable." in page
    audit = _audit(signed_in, "brand_colour")
    assert "#1d4ed8" in audit and admin.email in audit


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("blue", "Enter a colour written #rrggbb, such as #1d4ed8."),
        (
            "#ffff00",
            "White text on this colour has a contrast of 1.07:1; at least 4.5:1 is needed. "
            "Choose a darker colour.",
        ),
    ],
)
def test_a_bad_or_pale_colour_comes_back_beside_its_field(
    signed_in: Console, firm: FirmWithKey, typed: str, message: str
) -> None:
    status, page = _post(
        signed_in,
        "/console/settings/branding",
        {"branding-name": "Typed name", "branding-brand_colour": typed},
    )
    assert status == 422
    assert _error(page, "branding-brand_colour") == message
    assert f'value="{typed}"' in page and 'value="Typed name"' in page
    assert _firm(firm).brand_colour is None


def test_a_logo_is_uploaded_shown_and_removed(
    signed_in: Console, admin: Person, firm: FirmWithKey
) -> None:
    data = _png()
    status, _ = _upload(signed_in, data)
    assert status == 303
    digest = _firm(firm).logo_digest
    assert digest
    page = signed_in.get(SETTINGS).get_data(as_text=True)
    assert re.search(rf'<img class="logo-preview" src="[^"]*/{digest}"', page)
    assert digest in _audit(signed_in, "logo_digest")
    status, _ = _post(signed_in, "/console/settings/logo/remove", {})
    assert status == 303
    assert _firm(firm).logo_digest is None
    assert 'class="logo-preview"' not in signed_in.get(SETTINGS).get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Choose a PNG or JPEG file."),
        (b"GIF89a not allowed", "The logo must be a PNG or JPEG file."),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * branding.MAX_LOGO_BYTES, "The logo is larger than 1 MB."),
        (
            _png(8, 8),
            "The logo must be between 16 and 4096 pixels on each side; this one is 8x8.",
        ),
        (b"\x89PNG\r\n\x1a\n" + b"truncated", "The logo could not be read as an image."),
    ],
)
def test_a_bad_logo_is_refused_beside_the_file_field(
    signed_in: Console, firm: FirmWithKey, data: bytes, message: str
) -> None:
    status, page = _upload(signed_in, data)
    assert status == 422
    assert _error(page, "logo-logo") == message
    assert _firm(firm).logo_digest is None


def test_origins_are_added_refused_and_removed(
    signed_in: Console, admin: Person, firm: FirmWithKey
) -> None:
    status, _ = _post(
        signed_in, "/console/settings/origins", {"origin-origin": "https://WWW.Okafor.example"}
    )
    assert status == 303
    assert _firm(firm).website_origins == ["https://www.okafor.example"]
    for typed in ("https://okafor.example/pay", "ftp://okafor.example", "", "https://a b"):
        status, page = _post(signed_in, "/console/settings/origins", {"origin-origin": typed})
        assert status == 422, typed
        assert _error(page, "origin-origin").startswith("Enter an origin such as")
        assert f'value="{html.escape(typed)}"' in page or not typed
    assert _firm(firm).website_origins == ["https://www.okafor.example"]
    assert "https://www.okafor.example" in _audit(signed_in, "website_origins")
    status, _ = _post(
        signed_in,
        "/console/settings/origins/remove",
        {"remove-origin-origin": "https://www.okafor.example"},
    )
    assert status == 303
    assert _firm(firm).website_origins == []


def test_the_pay_button_snippet_is_the_apis_exactly(
    signed_in: Console, api: APIClient, firm: FirmWithKey
) -> None:
    page = signed_in.get(SETTINGS).get_data(as_text=True)
    shown = re.search(
        r'<textarea id="pay-button-snippet"[^>]*readonly[^>]*>([^<]*)</textarea>', page
    )
    assert shown
    expected = api.get("/api/v1/firm/branding").get_json()["embed_snippet"]
    assert html.unescape(shown.group(1)) == expected
    assert f'data-firm="{firm.firm.slug}"' in expected


def test_public_trust_deposits_and_evergreen_are_saved_and_audited(
    signed_in: Console, admin: Person, firm: FirmWithKey
) -> None:
    status, _ = _post(
        signed_in, "/console/settings/trust-deposits", {"deposits-public_trust_deposits": "y"}
    )
    assert status == 303
    status, _ = _post(signed_in, "/console/settings/evergreen", {"evergreen-mode": "create"})
    assert status == 303
    saved = _firm(firm)
    assert saved.public_trust_deposits is True
    assert saved.evergreen_mode is EvergreenMode.CREATE
    assert admin.email in _audit(signed_in, "public_trust_deposits")
    assert "create" in _audit(signed_in, "evergreen_mode")
    page = signed_in.get(SETTINGS).get_data(as_text=True)
    assert re.search(r'<input checked id="evergreen-mode-1"[^>]*value="create"', page)
    # unticked: off again
    assert _post(signed_in, "/console/settings/trust-deposits", {})[0] == 303
    assert _firm(firm).public_trust_deposits is False


def test_an_unknown_evergreen_mode_is_refused_not_a_500(
    signed_in: Console, firm: FirmWithKey
) -> None:
    status, page = _post(signed_in, "/console/settings/evergreen", {"evergreen-mode": "weekly"})
    assert status == 422
    assert 'id="evergreen-mode-error"' in page
    assert _firm(firm).evergreen_mode is EvergreenMode.OFF


def test_the_refund_threshold_is_typed_as_money_saved_and_audited(
    signed_in: Console, admin: Person, firm: FirmWithKey
) -> None:
    status, _ = _post(
        signed_in, "/console/settings/refunds", {"refunds-refund_reauth_above": "1,500.00"}
    )
    assert status == 303
    assert _firm(firm).refund_reauth_above_minor == 150_000
    page = signed_in.get(SETTINGS).get_data(as_text=True)
    assert 'value="$1,500.00"' in page
    # sent back untouched, it stays the same and records nothing new
    audit_before = _audit(signed_in, "refund_reauth_above_minor").count("<tr")
    assert (
        _post(signed_in, "/console/settings/refunds", {"refunds-refund_reauth_above": "$1,500.00"})[
            0
        ]
        == 303
    )
    assert _audit(signed_in, "refund_reauth_above_minor").count("<tr") == audit_before
    assert admin.email in _audit(signed_in, "refund_reauth_above_minor")
    # blank: never asked
    assert (
        _post(signed_in, "/console/settings/refunds", {"refunds-refund_reauth_above": ""})[0] == 303
    )
    assert _firm(firm).refund_reauth_above_minor is None


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("-5.00", "The amount cannot be negative."),
        ("lots", "Enter the amount as a number, for example 1250.00."),
        ("1.005", "Use at most 2 decimal places."),
    ],
)
def test_a_bad_refund_threshold_comes_back_beside_its_field(
    signed_in: Console, firm: FirmWithKey, typed: str, message: str
) -> None:
    status, page = _post(
        signed_in, "/console/settings/refunds", {"refunds-refund_reauth_above": typed}
    )
    assert status == 422
    assert _error(page, "refunds-refund_reauth_above") == message
    assert f'value="{typed}"' in page
    assert _firm(firm).refund_reauth_above_minor is None


def test_the_refund_threshold_is_read_in_the_staff_users_language(
    signed_in: Console, firm: FirmWithKey
) -> None:
    signed_in.client.get("/language/fr_CA?next=/console/settings", base_url="https://localhost")
    status, _ = _post(
        signed_in, "/console/settings/refunds", {"refunds-refund_reauth_above": "1 500,25"}
    )
    assert status == 303
    assert _firm(firm).refund_reauth_above_minor == 150_025


SECTION_ROUTES = [
    "/console/settings/branding",
    "/console/settings/logo",
    "/console/settings/logo/remove",
    "/console/settings/origins",
    "/console/settings/origins/remove",
    "/console/settings/trust-deposits",
    "/console/settings/evergreen",
    "/console/settings/refunds",
]


@pytest.mark.parametrize("path", SECTION_ROUTES)
def test_a_signed_out_visitor_is_sent_to_sign_in(
    console: Console, firm: FirmWithKey, path: str
) -> None:
    response = console.post(
        path, {"refunds-refund_reauth_above": "0"}, form_page="/console/sign-in"
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/sign-in")
    assert _firm(firm).refund_reauth_above_minor is None


@pytest.mark.parametrize(
    "path",
    [
        "/console/settings/branding",
        "/console/settings/logo",
        "/console/settings/logo/remove",
        "/console/settings/origins",
        "/console/settings/origins/remove",
        "/console/settings/trust-deposits",
        "/console/settings/evergreen",
        "/console/settings/refunds",
    ],
)
def test_staff_cannot_change_these_settings(
    console: Console, staffer: Person, firm: FirmWithKey, path: str
) -> None:
    console.sign_in_as(staffer)
    response = console.post(path, {"refunds-refund_reauth_above": "0"}, form_page="/console/")
    assert response.status_code == 403
    assert _firm(firm).refund_reauth_above_minor is None
