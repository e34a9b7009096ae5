"""Views for signing in and out and for passwords."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import SelectChoice

from app.auth import bp, services
from app.auth.forms import (
    AccountForm,
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    ResetPasswordForm,
)
from app.links import is_safe_next

SIGN_IN_REFUSED = "That email and password do not match an account. Please try again."


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            flash(SIGN_IN_REFUSED, "error")
            return render_template("auth/login.html", form=form), 200
        services.sign_in(user)
        login_user(user, remember=form.remember.data)
        target = request.args.get("next")
        return redirect(target if is_safe_next(target) else url_for("main.index"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    """Sign out: the login session ends on the server, not only in this browser."""
    form = LogoutForm()
    if current_user.is_authenticated and form.validate_on_submit():
        services.sign_out(current_user)
    logout_user()
    flash("You are signed out.", "info")
    response = redirect(url_for("auth.login"))
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
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    """Choose a new password from an emailed link."""
    try:
        services.user_for_reset_token(token)
    except services.AccountError as exc:
        return render_template("auth/link_problem.html", message=str(exc),
                               action_url=url_for("auth.forgot_password"),
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
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form)


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
            return redirect(url_for("main.index"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """One's own name and time zone."""
    form = AccountForm(obj=current_user)
    form.timezone.choices = timezone_choices()
    if form.validate_on_submit():
        try:
            services.update_account(current_user, form.name.data, form.timezone.data,
                                    form.email_notifications.data)
        except services.AccountError as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            flash("Saved.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form)


def timezone_choices():
    from zoneinfo import available_timezones

    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return [SelectChoice(z, z.replace("_", " ")) for z in zones + ["UTC"]]
