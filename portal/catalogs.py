"""The message catalogs as files: extract the strings afresh, check a catalog, compile stale ones.

Used by the tests (a catalog that misses a string fails the suite), by `make messages` (which
lists what is left to translate) and by the test session (which compiles a .po newer than its
.mo, so a `git pull` never runs the suite on stale translations).

    python -m portal.catalogs          # list what each catalog misses; exit 1 if anything
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

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


def main() -> int:
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
