"""The catalogs hold every string the code and templates use, reviewed, for every language.

The strings are extracted afresh (Babel's API, with babel.cfg: what `make messages` does), so
a new `_("...")` anywhere fails here until the Spanish catalog translates it.
"""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog

from portal import catalogs
from portal.i18n import SUPPORTED_LOCALES

FIX = (
    "Run `make messages` (extract, update every catalog), translate or review the entries "
    "listed in portal/translations/<language>/LC_MESSAGES/messages.po (remove '#, fuzzy' "
    "once reviewed), then `make translations`. `python -m portal.catalogs` lists what is left."
)


@pytest.fixture(scope="module")
def fresh() -> Catalog:
    return catalogs.extract()


def test_extraction_sees_pages_emails_and_python(fresh: Catalog) -> None:
    ids = {message.id for message in fresh}
    assert "Skip to main content" in ids  # templates/base.html
    assert "Receipt %(number)s for your payment to %(firm)s" in ids  # an email subject
    assert "Enter an amount above zero." in ids  # portal/payments/allocation.py
    assert "Your card was declined." in ids  # a lazy_gettext in portal/payments/receipts.py
    assert "Enter your name." in ids  # a form field's lazy_gettext in portal/paybutton/forms.py
    assert ("%(count)s older entry is not shown.", "%(count)s older entries are not shown.") in ids


def test_every_supported_language_has_a_catalog() -> None:
    languages = {locale.split("_", 1)[0] for locale in SUPPORTED_LOCALES}
    assert languages <= set(catalogs.languages())
    assert {"en", "es", "fr"} <= languages


@pytest.mark.parametrize("language", catalogs.languages())
def test_catalog_is_complete(language: str, fresh: Catalog) -> None:
    found = catalogs.problems(language, fresh)
    assert not found, "\n".join([f"{catalogs.po_path(language)}:", *found, FIX])


# -- the check itself ----------------------------------------------------------------------------


def _catalog(*entries: tuple[object, object, bool]) -> Catalog:
    catalog = Catalog(locale="es")
    for msgid, msgstr, fuzzy in entries:
        catalog.add(msgid, msgstr, flags=("fuzzy",) if fuzzy else ())
    return catalog


def test_the_check_reports_missing_fuzzy_untranslated_and_broken_entries() -> None:
    fresh = Catalog()
    for msgid in ("Pay", "Total", "Due", "Hi %(name)s"):
        fresh.add(msgid, locations=[("templates/x.html", 1)])
    fresh.add(("%(n)s item", "%(n)s items"), locations=[("templates/x.html", 2)])
    spanish = _catalog(
        ("Pay", "Pagar", False),
        ("Total", "Total", True),
        ("Hi %(name)s", "Hola %(nombre)s", False),
        (("%(n)s item", "%(n)s items"), ("%(n)s artículo", ""), False),
    )
    found = catalogs.problems("es", fresh, spanish)
    assert any(line.startswith("missing: 'Due' (from templates/x.html:1)") for line in found)
    assert any(line.startswith("fuzzy") and "'Total'" in line for line in found)
    assert any(line.startswith("untranslated: '%(n)s item'") for line in found)
    assert any(line.startswith("invalid: 'Hi %(name)s'") for line in found)
    assert not any("'Pay'" in line for line in found)


def test_english_may_leave_entries_empty() -> None:
    fresh = Catalog()
    fresh.add("Pay", locations=[("templates/x.html", 1)])
    assert catalogs.problems("en", fresh, _catalog(("Pay", "", False))) == []
    assert catalogs.problems("en", fresh, _catalog()) != []


def test_a_missing_compiled_catalog_is_reported_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    from flask import Flask

    from portal import i18n

    assert i18n.missing_catalogs() == []  # the suite runs with compiled catalogs
    monkeypatch.setattr(i18n, "TRANSLATIONS", tmp_path)
    assert i18n.missing_catalogs() == ["es", "fr"]
    with caplog.at_level("ERROR", logger="portal.i18n"):
        i18n.init_app(Flask(__name__))
    assert "no compiled catalog for 'es'" in caplog.text
    assert "no compiled catalog for 'fr'" in caplog.text


SPANISH_PO = r"""msgid ""
msgstr ""
"Language: es\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"
"Content-Type: text/plain; charset=utf-8\n"

msgid "Pay"
msgstr "Pagar"

#, fuzzy
msgid "Total"
msgstr "Totall"

#, python-format
msgid "Hi %(name)s"
msgstr ""

#, python-format
msgid "%(n)s item"
msgid_plural "%(n)s items"
msgstr[0] ""
msgstr[1] ""
"""


def test_todo_lists_what_is_left_and_fill_writes_it_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # given: a catalog with one translated, one fuzzy, one empty entry and an empty plural
    monkeypatch.setattr(catalogs, "TRANSLATIONS", tmp_path)
    catalogs.po_path("es").parent.mkdir(parents=True)
    catalogs.po_path("es").write_text(SPANISH_PO, encoding="utf-8")

    # when
    todo = catalogs.todo("es")

    # then
    assert todo == {
        "Total": "Total",
        "Hi %(name)s": "Hi %(name)s",
        "%(n)s item": ["%(n)s item", "%(n)s items"],
    }
    filled = catalogs.fill(
        "es",
        {
            "Total": "Total",
            "Hi %(name)s": "Hola %(name)s",
            "%(n)s item": ["%(n)s artículo", "%(n)s artículos"],
        },
    )
    assert filled == 3
    assert catalogs.todo("es") == {}
    fresh = Catalog()
    for msgid in ("Pay", "Total", "Hi %(name)s", ("%(n)s item", "%(n)s items")):
        fresh.add(msgid, locations=[("templates/x.html", 1)])
    assert catalogs.problems("es", fresh) == []
