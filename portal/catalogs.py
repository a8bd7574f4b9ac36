"""The message catalogs as files: extract the strings afresh, check a catalog, compile stale ones.

Used by the tests (a catalog that misses a string fails the suite), by `make messages` (which
lists what is left to translate) and by the test session (which compiles a .po newer than its
.mo, so a `git pull` never runs the suite on stale translations).

    python -m portal.catalogs                   # list what each catalog misses; exit 1 if so
    python -m portal.catalogs todo fr > fr.json  # what fr still needs, as {msgid: ""} to fill
    python -m portal.catalogs fill fr fr.json    # write the filled-in translations into fr's .po

`todo` writes one JSON object: each untranslated or fuzzy message id (the singular, for plurals)
with its English text, or a list of the plural forms; translate the values and `fill` puts them
in the catalog (clearing the fuzzy flag). Run `make messages` first so the catalog has every
entry, and `make translations` after.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from portal.i18n import SOURCE_LOCALE, TRANSLATIONS

ROOT = TRANSLATIONS.parent.parent
MAPPING = ROOT / "babel.cfg"
#: Must match BABEL_KEYWORDS in the Makefile.
EXTRA_KEYWORDS = ["lazy_gettext", "lazy_ngettext:1,2", "lazy_pgettext:1c,2"]
SOURCE_LANGUAGE = SOURCE_LOCALE.split("_", 1)[0]


def extract() -> Catalog:
    """Every translatable string in the code and templates now, as `make messages` sees it."""
    with MAPPING.open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, filename=str(MAPPING))
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(EXTRA_KEYWORDS)}
    catalog = Catalog(project="MatterPay")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def po_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def languages() -> list[str]:
    """The languages that have a catalog, e.g. ["en", "es"]."""
    return sorted(path.parent.parent.name for path in TRANSLATIONS.glob("*/LC_MESSAGES/*.po"))


def read(language: str) -> Catalog:
    with po_path(language).open("rb") as po:
        return read_po(po, locale=language)


def _where(message: object) -> str:
    locations = getattr(message, "locations", ())
    return ", ".join(f"{file}:{line}" for file, line in locations[:3]) or "?"


def problems(
    language: str, fresh: Catalog | None = None, catalog: Catalog | None = None
) -> list[str]:
    """What `language`'s catalog gets wrong against the strings in the code, one line each.

    Every string must have an entry; no entry may be fuzzy (an unreviewed guess that gettext
    ignores); outside the source language every entry needs a translation, with every plural
    form filled in; placeholders must match the source (%(amount)s stays %(amount)s).
    """
    fresh = fresh if fresh is not None else extract()
    catalog = catalog if catalog is not None else read(language)
    found: list[str] = []
    for message in fresh:
        if not message.id:
            continue
        entry = catalog.get(message.id, message.context)
        label = message.id if isinstance(message.id, str) else message.id[0]
        if entry is None:
            found.append(f"missing: {label!r} (from {_where(message)})")
            continue
        if entry.fuzzy:
            found.append(f"fuzzy (review it, then remove the '#, fuzzy' line): {label!r}")
        if language != SOURCE_LANGUAGE:
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            if not all(strings):
                found.append(f"untranslated: {label!r} (from {_where(message)})")
    for message, errors in catalog.check():
        for error in errors:
            label = message.id if isinstance(message.id, str) else message.id[0]
            found.append(f"invalid: {label!r}: {error}")
    return found


def compile_stale() -> list[Path]:
    """Compile every catalog whose .mo is missing or older than its .po; return those written.

    `make translations` does the same with pybabel; this is for test runs started directly.
    """
    written = []
    for language in languages():
        po, mo = po_path(language), po_path(language).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        catalog = read(language)
        with mo.open("wb") as out:
            write_mo(out, catalog)  # fuzzy entries left out, as pybabel compile does
        written.append(mo)
    return written


def _needs_work(entry: object) -> bool:
    strings = getattr(entry, "string", "")
    strings = strings if isinstance(strings, tuple) else (strings,)
    return bool(getattr(entry, "fuzzy", False)) or not all(strings)


def todo(language: str) -> dict[str, str | list[str]]:
    """The entries of `language`'s catalog left to translate: {msgid: source text (or forms)}."""
    found: dict[str, str | list[str]] = {}
    for entry in read(language):
        if not entry.id or not _needs_work(entry):
            continue
        if isinstance(entry.id, str):
            found[entry.id] = entry.id
        else:
            found[entry.id[0]] = list(entry.id)
    return found


def fill(language: str, translations: dict[str, str | list[str]]) -> int:
    """Write `translations` ({msgid: text or plural forms}) into the catalog; return how many.

    Width 100 and no line numbers, as `make messages` writes the catalogs.
    """
    catalog = read(language)
    filled = 0
    for entry in catalog:
        if not entry.id:
            continue
        key = entry.id if isinstance(entry.id, str) else entry.id[0]
        text = translations.get(key)
        if not text:
            continue
        entry.string = tuple(text) if isinstance(entry.id, tuple) else str(text)
        entry.flags.discard("fuzzy")
        filled += 1
    with po_path(language).open("wb") as po:
        write_po(po, catalog, width=100, include_lineno=False)
    return filled


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["todo"] and len(args) == 2:
        json.dump(todo(args[1]), sys.stdout, ensure_ascii=False, indent=1)
        return 0
    if args[:1] == ["fill"] and len(args) == 3:
        with open(args[2], encoding="utf-8") as source:
            count = fill(args[1], json.load(source))
        print(f"{count} entries filled in {po_path(args[1]).relative_to(ROOT)}")  # noqa: T201
        return 0
    fresh = extract()
    failing = 0
    for language in languages():
        found = problems(language, fresh)
        if found:
            failing += 1
            print(f"{po_path(language).relative_to(ROOT)}: {len(found)} to fix")  # noqa: T201
            for line in found:
                print(f"  {line}")  # noqa: T201
    if not failing:
        print(f"Every catalog ({', '.join(languages())}) is complete.")  # noqa: T201
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
