"""Every client-facing template says everything through the catalogs: no bare English.

Each template under templates/ is read with Jinja's own lexer; everything inside {{ }}, {% %}
and {# #} is set aside, and so is the text of {% trans %} blocks. What is left is the markup
and the literal text. In HTML, the text nodes and the attributes people read or hear (alt,
title, placeholder, aria-label, data-text-*, button values...) must then hold no letters at
all: a word there is a word no Spanish reader will ever see translated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

#: Templates no client ever sees, each with the reason. Keep this empty unless a template is
#: only for the firm's staff or for machines; client pages and emails never belong here.
NOT_CLIENT_FACING: dict[str, str] = {}

#: Words that are the same in every language: the product's name.
NEVER_TRANSLATED = ("MatterPay",)

#: Attributes whose values are read or heard by people.
HUMAN_ATTRIBUTES = {
    "alt",
    "title",
    "placeholder",
    "label",
    "summary",
    "abbr",
    "aria-label",
    "aria-description",
    "aria-placeholder",
    "aria-roledescription",
    "aria-valuetext",
}

#: Stands in for every Jinja expression and tag: a character that is not a letter.
HOLE = "\ue000"
LETTER = re.compile(r"[^\W\d_]")
#: Attributes written as text by a macro that emits them into a tag ({{ invalid(...) }}).
ATTRIBUTE_TEXT = re.compile(r"(?<![\w-])[a-z][\w:-]*=\"[^\"]*\"")

HOW_TO_FIX = (
    'Wrap it for translation: {{ _("...") }} for a phrase, {% trans name=value %}... '
    "{{ name }}...{% endtrans %} for a sentence with values in it (ngettext or {% pluralize %} "
    "where a count appears). Then run `make messages` and translate the new entry in "
    "portal/translations/es/LC_MESSAGES/messages.po (the catalog test lists what is missing). "
    "A template that no client ever sees goes into NOT_CLIENT_FACING in "
    "tests/i18n/test_templates.py with the reason."
)


@dataclass(frozen=True)
class Untranslated:
    template: str
    line: int
    where: str  # "text" or the attribute's name
    text: str

    def __str__(self) -> str:
        return f"{self.template}:{self.line}: untranslated {self.where} {self.text!r}"


def literal_source(source: str) -> str:
    """The template with every Jinja construct (and the text of trans blocks) replaced by HOLE.

    Newlines are kept, so line numbers in the result are the template's own.
    """
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    out: list[str] = []
    in_trans = False
    tag: list[str] | None = None  # the names inside the current {% %}, while reading it
    for _line, kind, value in env.lex(source):
        if kind == "data":
            out.append(HOLE + "\n" * value.count("\n") if in_trans else value)
        elif kind in ("variable_begin", "comment_begin"):
            out.append(HOLE)
        elif kind == "block_begin":
            tag = []
            out.append(HOLE)
        elif kind == "name" and tag is not None:
            tag.append(value)
        elif kind == "block_end":
            if tag and tag[0] == "trans":
                in_trans = True
            elif tag and tag[0] == "endtrans":
                in_trans = False
            tag = None
            out.append("\n" * value.count("\n"))
        else:
            out.append("\n" * str(value).count("\n"))
    return "".join(out)


class _Reader(HTMLParser):
    def __init__(self, template: str) -> None:
        super().__init__(convert_charrefs=True)
        self.template = template
        self.found: list[Untranslated] = []
        self._hidden = 0  # inside <script> or <style>: not human text

    def _check(self, where: str, text: str | None) -> None:
        if not text:
            return
        bare = text.replace(HOLE, " ")
        for word in NEVER_TRANSLATED:
            bare = bare.replace(word, " ")
        if LETTER.search(bare):
            line = self.getpos()[0]
            self.found.append(Untranslated(self.template, line, where, " ".join(bare.split())))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        values = dict(attrs)
        for name, value in attrs:
            if (
                name in HUMAN_ATTRIBUTES
                or (name.startswith("data-") and name.endswith("-text"))
                or name.startswith("data-text")
                or (
                    name == "value"
                    and tag == "input"  # a <button> shows its content, not its value
                    and values.get("type") in ("submit", "button", "reset")
                )
            ):
                self._check(f'attribute {name}="…"', value)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._check("text", ATTRIBUTE_TEXT.sub(" ", data))


def untranslated(name: str, source: str) -> list[Untranslated]:
    """The bare human text left in a template (HTML, or plain text for .txt emails)."""
    literal = literal_source(source)
    if name.endswith(".txt"):
        found = []
        for number, line in enumerate(literal.splitlines(), start=1):
            bare = line.replace(HOLE, " ")
            for word in NEVER_TRANSLATED:
                bare = bare.replace(word, " ")
            if LETTER.search(bare):
                found.append(Untranslated(name, number, "text", " ".join(bare.split())))
        return found
    reader = _Reader(name)
    reader.feed(literal)
    reader.close()
    return reader.found


def client_templates() -> list[str]:
    names = sorted(
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*")
        if path.suffix in (".html", ".txt")
    )
    return [name for name in names if name not in NOT_CLIENT_FACING]


def test_there_are_templates_to_check() -> None:
    names = client_templates()
    assert "base.html" in names
    assert "email/receipt/body.txt" in names


@pytest.mark.parametrize("name", client_templates())
def test_template_has_no_untranslated_text(name: str) -> None:
    found = untranslated(name, (TEMPLATES / name).read_text(encoding="utf-8"))
    assert not found, "\n".join([*map(str, found), HOW_TO_FIX])


def test_exemptions_name_real_templates() -> None:
    for name in NOT_CLIENT_FACING:
        assert (TEMPLATES / name).is_file(), f"NOT_CLIENT_FACING names a missing template {name}"


# -- the checker itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<p>Pay now</p>", ["text 'Pay now'"]),
        ('<a href="/x" title="Close">{{ _("Go") }}</a>', ["attribute title=\"…\" 'Close'"]),
        ('<div aria-label="Menu"></div>', ["attribute aria-label=\"…\" 'Menu'"]),
        (
            '<form data-text-total="Total: {amount}"></form>',
            ["attribute data-text-total=\"…\" 'Total: {amount}'"],
        ),
        ('<button data-busy-text="Wait"></button>', ["attribute data-busy-text=\"…\" 'Wait'"]),
        ('<input type="submit" value="Send">', ["attribute value=\"…\" 'Send'"]),
        ('<button type="submit" name="action" value="review">{{ _("Review") }}</button>', []),
        ("<p>{{ amount }} due</p>", ["text 'due'"]),
        ("<p>{% if x %}Paid{% endif %}</p>", ["text 'Paid'"]),
        ("<p>{{ _('Pay now') }}</p>", []),
        ("<p>{% trans n=1 %}{{ n }} item{% pluralize %}{{ n }} items{% endtrans %}</p>", []),
        ("{# a comment in English #}<p>{{ x }}: {{ y }} · ••••</p>", []),
        ('<a class="button" href="{{ url }}" data-pay-line="invoice">{{ _("Pay") }}</a>', []),
        ('<input type="text" value="{{ typed }}" name="amount">', []),
        ("<title>{{ _('Receipt') }} · MatterPay</title>", []),
        ("<script>var never = 'shown';</script>", []),
        ('{% macro m(e) %}{% if e %} aria-invalid="true"{% endif %}{% endmacro %}', []),
    ],
)
def test_the_checker_finds_bare_text(source: str, expected: list[str]) -> None:
    found = [f"{item.where} {item.text!r}" for item in untranslated("t.html", source)]
    assert found == expected


def test_the_checker_reads_plain_text_emails_and_gives_the_line() -> None:
    source = "{{ _('Total') }}: {{ amount }}\n\nThanks,\n{{ firm }}\n"
    (found,) = untranslated("email/x/body.txt", source)
    assert (found.line, found.text) == (3, "Thanks,")


def test_the_checker_gives_the_template_line() -> None:
    source = "{#- a comment\n over two lines -#}\n<p>\n{{ _('Fine') }}\n</p>\n<p>Bare</p>\n"
    (found,) = untranslated("t.html", source)
    assert (found.line, found.text) == (6, "Bare")


# -- messages the extractor cannot see -----------------------------------------------------------

GETTEXT_NAMES = {"_", "gettext", "ngettext", "pgettext", "npgettext"}


def dynamic_messages(source: str) -> list[int]:
    """Lines where a gettext call gets a computed message (`_(status)`): Babel cannot extract
    it, so no catalog ever has it. Map the values to literal messages instead."""
    from jinja2 import nodes

    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    tree = env.parse(source)
    lines = []
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in GETTEXT_NAMES:
            literal = [arg for arg in call.args if isinstance(arg, nodes.Const)]
            wanted = 2 if call.node.name in ("ngettext", "pgettext") else 1
            wanted = 3 if call.node.name == "npgettext" else wanted
            if len(literal) < min(wanted, len(call.args)) or not call.args:
                lines.append(call.lineno)
    return lines


@pytest.mark.parametrize("name", client_templates())
def test_every_message_is_a_literal(name: str) -> None:
    lines = dynamic_messages((TEMPLATES / name).read_text(encoding="utf-8"))
    assert not lines, (
        f"{name}: line(s) {lines} call _() on a computed value, which no catalog can hold. "
        'Spell out each message: {% if status == "paid" %}{{ _("Paid") }}{% endif %} (see '
        "templates/payments/_status.html)."
    )


def test_the_literal_check_finds_computed_messages() -> None:
    assert dynamic_messages("<p>{{ _(status) }}</p>\n{{ _('Fine') }}") == [1]
    assert dynamic_messages("{{ ngettext('a', 'b', n) }}{{ _('x %(n)s', n=1) }}") == []
