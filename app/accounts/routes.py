"""Views for signing in and out and for passwords."""
import time

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import SelectChoice

from app import policy
from app.accounts import bp, services, two_factor
from app.accounts.forms import (
    AccountForm,
    ChangePasswordForm,
    CodeForm,
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    PasswordConfirmForm,
    ResetPasswordForm,
)
from app.core.forms import choose_first
from app.core.links import is_safe_next
from app.extensions import limiter
from app.models import utcnow

SIGN_IN_REFUSED = "That email and password do not match an account. Please try again."


PENDING = "pending_two_factor"
PENDING_SECONDS = 300


def _account_key():
    return "account:" + services.normalise_email(request.form.get("email", ""))[:254]


def _login_limits():
    return current_app.config["LOGIN_RATE_PER_ADDRESS"]


def _account_limits():
    return current_app.config["LOGIN_RATE_PER_ACCOUNT"]


def _finish_sign_in(user, remember: bool, target: str | None):
    services.sign_in(user)
    login_user(user, remember=remember)
    return redirect(target if is_safe_next(target) else url_for("accounts.index"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limits, methods=["POST"])
@limiter.limit(_account_limits, methods=["POST"], key_func=_account_key)
def login():
    """Sign in with email and password (then a code, when two-factor is on)."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.LockedOut as exc:
            flash(str(exc), "error")
            return render_template("accounts/login.html", form=form), 429
        if user is None:
            flash(SIGN_IN_REFUSED, "error")
            return render_template("accounts/login.html", form=form), 200
        target = request.args.get("next")
        if two_factor.enabled(user):
            session[PENDING] = {"user": user.id, "at": time.time(),
                                "remember": bool(form.remember.data),
                                "next": target if is_safe_next(target) else None}
            return redirect(url_for("accounts.verify"))
        return _finish_sign_in(user, form.remember.data, target)
    return render_template("accounts/login.html", form=form)


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit(_login_limits, methods=["POST"])
def verify():
    """The second step: a code from her authenticator app (or a recovery code)."""
    pending = session.get(PENDING)
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING, None)
        flash("Please sign in again.", "info")
        return redirect(url_for("accounts.login"))
    user = services.find_user(pending.get("user"))
    if user is None or not user.is_active or not two_factor.enabled(user):
        session.pop(PENDING, None)
        return redirect(url_for("accounts.login"))
    form = CodeForm()
    if form.validate_on_submit():
        if user.locked_until is not None and user.locked_until > utcnow():
            session.pop(PENDING, None)
            flash("Too many attempts. Please try again later.", "error")
            return redirect(url_for("accounts.login"))
        code = form.code.data
        if two_factor.verify_code(user, code) or (len(code.strip()) > 6 and
                                                  two_factor.use_recovery_code(user, code)):
            session.pop(PENDING, None)
            return _finish_sign_in(user, pending.get("remember", False), pending.get("next"))
        services.record_failed_attempt(user, "two_factor_failed")
        form.code.errors.append("That code did not work. Use the newest code; each code works once.")
    return render_template("accounts/verify.html", form=form), 200 if not form.errors else 400


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    """Turn on two-factor sign-in (required for therapists): scan, confirm, keep the codes."""
    if two_factor.enabled(current_user):
        return render_template("accounts/two_factor.html", enabled=True,
                               remaining=two_factor.remaining_recovery_codes(current_user),
                               password_form=PasswordConfirmForm(),
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


TWO_FACTOR_SETUP_ALLOWED = {"accounts.two_factor_setup", "accounts.logout", "accounts.change_password", "static",
                            "health.healthz"}


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


@bp.post("/logout")
def logout():
    """Sign out: the login session ends on the server, not only in this browser."""
    form = LogoutForm()
    if current_user.is_authenticated and form.validate_on_submit():
        services.sign_out(current_user)
    logout_user()
    flash("You are signed out.", "info")
    response = redirect(url_for("accounts.login"))
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@bp.route("/reset", methods=["GET", "POST"])
def forgot_password():
    """Ask for a password-reset link by email (the same answer whether or not it exists)."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        flash(
            "If that address belongs to an account, a reset link is on its way. "
            "It works once and for one hour.", "info",
        )
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    """Choose a new password from an emailed link."""
    try:
        services.user_for_reset_token(token)
    except services.AccountError as exc:
        return render_template("accounts/link_problem.html", message=str(exc),
                               action_url=url_for("accounts.forgot_password"),
                               action_label="Ask for a new reset link"), 410
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
        except services.AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            logout_user()
            flash("Your password is changed. Please sign in with it.", "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's password; other signed-in devices are signed out."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.password.data)
        except services.AccountError as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            flash("Your password is changed. Any other device you were signed in on is signed out.",
                  "success")
            return redirect(url_for("accounts.index"))
    return render_template("accounts/change_password.html", form=form)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """One's own name, pronouns and time zone."""
    form = AccountForm(obj=current_user)
    form.timezone.choices = choose_first(timezone_choices())
    if form.validate_on_submit():
        try:
            services.update_account(current_user, form.name.data, form.timezone.data,
                                    form.email_notifications.data, form.pronouns.data or "")
        except services.AccountError as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            flash("Saved.", "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/account.html", form=form)


def timezone_choices():
    from zoneinfo import available_timezones

    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return [SelectChoice(z, z.replace("_", " ")) for z in zones + ["UTC"]]


@bp.get("/")
def index():
    """Send each person to her own home."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    if policy.is_therapist(current_user):
        return redirect(url_for("progress.caseload"))
    return redirect(url_for("homework.home"))
