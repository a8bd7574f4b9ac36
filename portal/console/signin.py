"""The pages that get a person into the console and out again: sign-in (email, password,
code), the invitation (password, then authenticator, then recovery codes), "forgot your
password", "re-enter your password", sign-out here and everywhere.

Addresses that carry a token (/console/invitation/<token>, /console/reset/<token>) answer
with `Referrer-Policy: no-referrer`, so the token travels in no other request.
"""

from __future__ import annotations

from flask import flash, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from portal.console.auth import (
    bp,
    clear_session_cookie,
    current_session,
    safe_next,
    set_session_cookie,
    staff_required,
)
from portal.console.forms import (
    ActionForm,
    ConfirmPasswordForm,
    EnrolForm,
    ForgotPasswordForm,
    NewPasswordForm,
    ResetPasswordForm,
    SignInForm,
    show_problems,
)
from portal.db import writes
from portal.errors import ValidationFailed
from portal.limits import limited
from portal.staff import sessions, signin, totp
from portal.staff.models import SessionStage, StaffSession
from portal.staff.signin import SignInFailed, TokenGone


def _no_referrer(body: str, status: int = 200) -> ResponseReturnValue:
    response = make_response(body, status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _token_gone() -> ResponseReturnValue:
    return _no_referrer(render_template("console/token_gone.html"), 410)


@bp.route("/sign-in", methods=["GET", "POST"])
@limited("RATELIMIT_CONSOLE_SIGN_IN", methods=["POST"])
def sign_in() -> ResponseReturnValue:
    """Email, password and code on one form; one answer for every failure."""
    form = SignInForm()
    next_path = request.values.get("next")
    failed = False
    if form.validate_on_submit():
        # Whatever this browser held before ends now: the new session gets a new id.
        previous = current_session() or current_session(SessionStage.ENROLLING)
        try:
            result = signin.sign_in(
                form.email.data or "", form.password.data or "", form.code.data or ""
            )
        except SignInFailed:
            failed = True
        else:
            if previous is not None:
                sessions.end_session(previous)
            if result.started.session.stage is SessionStage.ENROLLING:
                target = url_for("console.enrol")
            else:
                target = safe_next(next_path)
            return set_session_cookie(redirect(target, code=303), result.started)
    elif request.method == "POST":
        failed = True
    status = 401 if failed else 200
    return (
        render_template(
            "console/sign_in.html",
            form=form,
            failed=failed,
            next_path=next_path,
            mfa_required=signin.mfa_required(),
        ),
        status,
    )


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """End this browser's session."""
    form = ActionForm()
    if form.validate_on_submit():
        row = current_session() or current_session(SessionStage.ENROLLING)
        if row is not None:
            sessions.end_session(row)
    response = redirect(url_for("console.sign_in"), code=303)
    return clear_session_cookie(response)


@bp.post("/sign-out-everywhere")
@staff_required
def sign_out_everywhere() -> ResponseReturnValue:
    """End every session of this person, on every device."""
    if ActionForm().validate_on_submit():
        sessions.sign_out_everywhere(g.console_session)
        flash(gettext("You are signed out on every device."), "info")
        return clear_session_cookie(redirect(url_for("console.sign_in"), code=303))
    return redirect(url_for("console.dashboard"), code=303)


@bp.route("/confirm-password", methods=["GET", "POST"])
@staff_required
def confirm_password() -> ResponseReturnValue:
    """ "Re-enter your password" before a sensitive action; then back to where it was asked."""
    form = ConfirmPasswordForm()
    next_path = safe_next(request.values.get("next"))
    failed = False
    if form.validate_on_submit():
        try:
            signin.confirm_password(g.console_session, form.password.data or "")
        except SignInFailed:
            failed = True
        else:
            return redirect(next_path, code=303)
    return render_template(
        "console/confirm_password.html", form=form, next_path=next_path, failed=failed
    ), (401 if failed else 200)


# -- invitation, authenticator, recovery codes -------------------------------------------------


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str) -> ResponseReturnValue:
    """Step 1 of 3: choose a password."""
    try:
        user = signin.invitation_user(token)
    except TokenGone:
        return _token_gone()
    form = NewPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            started = signin.accept_invitation(
                token, form.password.data or "", form.confirm.data or ""
            )
        except TokenGone:
            return _token_gone()
        except ValidationFailed as exc:
            show_problems(form, exc.errors)
            status = 422
        else:
            response = redirect(url_for("console.enrol"), code=303)
            response.headers["Referrer-Policy"] = "no-referrer"
            return set_session_cookie(response, started)
    elif request.method == "POST":
        status = 422
    return _no_referrer(render_template("console/invitation.html", form=form, user=user), status)


def _enrolling_session() -> StaffSession | None:
    """A session that may enrol: one waiting to (invitation, MFA reset), or a signed-in person
    without an authenticator (development)."""
    row = current_session(SessionStage.ENROLLING)
    if row is None:
        row = current_session()
        if row is not None and row.user.has_mfa:
            return None
    return row


@bp.route("/enrol", methods=["GET", "POST"])
@writes  # it may make the secret to offer
def enrol() -> ResponseReturnValue:
    """Step 2 of 3: scan the QR code (or type the secret), then confirm with a code.
    Step 3 is this form's answer: the recovery codes, shown once."""
    row = _enrolling_session()
    if row is None:
        return redirect(url_for("console.sign_in"), code=302)
    if row.stage is SessionStage.SIGNED_IN:  # the console's frame, for someone already in
        g.staff, g.console_session = row.user, row
    form = EnrolForm()
    status = 200
    if form.validate_on_submit():
        try:
            enrolled = signin.complete_enrolment(row, form.code.data or "")
        except ValidationFailed as exc:
            show_problems(form, exc.errors)
            status = 422
        else:
            response = make_response(
                render_template("console/recovery_codes.html", codes=enrolled.recovery_codes)
            )
            return set_session_cookie(response, enrolled.started)
    elif request.method == "POST":
        status = 422
    offer = signin.enrolment_offer(row)
    return render_template(
        "console/enrol.html",
        form=form,
        offer=offer,
        secret=totp.grouped(offer.secret),
        user=row.user,
    ), status


# -- forgotten password -----------------------------------------------------------------------


@bp.route("/forgot", methods=["GET", "POST"])
@limited("RATELIMIT_CONSOLE_RESET", methods=["POST"])
def forgot_password() -> ResponseReturnValue:
    """Email a reset link; the answer is the same whether the address has an account or not."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        signin.request_password_reset(form.email.data or "")
        return render_template("console/reset_sent.html")
    return render_template("console/forgot.html", form=form), (
        422 if request.method == "POST" else 200
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    """A new password from the emailed link; the authenticator's code is still asked."""
    try:
        user = signin.reset_user(token)
    except TokenGone:
        return _token_gone()
    form = ResetPasswordForm()
    status = 200
    failed = False
    if form.validate_on_submit():
        try:
            signin.reset_password(
                token, form.password.data or "", form.confirm.data or "", form.code.data or ""
            )
        except TokenGone:
            return _token_gone()
        except ValidationFailed as exc:
            show_problems(form, exc.errors)
            status = 422
        except SignInFailed:
            failed = True
            status = 401
        else:
            flash(gettext("Your password is changed. Sign in with it."), "info")
            response = redirect(url_for("console.sign_in"), code=303)
            response.headers["Referrer-Policy"] = "no-referrer"
            return clear_session_cookie(response)
    elif request.method == "POST":
        status = 422
    return _no_referrer(
        render_template("console/reset.html", form=form, user=user, failed=failed), status
    )
