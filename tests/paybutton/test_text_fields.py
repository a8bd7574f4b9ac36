"""The public pay page's free-text boxes keep to the portal's one rule for text: a NUL, a
control character or a line break in the payer's name, email or reference is the form's error
next to the box (422), never a 500 (PostgreSQL cannot store a NUL) and never a payment."""

from __future__ import annotations

import pytest

from tests.paybutton.test_pages import (  # noqa: F401 (`books`, `browser` are fixtures)
    PAYER,
    books,
    browser,
    payments_of,
    start,
)
from tests.payments.test_views import BASE_URL, VISA, text_of


@pytest.mark.parametrize("field", ["name", "reference", "email"])
@pytest.mark.parametrize("bad", ["\x00", "\x1b[2J", "\u2028", "\x85", "\r\nBcc: x@example.com"])
def test_a_control_in_a_box_is_the_boxs_error(browser, books, field: str, bad: str) -> None:  # noqa: F811
    # given
    form = start(browser, books["firm"].slug)
    typed = {**PAYER, "reference": "INV-1001", "amount": "20"}
    typed[field] = typed[field][:4] + bad + typed[field][4:]
    form.fill(typed)

    # when
    response = form.submit()

    # then
    assert response.status_code == 422, text_of(response.text)
    assert "without control characters" in text_of(response.text) or field == "email"
    assert payments_of(books["firm"].id) == []


def test_the_message_speaks_the_pages_language(browser, books, client) -> None:  # noqa: F811
    form = start(browser, books["firm"].slug)
    form.fill({**PAYER, "name": "Ana\x00", "reference": "INV-1001", "amount": "20"})
    response = client.post(
        f"/pay/{books['firm'].slug}/review",
        data=dict(form.fields),
        base_url=BASE_URL,
        headers={"Accept-Language": "es-US,es;q=0.9", "Referer": f"{BASE_URL}/pay"},
    )
    assert response.status_code == 422
    assert "sin caracteres de control" in text_of(response.text)


def test_a_control_in_the_card_holders_name_is_its_error(browser, books) -> None:  # noqa: F811
    form = start(browser, books["firm"].slug)
    form.fill({**PAYER, "reference": "INV-1001", "amount": "20", "method": "card"})
    review = form.submit()
    assert review.status_code == 200, text_of(review.text)
    confirm = browser.form(review, "confirm").fill(VISA)
    confirm.set("card_name", "Grace\x00Parent")

    response = confirm.submit()

    assert response.status_code == 422, text_of(response.text)
    assert "without control characters" in text_of(response.text)
    assert payments_of(books["firm"].id) == []
