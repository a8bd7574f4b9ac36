"""Firm branding and pay button settings through the API, and where the brand shows.

PUT /api/v1/firm/branding (name, colour with a WCAG contrast check, public trust deposits),
PUT/DELETE /api/v1/firm/logo (a real PNG or JPEG of at most 1 MB), PUT /api/v1/firm/origins.
"""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from portal.firms.branding import contrast_with_white
from tests import factories
from tests.payments.test_views import BASE_URL

BRANDING = {"name": "Okafor & Lindqvist", "brand_colour": "#1f3a5f", "public_trust_deposits": True}


def image(fmt: str = "PNG", size: tuple[int, int] = (120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (31, 58, 95)).save(out, format=fmt)
    return out.getvalue()


def problem(response) -> str:
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    return " ".join([body.get("detail") or ""] + [e["detail"] for e in body.get("errors", [])])


# -- colour ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("colour", "ratio"),
    [("#000000", 21.0), ("#ffffff", 1.0), ("#767676", 4.54), ("#777777", 4.48)],
)
def test_contrast_follows_the_wcag_formula(colour, ratio):
    assert contrast_with_white(colour) == pytest.approx(ratio, abs=0.01)


def test_branding_is_set_and_read_back(api, firm):
    response = api.put("/api/v1/firm/branding", json=BRANDING)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["name"] == "Okafor & Lindqvist" and body["brand_colour"] == "#1f3a5f"
    assert body["public_trust_deposits"] is True and body["logo_url"] is None
    assert body["pay_url"] == f"http://localhost/pay/{firm.firm.slug}"
    assert api.get("/api/v1/firm/branding").get_json() == body


@pytest.mark.parametrize("colour", ["#777777", "#ffcc00", "#ffffff", "#6fa8dc"])
def test_a_colour_too_light_for_white_text_is_refused(api, firm, colour):
    response = api.put("/api/v1/firm/branding", json={**BRANDING, "brand_colour": colour})
    assert response.status_code == 422
    assert "contrast" in problem(response) and "4.5:1" in problem(response)
    assert firm.firm.brand_colour is None


@pytest.mark.parametrize("colour", ["blue", "#12345", "#12345g", "rgb(0,0,0)"])
def test_a_colour_that_is_not_rrggbb_is_refused(api, firm, colour):
    response = api.put("/api/v1/firm/branding", json={**BRANDING, "brand_colour": colour})
    assert response.status_code == 422
    assert "#rrggbb" in problem(response)


def test_the_colour_can_be_cleared_and_fields_are_strict(api, firm):
    api.put("/api/v1/firm/branding", json=BRANDING)
    cleared = api.put("/api/v1/firm/branding", json={**BRANDING, "brand_colour": None})
    assert cleared.get_json()["brand_colour"] is None
    assert api.put("/api/v1/firm/branding", json={**BRANDING, "name": ""}).status_code == 422
    assert api.put("/api/v1/firm/branding", json={"name": "X"}).status_code == 422
    extra = api.put("/api/v1/firm/branding", json={**BRANDING, "css": "x"})
    assert extra.status_code == 422


def test_branding_needs_a_key(client, firm):
    assert client.put("/api/v1/firm/branding", json=BRANDING).status_code == 401


# -- logo -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_a_png_or_jpeg_logo_is_stored_and_served_cacheable(api, client, firm, fmt, content_type):
    data = image(fmt)
    response = api.put("/api/v1/firm/logo", data=data, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.get_json()
    url = response.get_json()["logo_url"]
    assert url.startswith(f"http://localhost/brand/logo/{firm.firm.slug}/")
    served = client.get(url.removeprefix("http://localhost"))
    assert served.status_code == 200 and served.data == data
    assert served.content_type == content_type
    assert "immutable" in served.headers["Cache-Control"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_the_declared_type_does_not_matter_only_the_bytes(api):
    response = api.put(
        "/api/v1/firm/logo", data=image("JPEG"), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200
    assert api.get("/api/v1/firm/branding").get_json()["logo_url"]


def noisy_png_cut_in_half() -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (120, 40), os.urandom(120 * 40 * 3)).save(out, format="PNG")
    data = out.getvalue()
    return data[: len(data) // 2]


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 40)).save(out, format="GIF")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "PNG or JPEG"),
        (gif(), "PNG or JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "could not be read"),
        (noisy_png_cut_in_half(), "could not be read"),
        (image("PNG", (8, 8)), "between 16 and 4096 pixels"),
        (image("PNG", (5000, 20)), "between 16 and 4096 pixels"),
        (b"\xff\xd8\xff" + b"\x00" * (1024 * 1024), "larger than 1 MB"),
    ],
    ids=["empty", "svg", "gif", "png-magic-only", "truncated", "tiny", "huge", "over-1mb"],
)
def test_a_bad_logo_is_refused(api, firm, data, words):
    response = api.put("/api/v1/firm/logo", data=data, headers={"Content-Type": "image/png"})
    assert response.status_code == 422, response.data[:200]
    assert words in problem(response)
    assert firm.firm.logo_digest is None


