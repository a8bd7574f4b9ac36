"""Make a payment (any staff), steps 1 to 3: search criteria, search and tick, allocate.

Step 1 (`GET /console/make-payment`) asks how to search; "use this every time" keeps the
criteria and opens step 2 directly next time. Step 2 (`.../results`) lists the firm's open
invoices and matters that fit, with trust balance and minimum; the ticks are kept server-side
in the user's draft (portal.payments.drafts), so further searches and changed criteria add to
one selection; `?view=selected` shows the selection. Step 3 (`.../allocate`) takes an amount
per line, or a total applied in the firm's order (trust lines by hand only), and previews what
stays owed; the server recomputes it all (portal.payments.staff_payments.plan_for) and the
preview carries step 4's two forms (portal.console.make_payment_pay).
"""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext

from portal import security
from portal.billing.services import client_by_id
from portal.console.auth import bp, staff_required
from portal.console.forms import ActionForm
from portal.console.make_payment_forms import CriteriaForm, criteria_form, criteria_of, read_amounts
from portal.console.make_payment_payers import all_words, payer_choices
from portal.firms.models import AutoApplyOrder
from portal.firms.services import firm_today
from portal.money import to_plain
from portal.payments import allocation, drafts, staff_payments, staff_search
from portal.payments.checkout_forms import FieldErrors, new_nonce
from portal.payments.staff_payments import Selection, StaffPlan

VIEWS = ("search", "selected")


def locale() -> str:
    return str(get_locale() or "en_US")


def firm_currency() -> str:
    """The currency amounts in the criteria are typed in: the firm's first account's."""
    accounts = g.staff.firm.merchant_accounts
    return accounts[0].currency if accounts else "USD"


def current_selection() -> Selection:
    draft = drafts.draft_for(g.staff.id, g.staff.firm_id)
    return staff_payments.selection(
        g.staff.firm_id, drafts.selected_items(draft), firm_today(g.staff.firm)
    )


def _no_store(page: str, status: int = 200) -> ResponseReturnValue:
    return page, status, {"Cache-Control": "no-store"}


# -- step 1 -----------------------------------------------------------------------------------


@bp.get("/make-payment", endpoint="make_payment")
@staff_required
def criteria_page() -> ResponseReturnValue:
    draft = drafts.draft_for(g.staff.id, g.staff.firm_id)
    if draft.criteria_saved and "edit" not in request.args:
        return _results(draft.criteria, "search")
    return _criteria(criteria_form(draft.criteria, draft.criteria_saved))


def _criteria(form: CriteriaForm, status: int = 200) -> ResponseReturnValue:
    count = len(drafts.selected_items(drafts.draft_for(g.staff.id, g.staff.firm_id)))
    page = render_template("console/make_payment.html", step=1, form=form, selected_count=count)
    return _no_store(page, status)


@bp.post("/make-payment/search")
@staff_required
def search() -> ResponseReturnValue:
    form = CriteriaForm()
    if not form.validate_on_submit() or not form.check_amounts(firm_currency(), locale()):
        return _criteria(form, 422)
    drafts.save_criteria(
        g.staff.id, g.staff.firm_id, form.kept(), every_time=bool(form.every_time.data)
    )
    return redirect(url_for("console.make_payment_results"), code=303)


# -- step 2 -----------------------------------------------------------------------------------


@bp.get("/make-payment/results")
@staff_required
def make_payment_results() -> ResponseReturnValue:
    draft = drafts.draft_for(g.staff.id, g.staff.firm_id)
    view = request.args.get("view", "search")
    return _results(draft.criteria, view if view in VIEWS else "search")


def _results(kept: dict[str, str], view: str, **extra: Any) -> ResponseReturnValue:
    firm_id = g.staff.firm_id
    chosen = current_selection()
    if view == "selected":
        found = staff_search.Found(invoices=chosen.invoices, matters=chosen.matters)
    else:
        criteria = criteria_of(kept, firm_currency(), locale())
        found = staff_search.search(firm_id, criteria, firm_today(g.staff.firm))
    ticked = {("invoice", row.id) for row in chosen.invoices}
    ticked |= {("matter", row.id) for row in chosen.matters}
    page = render_template(
        "console/make_payment.html",
        step=2,
        view=view,
        kept=kept,
        found=found,
        ticked=ticked,
        selected_count=len(ticked),
        action=ActionForm(),
        **extra,
    )
    return _no_store(page)


