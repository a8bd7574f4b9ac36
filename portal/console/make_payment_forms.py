"""The forms of the console's Make a payment (portal.console.make_payment).

Step 1 is a Flask-WTF form (`CriteriaForm`); its values are kept as typed in the user's draft
(portal.payments.drafts) and read into `staff_search.Criteria` here. Steps 3 and 4 carry one
amount box per selected line (`invoice-<id>`, `trust-<matter id>`), so, like the client's pay
pages, they are read with portal.payments.checkout_forms (amounts in the user's locale, card
and bank details, problems by field name) under the CSRF of `console.forms.ActionForm`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, DateField, StringField
from wtforms.validators import Length, Optional

from portal.money import MoneyError, parse_money
from portal.payers.models import ConsentScope
from portal.payments.checkout_forms import (
    FieldErrors,
    read_amount,
    read_bank,
    read_card,
    read_payment_method,
    typed,
)
from portal.payments.staff_payments import AUTHORISATIONS, Selection
from portal.payments.staff_search import Criteria
from portal.text import FormText, text_problem

#: The criteria a search keeps, by name (as typed).
CRITERIA = (
    "client",
    "matter",
    "invoice",
    "amount_from",
    "amount_to",
    "due_from",
    "due_to",
    "overdue_only",
)
#: The longest A/R message (the column's size) and how many receipt addresses one payment takes.
MAX_AR_NOTE = 200
MAX_RECEIPTS = 5


class CriteriaForm(FlaskForm):
    client = StringField(
        lazy_gettext("Client (name or id)"), validators=[Length(max=200), FormText()]
    )
    matter = StringField(
        lazy_gettext("Matter (number or title)"), validators=[Length(max=300), FormText()]
    )
    invoice = StringField(lazy_gettext("Invoice number"), validators=[Length(max=64), FormText()])
    amount_from = StringField(lazy_gettext("Amount from"), validators=[Length(max=30), FormText()])
    amount_to = StringField(lazy_gettext("Amount to"), validators=[Length(max=30), FormText()])
    due_from = DateField(lazy_gettext("Due from"), validators=[Optional()])
    due_to = DateField(lazy_gettext("Due to"), validators=[Optional()])
    overdue_only = BooleanField(lazy_gettext("Overdue only"))
    every_time = BooleanField(
        lazy_gettext("Use this every time (go straight to the results next time)")
    )

    def check_amounts(self, currency: str, locale: str) -> bool:
        """Amounts in the firm's currency, typed in the user's locale; the message by the box."""
        good = True
        for box in (self.amount_from, self.amount_to):
            if box.data and box.data.strip():
                try:
                    parse_money(box.data, currency, locale)
                except MoneyError:
                    box.errors = [*box.errors, gettext("Enter an amount such as 2,500.00.")]
                    good = False
        return good

    def kept(self) -> dict[str, str]:
        """The criteria as the draft keeps them (strings; dates as ISO, a tick as "1")."""
        values: dict[str, str] = {}
        for name in CRITERIA:
            data = getattr(self, name).data
            if isinstance(data, dt.date):
                values[name] = data.isoformat()
            elif isinstance(data, bool):
                if data:
                    values[name] = "1"
            elif data and str(data).strip():
                values[name] = str(data).strip()
        return values


def criteria_form(kept: Mapping[str, str], every_time: bool) -> CriteriaForm:
    """Step 1 filled in with the criteria kept in the draft."""
    form = CriteriaForm(formdata=None)
    for name in ("client", "matter", "invoice", "amount_from", "amount_to"):
        getattr(form, name).data = kept.get(name, "")
    form.due_from.data = _date(kept.get("due_from"))
    form.due_to.data = _date(kept.get("due_to"))
    form.overdue_only.data = kept.get("overdue_only") == "1"
    form.every_time.data = every_time
    return form


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _minor(text: str | None, currency: str, locale: str) -> int | None:
    if not text:
        return None
    try:
        return parse_money(text, currency, locale)
    except MoneyError:
        return None


def criteria_of(kept: Mapping[str, str], currency: str, locale: str) -> Criteria:
    """The kept criteria as a search (a value that no longer reads is left out)."""
    return Criteria(
        client=kept.get("client", ""),
        matter=kept.get("matter", ""),
        invoice=kept.get("invoice", ""),
        amount_from=_minor(kept.get("amount_from"), currency, locale),
        amount_to=_minor(kept.get("amount_to"), currency, locale),
        due_from=_date(kept.get("due_from")),
        due_to=_date(kept.get("due_to")),
        overdue_only=kept.get("overdue_only") == "1",
    )


# -- step 3: the allocation --------------------------------------------------------------------


@dataclass
class Amounts:
    """What was typed in step 3, as typed (a page shown again keeps it), and what it reads as."""

    typed: dict[str, str]
    invoices: dict[int, int]
    deposits: dict[int, int]
    total_minor: int | None


def read_amounts(
    form: MultiDict[str, str], chosen: Selection, locale: str, errors: FieldErrors
) -> Amounts:
    """The amount boxes of the selected lines and the total; an empty box is no line."""
    kept: dict[str, str] = {}
    invoices: dict[int, int] = {}
    deposits: dict[int, int] = {}
    for row in chosen.invoices:
        name = f"invoice-{row.id}"
        kept[name] = text = typed(form.get(name))
        if text and (amount := read_amount(text, row.currency, locale, name, errors)) is not None:
            invoices[row.id] = amount
    for matter in chosen.matters:
        name = f"trust-{matter.id}"
        kept[name] = text = typed(form.get(name))
        if (
            text
            and (amount := read_amount(text, matter.currency, locale, name, errors)) is not None
        ):
            deposits[matter.id] = amount
    kept["total"] = total_text = typed(form.get("total"))
    total = None
    if total_text:
        currencies = {row.currency for row in chosen.invoices}
        if len(currencies) != 1:
            errors.add("total", gettext("There is no single amount due to apply a total to."))
        else:
            total = read_amount(total_text, currencies.pop(), locale, "total", errors)
    return Amounts(typed=kept, invoices=invoices, deposits=deposits, total_minor=total)


# -- step 4a: manual entry ---------------------------------------------------------------------


@dataclass
class ManualEntry:
    payer_name: str
    method: str
    receipts: list[str]
    ar_note: str | None
    authorised_by: str | None
    payer_email: str | None = None
    #: An existing payer's saved method ("<payer id>", "<method id>"), else a new payer.
    saved: tuple[str, str] | None = None
    #: The payer agreed on the phone to this payment ("this payment only" methods).
    phone_consent: bool = False
    #: Keep the new payer and method, with consent of this scope.
    save_scope: ConsentScope | None = None


#: Longest public id a form may name (payers and saved methods use 12 to 32 characters).
_MAX_ID = 32


def _saved_choice(value: str, errors: FieldErrors) -> tuple[str, str] | None:
    payer_id, _, method_id = value.partition(":")
    if not (0 < len(payer_id) <= _MAX_ID and 0 < len(method_id) <= _MAX_ID):
        errors.add("payer_choice", gettext("Choose a saved payment method or a new payer."))
        return None
    return payer_id, method_id


def _email(form: MultiDict[str, str], errors: FieldErrors) -> str | None:
    text = (form.get("payer_email") or "").strip()
    if not text:
        return None
    try:
        return str(validate_email(text, check_deliverability=False).normalized)[:254]
    except EmailNotValidError:
        errors.add("payer_email", gettext("Enter an email address such as name@example.com."))
        return None


def read_receipts(text: str, errors: FieldErrors) -> list[str]:
    """Comma-separated addresses, each checked; none typed is none (no receipt is sent)."""
    found: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            found.append(str(validate_email(part, check_deliverability=False).normalized))
        except EmailNotValidError:
            errors.add(
                "receipts", gettext("%(address)s is not an email address.", address=part[:80])
            )
    found = list(dict.fromkeys(found))
    if len(found) > MAX_RECEIPTS or len(", ".join(found)) > 254:
        errors.add(
            "receipts",
            gettext("Send receipts to at most %(count)s addresses.", count=MAX_RECEIPTS),
        )
    return found


def read_ar_note(
    form: MultiDict[str, str], errors: FieldErrors, name: str = "ar_note"
) -> str | None:
    """The custom A/R message (one line, at most 200 characters); none typed is None."""
    note = (form.get(name) or "").strip()
    if len(note) > MAX_AR_NOTE:
        errors.add(name, gettext("Use at most %(count)s characters.", count=MAX_AR_NOTE))
    elif note and text_problem(note) is not None:
        errors.add(name, gettext("Use letters, digits and punctuation only, on one line."))
    return note or None


def read_manual_entry(
    form: MultiDict[str, str],
    errors: FieldErrors,
    *,
    on_stripe: bool = False,
    bank_on_stripe: bool = False,
) -> tuple[ManualEntry, Any]:
    """The payer (a saved method, or a new payer with a card or bank account and whether to
    save them), the receipts and the A/R message of step 4a. On Stripe (`on_stripe`) a card
    is only the PaymentMethod id Stripe's Payment Element made in the browser; a bank debit
    going to Stripe (`bank_on_stripe`) needs the payer's email, for Stripe's micro-deposits."""
    choice = form.get("payer_choice", "new") or "new"
    if choice != "new":
        saved = _saved_choice(choice, errors)
        entry = ManualEntry(
            payer_name="",
            method="saved",
            receipts=read_receipts(form.get("receipts", ""), errors),
            ar_note=read_ar_note(form, errors),
            authorised_by=None,
            saved=saved,
            phone_consent=form.get("phone_consent") == "yes",
        )
        return entry, None
    name = (form.get("payer_name") or "").strip()[:200]
    if not name:
        errors.add("payer_name", gettext("Enter the payer's name."))
    elif text_problem(name) is not None:
        errors.add("payer_name", gettext("Use letters, digits and punctuation only, on one line."))
    method = form.get("method", "")
    authorised_by = None
    if method == "card" and on_stripe:
        instrument = read_payment_method(form, errors)
    elif method == "card":
        instrument = read_card(form, errors)
    elif method == "ach":
        instrument = read_bank(form, errors)
        authorised_by = form.get("authorised_by")
        if authorised_by not in AUTHORISATIONS:
            errors.add(
                "authorised_by",
                gettext("Say how the payer authorized the debit: a recorded call or in writing."),
            )
    else:
        errors.add("method", gettext("Choose card or bank account."))
        instrument = None
    save_scope = None
    if form.get("save_payer") == "yes":
        scope = form.get("consent_scope", "")
        if scope in {s.value for s in ConsentScope}:
            save_scope = ConsentScope(scope)
        else:
            errors.add(
                "consent_scope",
                gettext("Choose what the payer agreed to: this payment only, or future payments."),
            )
    payer_email = _email(form, errors)
    if method == "ach" and bank_on_stripe and payer_email is None and "payer_email" not in errors:
        errors.add(
            "payer_email",
            gettext("Enter the payer's email: Stripe emails them how to verify the bank account."),
        )
    entry = ManualEntry(
        payer_name=name,
        method=method,
        receipts=read_receipts(form.get("receipts", ""), errors),
        ar_note=read_ar_note(form, errors),
        authorised_by=authorised_by,
        payer_email=payer_email,
        save_scope=save_scope,
    )
    return entry, instrument
