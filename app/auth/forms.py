"""Forms for signing in and managing one's password."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.forms_common import EMAIL_MAX, PASSWORD_MAX, new_password_fields


class LoginForm(FlaskForm):
    email = StringField(
        "Email", validators=[DataRequired(), Length(max=EMAIL_MAX)],
        render_kw={"autocomplete": "username", "inputmode": "email", "autofocus": True},
    )
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(
        "Stay signed in if I close the browser",
        description="You are still signed out after 30 minutes without activity. Leave this off on a shared device.",
    )
    submit = SubmitField("Sign in")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")


class ForgotPasswordForm(FlaskForm):
    email = StringField(
        "Email", validators=[DataRequired(), Length(max=EMAIL_MAX)],
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )
    submit = SubmitField("Email me a reset link")


class ResetPasswordForm(FlaskForm):
    password, confirm = new_password_fields()
    submit = SubmitField("Set my new password")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    password, confirm = new_password_fields()
    submit = SubmitField("Change password")


class AccountForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=120)],
                       render_kw={"autocomplete": "name"})
    timezone = SelectField("Your time zone", validators=[DataRequired()],
                           description="Dates and times are shown in this zone.")
    email_notifications = BooleanField(
        "Email me when there is something new",
        description="The email only says that something is new, never what, with a link to sign in.")
    submit = SubmitField("Save")


class CodeForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app", validators=[DataRequired(), Length(max=40)],
        description="Six digits. You can also type one of your recovery codes.",
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True},
    )
    submit = SubmitField("Continue")


class PasswordConfirmForm(FlaskForm):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=PASSWORD_MAX)],
                             render_kw={"autocomplete": "current-password"})
