"""Settings (admins only): the firm's settings and each merchant account's posting defaults.

The firm's form calls `portal.firms.settings.update_firm_settings` (as PATCH /firm does) and
each account's form `portal.payments.account_settings.update_merchant_account` (as PATCH
/merchant-accounts/{id} does), both with the signed-in admin as the audit actor and the
optional reason typed with the change (`settings_forms.ReasonForm`). A refused
value comes back next to its field, with everything typed kept. The back office's lists, once
synced, are the dropdowns of the account codes they govern.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from babel import Locale
from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext, lazy_gettext, ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from portal.audit.services import Actor
from portal.console.auth import admin_required, bp
from portal.console.settings_forms import ReasonForm, section_forms
from portal.errors import Conflict, ValidationFailed
from portal.firms import services as firms
from portal.firms.account_lists import LISTS, lists_of
from portal.firms.branding import MIN_CONTRAST, contrast_with_white
from portal.firms.embed import embed_snippet, logo_url, public_url
from portal.firms.models import AutoApplyOrder, Firm, MerchantAccount
from portal.firms.services import firm_currency
from portal.firms.settings import update_firm_settings
from portal.payments import account_settings
from portal.postings.holding import held_count

#: What a refused firm setting reads as, by field (the service's own words are English).
SETTING_MESSAGES: Mapping[str, Any] = {
    "notify_email": lazy_gettext("Enter a valid email address."),
    "contact_email": lazy_gettext("Enter a valid email address."),
    "time_zone": lazy_gettext("Enter a time zone such as America/New_York."),
    "contact_phone": lazy_gettext("Enter a phone number such as +1 (212) 555-0100."),
    "website": lazy_gettext("Enter a web address such as https://www.example-firm.com."),
    "auto_apply_order": lazy_gettext("Choose one of the orders listed."),
}
#: Any other refused text setting.
TEXT_MESSAGE = lazy_gettext("This text is too long or has characters that cannot be used.")
#: What a refused merchant account field reads as, by the service's problem code.
ACCOUNT_MESSAGES: Mapping[str, Any] = {
    "label_empty": lazy_gettext("Enter a label."),
    "label_too_long": lazy_gettext("Use at most 100 characters."),
    "text_invalid": lazy_gettext("This text has characters that cannot be used."),
    "language_unsupported": lazy_gettext("This language is not supported."),
    "code_not_listed": lazy_gettext("Choose one of the back office's codes."),
}


#: The settings of the first form (the others have their own sections: settings_forms).
FIRM_FIELDS = (
    "auto_post",
    "use_posted_date",
    "ar_message",
    "notify_email",
    "time_zone",
    "contact_email",
    "contact_phone",
    "postal_address",
    "website",
    "email_message",
    "email_signature",
    "auto_apply_order",
)


class FirmSettingsForm(ReasonForm):
    auto_post = BooleanField(lazy_gettext("Post payments to the back office automatically"))
    use_posted_date = BooleanField(lazy_gettext("Use the posted date as the transaction date"))
    ar_message = StringField(lazy_gettext("A/R message"), validators=[Length(max=400)])
    notify_email = StringField(lazy_gettext("Email for alerts"), validators=[Length(max=400)])
    time_zone = StringField(lazy_gettext("Time zone"), validators=[Length(max=100)])
    contact_email = StringField(lazy_gettext("Contact email"), validators=[Length(max=400)])
    contact_phone = StringField(lazy_gettext("Contact phone"), validators=[Length(max=100)])
    postal_address = TextAreaField(lazy_gettext("Postal address"), validators=[Length(max=1000)])
    website = StringField(lazy_gettext("Website"), validators=[Length(max=400)])
    email_message = TextAreaField(
        lazy_gettext("Message in link emails"), validators=[Length(max=4000)]
    )
    email_signature = TextAreaField(
        lazy_gettext("Signature of link emails"), validators=[Length(max=2000)]
    )
    #: The use case checks the value (so a forged one is refused by field, like the API's).
    auto_apply_order = SelectField(
        lazy_gettext("Order a typed total pays invoices in"),
        choices=[
            SelectChoice(AutoApplyOrder.OLDEST_DUE.value, lazy_gettext("Oldest due date first")),
            SelectChoice(AutoApplyOrder.OLDEST_ISSUED.value, lazy_gettext("Oldest issued first")),
            SelectChoice(AutoApplyOrder.SMALLEST_FIRST.value, lazy_gettext("Smallest first")),
        ],
        validate_choice=False,
    )

    def changes(self) -> dict[str, Any]:
        """Every setting as the use case takes it (a blank text clears its setting)."""
        values: dict[str, Any] = {}
        for name in FIRM_FIELDS:
            value = getattr(self, name).data
            if name == "auto_apply_order" and not value:
                continue  # a form without the choice leaves the order as it is
            values[name] = bool(value) if isinstance(value, bool) else (value or None)
        return values


def firm_form(firm: Firm, formdata: Any = None) -> FirmSettingsForm:
    if formdata is not None:
        return FirmSettingsForm(formdata=formdata)
    data = {name: getattr(firm, name) for name in FIRM_FIELDS}
    return FirmSettingsForm(formdata=None, data=data)


def _languages() -> list[str]:
    """The languages an account's label may have besides its default label."""
    return [lang for lang in firms.supported_languages() if lang != "en"]


