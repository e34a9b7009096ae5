"""Views for two-factor sign-in: setting it up (confirmed from the account's email first),
recovery codes, turning it off (clients only), and the therapists' first step after sign-in."""
from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from app.accounts import bp, enrolment, two_factor
from app.accounts.forms import CodeForm, PasswordConfirmForm
from app.core.forms import CsrfForm


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    """Turn on two-factor sign-in (required for therapists): scan, confirm, keep the codes."""
    if two_factor.enabled(current_user):
        return render_template("accounts/two_factor.html", enabled=True,
                               remaining=two_factor.remaining_recovery_codes(current_user),
                               password_form=PasswordConfirmForm(),
                               required=two_factor.required_for(current_user))
    if not enrolment.confirmed(current_user):
        sent = enrolment.send_link(current_user)
        return render_template("accounts/two_factor_email.html", sent=sent, form=CsrfForm(),
                               required=two_factor.required_for(current_user))
    secret = session.get("two_factor_secret")
    if not secret:
        secret = session["two_factor_secret"] = two_factor.new_secret()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.enable(current_user, secret, form.code.data)
        except two_factor.TwoFactorError as exc:
            form.code.errors.append(str(exc))
        else:
            session.pop("two_factor_secret", None)
            enrolment.forget()
            return render_template("accounts/recovery_codes.html", codes=codes)
    uri = two_factor.provisioning_uri(current_user, secret)
    return render_template("accounts/two_factor.html", enabled=False, form=form, secret=secret,
                           qr=two_factor.qr_svg(uri), required=two_factor.required_for(current_user))


@bp.post("/account/two-factor/recovery-codes")
@login_required
def new_recovery_codes():
    """Replace the recovery codes (the old ones stop working)."""
    form = PasswordConfirmForm()
    if form.validate_on_submit() and two_factor.enabled(current_user):
        try:
            codes = two_factor.regenerate_recovery_codes(current_user, form.password.data)
        except two_factor.TwoFactorError as exc:
            flash(str(exc), "error")
        else:
            return render_template("accounts/recovery_codes.html", codes=codes)
    return redirect(url_for("accounts.two_factor_setup"))


@bp.post("/account/two-factor/disable")
@login_required
def disable_two_factor():
    """A client turns two-factor off again (therapists cannot)."""
    form = PasswordConfirmForm()
    if form.validate_on_submit():
        try:
            two_factor.disable(current_user, form.password.data)
        except two_factor.TwoFactorError as exc:
            flash(str(exc), "error")
        else:
            flash("Two-factor sign-in is off.", "success")
    return redirect(url_for("accounts.two_factor_setup"))


TWO_FACTOR_SETUP_ALLOWED = {"accounts.two_factor_setup", "accounts.send_two_factor_link",
                            "accounts.confirm_two_factor_enrolment", "accounts.logout",
                            "accounts.change_password", "static", "health.healthz"}


@bp.before_app_request
def require_two_factor_setup():
    """Therapists set up two-factor sign-in before anything else."""
    if request.routing_exception is not None:
        return None  # let a 404 or 405 answer as it would
    if (current_user.is_authenticated and two_factor.required_for(current_user)
            and not two_factor.enabled(current_user)
            and request.endpoint not in TWO_FACTOR_SETUP_ALLOWED):
        flash("Please set up two-factor sign-in first: it protects your clients' records.", "info")
        return redirect(url_for("accounts.two_factor_setup"))
    return None


@bp.post("/account/two-factor/link")
@login_required
def send_two_factor_link():
    """Email the confirmation link again."""
    if CsrfForm().validate_on_submit() and not two_factor.enabled(current_user):
        if enrolment.send_link(current_user, force=True):
            flash("A new link is on its way to your email.", "success")
        else:
            flash("A link was sent less than a minute ago; please look for it, or try again shortly.", "info")
    return redirect(url_for("accounts.two_factor_setup"))


@bp.get("/account/two-factor/confirm/<token>")
@login_required
def confirm_two_factor_enrolment(token):
    """The emailed link: this browser may now set up two-factor sign-in."""
    try:
        enrolment.confirm(current_user, token)
    except enrolment.EnrolmentError as exc:
        flash(str(exc), "error")
    return redirect(url_for("accounts.two_factor_setup"))