def _items(values: list[str]) -> list[drafts.Item]:
    items: list[drafts.Item] = []
    for value in values[: drafts.MAX_SELECTED * 2]:
        kind, _, number = value.partition("-")
        if kind in drafts.KINDS and number.isdigit() and len(number) <= 18:
            items.append((kind, int(number)))
    return items


@bp.post("/make-payment/select")
@staff_required
def select() -> ResponseReturnValue:
    """Tick exactly the ticked lines among those the page showed; the rest keep their ticks."""
    view = request.form.get("view", "search")
    view = view if view in VIEWS else "search"
    if not ActionForm().validate_on_submit():
        draft = drafts.draft_for(g.staff.id, g.staff.firm_id)
        return _results(
            draft.criteria, view, problems=[gettext("The form had expired. Please send it again.")]
        )
    drafts.update_ticks(
        g.staff.id,
        g.staff.firm_id,
        _items(request.form.getlist("shown")),
        _items(request.form.getlist("line")),
    )
    if request.form.get("go") == "allocate":
        return redirect(url_for("console.make_payment_allocate"), code=303)
    return redirect(url_for("console.make_payment_results", view=view), code=303)


# -- step 3 -----------------------------------------------------------------------------------


@bp.get("/make-payment/allocate")
@staff_required
def make_payment_allocate() -> ResponseReturnValue:
    return allocate_page(current_selection(), {}, FieldErrors())


def allocate_page(
    chosen: Selection,
    typed: dict[str, str],
    errors: FieldErrors,
    *,
    staged: StaffPlan | None = None,
    status: int = 200,
    **extra: Any,
) -> ResponseReturnValue:
    if staged is not None and "saved" not in extra:
        extra["saved"] = payer_choices(g.staff.firm_id, staged.client_id, firm_today(g.staff.firm))
        extra["words"] = all_words(g.staff.firm.name, staged.plan.total_minor, staged.plan.currency)
        extra["payers_client"] = client_by_id(g.staff.firm_id, staged.client_id).external_id
    if staged is not None and (key := staff_payments.stripe_key(g.staff.firm_id, staged)):
        extra["publishable_key"] = key
        security.allow_stripe()  # Stripe.js and its frames on this page only
    elif staged is not None:
        extra["stripe_apart"] = staff_payments.stripe_apart(g.staff.firm_id, staged)
    if staged is not None:
        extra["bank_on_stripe"] = staff_payments.bank_on_stripe(g.staff.firm_id, staged)
    page = render_template(
        "console/make_payment_allocate.html",
        chosen=chosen,
        typed=typed,
        errors=errors,
        staged=staged,
        nonce=extra.pop("nonce", None) or new_nonce(),
        send_nonce=extra.pop("send_nonce", None) or new_nonce(),
        action=ActionForm(),
        order=AutoApplyOrder(g.staff.firm.auto_apply_order).value,
        plain=to_plain,
        **extra,
    )
    return _no_store(page, status)


def staged_from_form(
    chosen: Selection, errors: FieldErrors
) -> tuple[dict[str, str], StaffPlan | None]:
    """Read step 3's boxes (or the carried ones of step 4) and check them as a plan."""
    amounts = read_amounts(request.form, chosen, locale(), errors)
    if errors:
        return amounts.typed, None
    try:
        staged = staff_payments.plan_for(
            g.staff.firm_id,
            chosen,
            invoices=amounts.invoices,
            deposits=amounts.deposits,
            total_minor=amounts.total_minor,
        )
    except allocation.AllocationError as exc:
        errors.extend(exc.errors)
        return amounts.typed, None
    return amounts.typed, staged


@bp.post("/make-payment/allocate")
@staff_required
def preview() -> ResponseReturnValue:
    chosen = current_selection()
    errors = FieldErrors()
    if not ActionForm().validate_on_submit():
        errors.add("basket", gettext("The form had expired. Please send it again."))
        return allocate_page(chosen, {}, errors, status=422)
    typed, staged = staged_from_form(chosen, errors)
    if staged is None:
        return allocate_page(chosen, typed, errors, status=422)
    return allocate_page(chosen, typed, errors, staged=staged)
