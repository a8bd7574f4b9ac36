"""The pay button script and its configuration: versioned, integrity-pinned, origin-bound."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from portal.db import PROJECT_ROOT
from portal.firms.embed import embed_path

SITE = "https://www.okafor.example"


def integrity(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def test_the_readme_snippet_pins_the_scripts_current_hash():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    snippets = re.findall(r'<script src="https://PORTAL/embed/v1\.js"[^\n]*</script>', readme)
    assert len(snippets) == 1, "the README shows the snippet exactly once"
    (snippet,) = snippets
    assert f'integrity="{integrity(embed_path("v1").read_bytes())}"' in snippet
    assert 'crossorigin="anonymous" data-firm="FIRM-SLUG" defer></script>' in snippet


def test_the_script_is_served_for_any_site_with_its_integrity(client, api):
    response = client.get("/embed/v1.js")
    assert response.status_code == 200
    assert response.content_type.startswith("text/javascript")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "public" in response.headers["Cache-Control"]
    snippet = api.get("/api/v1/firm/branding").get_json()["embed_snippet"]
    assert f'integrity="{integrity(response.data)}"' in snippet


def test_the_script_never_frames_card_fields_and_checks_the_senders_origin():
    source = embed_path("v1").read_text(encoding="utf-8")
    assert "iframe" not in source.replace("never in a frame", "")
    assert "window.open(" in source and "noopener" not in source.split("window.open(")[1][:80]
    assert "event.origin !== portal" in source


def test_an_unknown_version_is_not_found(client):
    assert client.get("/embed/v2.js").status_code == 404


@pytest.fixture
def registered(api, firm):
    api.put("/api/v1/firm/origins", json={"origins": [SITE]})
    return firm.firm


def test_the_configuration_answers_a_registered_origin_only(client, registered):
    path = f"/embed/v1/{registered.slug}.json"
    ok = client.get(path, headers={"Origin": SITE})
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in ok.headers["Vary"]
    body = ok.get_json()
    assert body["pay"] == {
        "url": f"http://localhost/pay/{registered.slug}",
        "label": "Pay your invoice",
    }
    assert body["trust"] is None
    for origin in ("https://evil.example", "", "null", SITE + ":8443"):
        refused = client.get(path, headers={"Origin": origin} if origin else {})
        assert refused.status_code == 403
        assert "Access-Control-Allow-Origin" not in refused.headers


def test_the_trust_button_appears_when_the_firm_offers_deposits(client, api, registered):
    api.put(
        "/api/v1/firm/branding",
        json={"name": "Okafor", "brand_colour": None, "public_trust_deposits": True},
    )
    body = client.get(f"/embed/v1/{registered.slug}.json", headers={"Origin": SITE}).get_json()
    assert body["trust"]["label"] == "Deposit to trust"
    assert body["trust"]["url"].endswith(f"/pay/{registered.slug}?kind=trust")


def test_an_unknown_firm_has_no_configuration(client):
    assert client.get("/embed/v1/no-such-firm.json", headers={"Origin": SITE}).status_code == 404


@pytest.mark.parametrize(
    ("lang", "query", "label"),
    [
        ("es", "?lang=es_US", "Pague su factura"),
        ("fr-CA", "?lang=fr_CA", "Payer votre facture"),
        ("de", "", "Pay your invoice"),  # a language the portal does not speak: not passed on
        ("", "", "Pay your invoice"),
    ],
)
def test_the_button_opens_the_hosted_page_in_the_sites_language(
    client, registered, lang: str, query: str, label: str
):
    path = f"/embed/v1/{registered.slug}.json" + (f"?lang={lang}" if lang else "")
    body = client.get(path, headers={"Origin": SITE}).get_json()
    assert body["pay"] == {"url": f"http://localhost/pay/{registered.slug}{query}", "label": label}
