"""|cached (portal.templating): a macro's markup kept by the value it renders and the locale."""

from __future__ import annotations

import pytest
from flask import Flask

from portal import i18n

ROW = (
    '{% macro row(line) %}<td data-label="{{ _("Due") }}">{{ line[0] }}: '
    '{{ line[1]|money("USD") }}</td>{% endmacro %}'
    "{{ line|cached(row) }}"
)


def _render(app: Flask, locale: str, line: tuple[str, int], source: str = ROW) -> str:
    with app.test_request_context("/"):
        i18n.use_locale(locale)
        return app.jinja_env.from_string(source).render(line=line)


def test_the_markup_follows_the_value(app: Flask) -> None:
    assert _render(app, "en_US", ("A & B", 1250)) == '<td data-label="Due">A &amp; B: $12.50</td>'
    assert _render(app, "en_US", ("A & B", 1250)) == '<td data-label="Due">A &amp; B: $12.50</td>'
    assert _render(app, "en_US", ("A & B", 1251)) == '<td data-label="Due">A &amp; B: $12.51</td>'


def test_the_markup_follows_the_locale(app: Flask) -> None:
    english = _render(app, "en_US", ("INV-1", 1250))
    spanish = _render(app, "es_US", ("INV-1", 1250))
    assert english == '<td data-label="Due">INV-1: $12.50</td>'
    assert spanish == '<td data-label="Vencimiento">INV-1: $12.50</td>'


def test_a_changed_macro_is_rendered_anew(app: Flask) -> None:
    assert _render(app, "en_US", ("x", 1)) == '<td data-label="Due">x: $0.01</td>'
    changed = ROW.replace("<td ", '<td class="num" ')
    assert _render(app, "en_US", ("x", 1), changed).startswith('<td class="num"')


def test_only_autoescaped_markup_is_kept(app: Flask) -> None:
    plain = app.jinja_env.overlay(autoescape=False)
    with app.test_request_context("/"), pytest.raises(TypeError, match="autoescaped"):
        plain.from_string(ROW).render(line=("x", 1))
