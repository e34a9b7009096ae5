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
    ResetPasswordForm,
)
from app.core.forms import choose_first
from app.core.links import is_safe_next
from app.extensions import db, limiter

# The one answer to every refused sign-in: a wrong password, an unknown address, a locked account.
SIGN_IN_REFUSED = ("We could not sign you in with that email and password. Please check them and try "
                   "again. After several failed attempts an account pauses for a while, and its owner "
                   "is told by email.")


PENDING = "pending_two_factor"
PENDING_SECONDS = 300


def _account_key():
    return "account:" + services.normalise_email(request.form.get("email", ""))[:254]


def _pending_account_key():
    pending = session.get(PENDING) or {}
    return f"code:{pending.get('user')}"


def _rotate_csrf_token() -> None:
    """A new CSRF token at each step of signing in: one seen before it is worth nothing after."""
    session.pop("csrf_token", None)


def _login_limits():
    return current_app.config["LOGIN_RATE_PER_ADDRESS"]


def _account_limits():
    return current_app.config["LOGIN_RATE_PER_ACCOUNT"]


def _finish_sign_in(user, remember: bool, target: str | None):
    services.sign_in(user)
    _rotate_csrf_token()
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
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            flash(SIGN_IN_REFUSED, "error")
            return render_template("accounts/login.html", form=form), 200
        target = request.args.get("next")
        if two_factor.enabled(user):
            session[PENDING] = {"user": user.id, "at": time.time(),
                                "remember": bool(form.remember.data),
                                "next": target if is_safe_next(target) else None}
            _rotate_csrf_token()
            return redirect(url_for("accounts.verify"))
        return _finish_sign_in(user, form.remember.data, target)
    return render_template("accounts/login.html", form=form)


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit(_login_limits, methods=["POST"])
@limiter.limit(_account_limits, methods=["POST"], key_func=_pending_account_key)
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
        # Attempts take turns from the lock check to their count (as in authenticate): a code
        # sent while parallel guesses lock the account waits for them and finds it locked.
        services.hold_account(user)
        if not user.is_active:  # closed while her code was on its way: as above, nothing opens
            session.pop(PENDING, None)
            db.session.rollback()
            return redirect(url_for("accounts.login"))
        if services.is_locked(user):  # wrong codes and passwords count together
            session.pop(PENDING, None)
            services.record_failed_attempt(user, "two_factor_refused_locked", count=False)
            flash(SIGN_IN_REFUSED, "error")
            return redirect(url_for("accounts.login"))
        code = form.code.data
        if two_factor.verify_code(user, code) or (len(code.strip()) > 6 and
                                                  two_factor.use_recovery_code(user, code)):
            session.pop(PENDING, None)
            return _finish_sign_in(user, pending.get("remember", False), pending.get("next"))
        services.record_failed_attempt(user, "two_factor_failed")
        form.code.errors.append("That code did not work. Use the newest code; each code works once.")
    return render_template("accounts/verify.html", form=form), 200 if not form.errors else 400


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


def _reset_link_problem(exc):
    return render_template("accounts/link_problem.html", message=str(exc),
                           action_url=url_for("accounts.forgot_password"),
                           action_label="Ask for a new reset link"), 410


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    """Choose a new password from an emailed link."""
    try:
        services.user_for_reset_token(token)
    except services.ResetLinkError as exc:
        return _reset_link_problem(exc)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
        except services.ResetLinkError as exc:  # the same link, used meanwhile in another request
            return _reset_link_problem(exc)
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
    if not form.is_submitted():
        form.email_digest.data = "daily" if current_user.email_digest else "each"
    form.timezone.choices = choose_first(timezone_choices())
    if form.validate_on_submit():
        try:
            services.update_account(current_user, form.name.data, form.timezone.data,
                                    form.email_notifications.data, form.pronouns.data or "",
                                    email_digest=(form.email_digest.data == "daily"
                                                  if form.email_digest.raw_data else None),
                                    quiet=((form.quiet_from.data, form.quiet_until.data)
                                           if form.quiet_from.raw_data or form.quiet_until.raw_data else None))
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