def test_a_replaced_logo_changes_its_url_and_the_old_one_is_gone(api, client):
    first = api.put("/api/v1/firm/logo", data=image(size=(40, 40))).get_json()["logo_url"]
    second = api.put("/api/v1/firm/logo", data=image(size=(80, 40))).get_json()["logo_url"]
    assert first != second
    assert client.get(first.removeprefix("http://localhost")).status_code == 404
    assert client.get(second.removeprefix("http://localhost")).status_code == 200
    removed = api.delete("/api/v1/firm/logo").get_json()
    assert removed["logo_url"] is None
    assert client.get(second.removeprefix("http://localhost")).status_code == 404


def test_another_firms_logo_url_is_not_found(api, client, other_firm):
    url = api.put("/api/v1/firm/logo", data=image()).get_json()["logo_url"]
    digest = url.rsplit("/", 1)[1]
    assert client.get(f"/brand/logo/{other_firm.firm.slug}/{digest}").status_code == 404


# -- origins --------------------------------------------------------------------------------


def test_origins_are_normalised_and_deduplicated(api):
    response = api.put(
        "/api/v1/firm/origins",
        json={
            "origins": [
                "https://WWW.Okafor.example",
                "https://www.okafor.example:443/",
                "https://pay.okafor.example:8443",
                "https://bücher.example",
                "http://127.0.0.1:8123",
            ]
        },
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["website_origins"] == [
        "https://www.okafor.example",
        "https://pay.okafor.example:8443",
        "https://xn--bcher-kva.example",
        "http://127.0.0.1:8123",
    ]


@pytest.mark.parametrize(
    ("origin", "words"),
    [
        ("http://www.okafor.example", "https://"),
        ("https://www.okafor.example/pay", "no path"),
        ("https://www.okafor.example?x=1", "no path"),
        ("https://user:pw@www.okafor.example", "user name"),
        ("ftp://www.okafor.example", "https://"),
        ("www.okafor.example", "https://"),
        ("https://www.okafor.example:99999", "port"),
        ("https://exa mple.com", "origin"),
        ("https://-bad-.example", "host"),
        ("*", "https://"),
    ],
)
def test_a_bad_origin_is_refused_and_nothing_is_saved(api, firm, origin, words):
    response = api.put("/api/v1/firm/origins", json={"origins": ["https://ok.example", origin]})
    assert response.status_code == 422
    body = response.get_json()
    assert body["errors"][0]["pointer"] == "/origins/1"
    assert words in body["errors"][0]["detail"]
    assert firm.firm.website_origins == []


def test_loopback_http_is_refused_outside_tests_unless_allowed(api, app):
    app.config["TESTING"] = False
    try:
        refused = api.put("/api/v1/firm/origins", json={"origins": ["http://127.0.0.1:8000"]})
        assert refused.status_code == 422
        app.config["PAY_BUTTON_ALLOW_LOOPBACK_ORIGINS"] = True
        allowed = api.put("/api/v1/firm/origins", json={"origins": ["http://127.0.0.1:8000"]})
        assert allowed.status_code == 200
    finally:
        app.config["TESTING"] = True


def test_too_many_origins_are_refused(api):
    many = [f"https://site{n}.example" for n in range(21)]
    assert api.put("/api/v1/firm/origins", json={"origins": many}).status_code == 422


# -- where the brand shows --------------------------------------------------------------------


def test_every_page_shows_the_logo_name_and_colour_without_inline_style(api, client, firm):
    api.put("/api/v1/firm/branding", json=BRANDING)
    url = api.put("/api/v1/firm/logo", data=image()).get_json()["logo_url"]
    page = client.get(f"/pay/{firm.firm.slug}", base_url=BASE_URL).text
    assert "Okafor &amp; Lindqvist" in page
    assert url.removeprefix("http://localhost") in page
    assert '<link rel="stylesheet" href="/brand/1f3a5f.css">' in page
    assert "style=" not in page and "<style" not in page
    css = client.get("/brand/1f3a5f.css").text
    assert "--brand:#1f3a5f" in css and "--brand-ink:#ffffff" in css


def test_a_client_link_page_shows_the_logo_too(api, client, firm):
    url = api.put("/api/v1/firm/logo", data=image()).get_json()["logo_url"]
    person = factories.client(firm)
    factories.matter(person)
    from portal.links import services as links

    token = links.token_for(factories.link(person))
    opened = client.get(f"/l/{token}", base_url=BASE_URL)
    page = client.get(opened.headers["Location"], base_url=BASE_URL).text
    assert url.removeprefix("http://localhost") in page


def test_the_snippet_names_the_script_its_hash_and_the_firm(api, firm):
    snippet = api.get("/api/v1/firm/branding").get_json()["embed_snippet"]
    assert snippet.startswith('<script src="http://localhost/embed/v1.js" integrity="sha384-')
    assert f'data-firm="{firm.firm.slug}" defer></script>' in snippet
    assert 'crossorigin="anonymous"' in snippet


def test_the_openapi_document_describes_the_firm_routes(client):
    document = client.get("/api/v1/openapi.json").get_json()
    logo = document["paths"]["/api/v1/firm/logo"]["put"]
    assert set(logo["requestBody"]["content"]) == {"image/png", "image/jpeg"}
    assert "422" in logo["responses"]
    assert "requestBody" in document["paths"]["/api/v1/firm/origins"]["put"]
    branding = document["paths"]["/api/v1/firm/branding"]
    assert set(branding) == {"get", "put"}