def _language_name(lang: str) -> str:
    """`lang` ("es") named in the page's language ("Spanish", "español")."""
    return str(Locale.parse(lang).get_display_name(str(get_locale() or "en")))


def account_form(
    account: MerchantAccount, lists: Mapping[str, list[dict[str, str]] | None], formdata: Any
) -> FlaskForm:
    """The form of one merchant account: a dropdown for each code whose list is synced."""

    class AccountForm(ReasonForm):
        label = StringField(lazy_gettext("Label"), validators=[Length(max=400)])
        accepts_card = BooleanField(lazy_gettext("Accepts cards"))
        accepts_ach = BooleanField(lazy_gettext("Accepts bank payments (ACH)"))

    for lang in _languages():
        setattr(
            AccountForm,
            f"labels_{lang}",
            StringField(
                lazy_gettext("Label in %(language)s", language=_language_name(lang)),
                validators=[Length(max=400)],
            ),
        )
    names = {
        "ledger_code": lazy_gettext("Ledger code"),
        "transaction_type": lazy_gettext("Transaction type"),
        "bank_account_code": lazy_gettext("Bank account"),
    }
    for list_name, code_field in LISTS.items():
        entries = lists.get(list_name)
        label = names[code_field]
        field: Field
        if entries is None:
            field = StringField(label, validators=[Length(max=200)])
        else:
            choices = [SelectChoice("", gettext("(none)"))] + [
                SelectChoice(
                    entry["code"], f"{entry['code']} · {entry.get('name', '')}".rstrip(" ·")
                )
                for entry in entries
            ]
            current = getattr(account, code_field)
            if current and current not in {choice.value for choice in choices}:
                choices.append(SelectChoice(current, current))
            field = SelectField(label, choices=choices, validate_choice=False)
        setattr(AccountForm, code_field, field)
    # Its own separator: WTForms adds "-" only when the prefix does not end in "-" or "_",
    # and a public id ends in one of them one time in 32 (see console.unmatched.form_prefix).
    prefix = f"acct-{account.public_id}-"
    if formdata is not None:
        return AccountForm(formdata=formdata, prefix=prefix)
    data: dict[str, Any] = {
        "label": account.label,
        "accepts_card": account.accepts_card,
        "accepts_ach": account.accepts_ach,
        "ledger_code": account.ledger_code or "",
        "transaction_type": account.transaction_type or "",
        "bank_account_code": account.bank_account_code or "",
    }
    for lang in _languages():
        data[f"labels_{lang}"] = (account.labels or {}).get(lang, "")
    return AccountForm(formdata=None, data=data, prefix=prefix)


def _account_changes(form: Any) -> dict[str, Any]:
    labels = {
        lang: getattr(form, f"labels_{lang}").data.strip()
        for lang in _languages()
        if (getattr(form, f"labels_{lang}").data or "").strip()
    }
    return {
        "label": form.label.data or "",
        "labels": labels,
        "ledger_code": form.ledger_code.data or None,
        "transaction_type": form.transaction_type.data or None,
        "bank_account_code": form.bank_account_code.data or None,
        "accepts_card": bool(form.accepts_card.data),
        "accepts_ach": bool(form.accepts_ach.data),
    }


def place_problems(form: FlaskForm, problems: Iterable[Mapping[str, Any]], messages: Any) -> None:
    """Put each problem of a use case next to the field its pointer names."""
    for problem in problems:
        where = str(problem.get("pointer") or problem.get("field") or "").strip("/")
        name = where.replace("/", "_")
        text = str(messages(name, problem))
        field = getattr(form, name, None)
        if isinstance(field, Field):
            field.errors = [*field.errors, text]
        else:
            form.form_errors.append(text)


