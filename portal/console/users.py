"""Users (admins only): invite someone, change a role, deactivate, reactivate, reset an
authenticator.

Each action calls one use case in portal.staff.accounts with the acting admin as the audit
actor; a user id from another firm is 404 there. Changing a role asks for the password again
(`recent_auth_required`).
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from portal.audit.services import Actor
from portal.console.auth import admin_required, bp, recent_auth_required
from portal.console.forms import MESSAGES, ActionForm, InviteForm, RoleForm, show_problems
from portal.errors import ValidationFailed
from portal.staff import accounts


def _page(
    invite: InviteForm | None = None,
    status: int = 200,
    refused: tuple[int, RoleForm] | None = None,
    **extra: Any,
) -> ResponseReturnValue:
    """The users page; `refused` is a role form sent back with its error next to it."""
    users = accounts.users_of(g.staff.firm_id)
    forms = {user.id: RoleForm(prefix=f"u{user.id}", role=user.role.value) for user in users}
    if refused is not None:
        forms[refused[0]] = refused[1]
    return render_template(
        "console/users.html",
        users=users,
        invite=invite or InviteForm(),
        role_forms=forms,
        action=ActionForm(),
        **extra,
    ), status


def _actor() -> Actor:
    return Actor.staff(g.staff.id)


@bp.get("/users")
@admin_required
def users() -> ResponseReturnValue:
    return _page()


@bp.post("/users/invite")
@admin_required
def invite_user() -> ResponseReturnValue:
    form = InviteForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        invited = accounts.invite(
            g.staff.firm,
            form.email.data or "",
            form.role.data or "",
            _actor(),
            send_email=True,
            # "" is the portal's default; a form without the field keeps what they had.
            language=(form.language.data or None)
            if "language" in request.form
            else accounts.KEEP_LANGUAGE,
        )
    except ValidationFailed as exc:
        show_problems(form, exc.errors)
        return _page(form, 422)
    flash(
        gettext(
            "Invitation emailed to %(email)s. It works for 24 hours.", email=invited.user.email
        ),
        "info",
    )
    return redirect(url_for("console.users"), code=303)


@bp.post("/users/<int:user_id>/role")
@admin_required
@recent_auth_required
def change_role(user_id: int) -> ResponseReturnValue:
    user = accounts.user_in_firm(g.staff.firm_id, user_id)
    form = RoleForm(prefix=f"u{user.id}")
    if not form.validate_on_submit():
        # A deactivated person's row shows no role form: say it at the top instead.
        hidden = user.deactivated_at is not None
        shown = [
            f"{gettext('Role of %(email)s', email=user.email)}: {message}"
            for message in form.role.errors
        ]
        return _page(status=422, refused=(user.id, form), problems=shown if hidden else [])
    return _act(
        lambda: accounts.change_role(g.staff.firm_id, user.id, form.role.data or "", _actor()),
        gettext("Role changed for %(email)s.", email=user.email),
    )


@bp.post("/users/<int:user_id>/deactivate")
@admin_required
def deactivate(user_id: int) -> ResponseReturnValue:
    user = accounts.user_in_firm(g.staff.firm_id, user_id)
    if not ActionForm().validate_on_submit():
        return _page(status=422)
    return _act(
        lambda: accounts.deactivate(g.staff.firm_id, user.id, _actor()),
        gettext("%(email)s can no longer sign in.", email=user.email),
    )


@bp.post("/users/<int:user_id>/reactivate")
@admin_required
def reactivate(user_id: int) -> ResponseReturnValue:
    user = accounts.user_in_firm(g.staff.firm_id, user_id)
    if not ActionForm().validate_on_submit():
        return _page(status=422)
    return _act(
        lambda: accounts.reactivate(g.staff.firm_id, user.id, _actor()),
        gettext("%(email)s can sign in again.", email=user.email),
    )


@bp.post("/users/<int:user_id>/reset-mfa")
@admin_required
def reset_mfa(user_id: int) -> ResponseReturnValue:
    user = accounts.user_in_firm(g.staff.firm_id, user_id)
    if not ActionForm().validate_on_submit():
        return _page(status=422)
    return _act(
        lambda: accounts.reset_mfa(g.staff.firm_id, user.id, _actor()),
        gettext("%(email)s sets up a new authenticator at their next sign-in.", email=user.email),
    )


def _act(action: Any, done: str) -> ResponseReturnValue:
    try:
        action()
    except ValidationFailed as exc:
        problems = [str(p.get("detail", "")) for p in exc.errors]
        codes = [p.get("code") for p in exc.errors]
        return _page(
            status=422, problems=[_message(c, d) for c, d in zip(codes, problems, strict=True)]
        )
    flash(done, "info")
    return redirect(url_for("console.users"), code=303)


def _message(code: Any, detail: str) -> str:
    return str(MESSAGES.get(code, detail))