def _setting_message(name: str, problem: Mapping[str, Any]) -> Any:
    return SETTING_MESSAGES.get(name, TEXT_MESSAGE)


def _account_message(name: str, problem: Mapping[str, Any]) -> Any:
    return ACCOUNT_MESSAGES.get(str(problem.get("code")), problem.get("detail", ""))


def settings_page(
    firm_settings: FirmSettingsForm | None = None,
    edited: tuple[str, FlaskForm] | None = None,
    status: int = 200,
    section: tuple[str, FlaskForm] | None = None,
) -> ResponseReturnValue:
    """The Settings page; `firm_settings`, `edited` (an account's) or `section` (one of
    settings_forms') is a form that came back refused, shown as it was sent."""
    firm = g.staff.firm
    lists = lists_of(firm.id)
    accounts = firms.merchant_accounts_of(firm.id)
    forms = {
        account.public_id: (
            edited[1]
            if edited is not None and edited[0] == account.public_id
            else account_form(account, lists, None)
        )
        for account in accounts
    }
    sections = section_forms(firm)
    if section is not None:
        sections[section[0]] = section[1]
    return render_template(
        "console/settings.html",
        sections=sections,
        contrast=brand_contrast(firm.brand_colour),
        minimum_contrast=MIN_CONTRAST,
        logo_url=logo_url(firm),
        origins=list(firm.website_origins or []),
        snippet=embed_snippet(firm),
        pay_url=public_url("paybutton.start", slug=firm.slug),
        currency=firm_currency(firm.id),
        firm_settings=firm_settings or firm_form(firm),
        accounts=accounts,
        account_forms=forms,
        languages=_languages(),
        synced={field: lists[name] is not None for name, field in LISTS.items()},
        default_zone=firms.default_time_zone(),
    ), status


def brand_contrast(colour: str | None) -> str | None:
    """White text's contrast on `colour` as the page shows it ("7.10"), or None."""
    if not colour:
        return None
    try:
        ratio = contrast_with_white(colour)
    except ValueError:
        return None
    # Rounded down, as static/js/brand-contrast.js shows it: 4.499 never reads as 4.50.
    return f"{math.floor(ratio * 100) / 100:.2f}"


def actor() -> Actor:
    """The signed-in admin, as the audit log names them."""
    return Actor.staff(g.staff.id)


@bp.get("/settings")
@admin_required
def settings() -> ResponseReturnValue:
    return settings_page()


@bp.post("/settings")
@admin_required
def update_settings() -> ResponseReturnValue:
    firm = g.staff.firm
    form = firm_form(firm, request.form)
    if not form.validate_on_submit():
        return settings_page(form, status=422)
    was_auto = firm.auto_post
    try:
        updated = update_firm_settings(firm.id, form.changes(), actor(), reason=form.given_reason())
    except ValidationFailed as exc:
        place_problems(form, exc.errors, _setting_message)
        return settings_page(form, status=422)
    flash(gettext("Settings saved."), "info")
    if updated.auto_post and not was_auto:
        held = held_count(firm.id)
        if held:
            flash(
                ngettext(
                    "%(num)s posting is still held: automatic posting sends only new ones. "
                    "Release the held one from Postings.",
                    "%(num)s postings are still held: automatic posting sends only new ones. "
                    "Release the held ones from Postings.",
                    held,
                ),
                "warn",
            )
    return redirect(url_for("console.settings"), code=303)


@bp.post("/settings/accounts/<public_id>")
@admin_required
def update_account(public_id: str) -> ResponseReturnValue:
    firm_id = g.staff.firm_id
    account = firms.merchant_account_for_firm(firm_id, public_id)  # another firm's: 404
    form = account_form(account, lists_of(firm_id), request.form)
    if not form.validate_on_submit():
        return settings_page(edited=(public_id, form), status=422)
    try:
        account_settings.update_merchant_account(
            firm_id,
            public_id,
            _account_changes(form),
            actor=actor(),
            reason=form.given_reason(),
        )
    except ValidationFailed as exc:
        place_problems(form, exc.errors, _account_message)
        return settings_page(edited=(public_id, form), status=422)
    except (Conflict, account_settings.ProcessorUnavailable) as exc:
        form.form_errors.append(str(exc.detail or exc))
        return settings_page(edited=(public_id, form), status=exc.status)
    flash(gettext("Account %(label)s saved.", label=form.label.data), "info")
    return redirect(url_for("console.settings") + f"#account-{public_id}", code=303)
