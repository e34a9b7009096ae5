"""Forms for signing in and managing one's password."""
from wtforms import (
    BooleanField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, Optional

from app.core.forms import EMAIL_MAX, PASSWORD_MAX, AppForm, new_password_fields
from app.models.accounts import PRONOUNS


class LoginForm(AppForm):
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


class LogoutForm(AppForm):
    submit = SubmitField("Sign out")


class ForgotPasswordForm(AppForm):
    email = StringField(
        "Email", validators=[DataRequired(), Length(max=EMAIL_MAX)],
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )
    submit = SubmitField("Email me a reset link")


class ResetPasswordForm(AppForm):
    password, confirm = new_password_fields()
    submit = SubmitField("Set my new password")


class ChangePasswordForm(AppForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    password, confirm = new_password_fields()
    submit = SubmitField("Change password")


class AccountForm(AppForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=120)],
                       render_kw={"autocomplete": "name"})
    pronouns = SelectField(
        "Your pronouns", validators=[Optional()],
        choices=[SelectChoice("", "Not set: use my name")] + [
            SelectChoice(key, words["label"]) for key, words in PRONOUNS.items()],
        description="How your therapist's pages refer to you. Without a choice they use your name.")
    timezone = SelectField("Your time zone", validators=[DataRequired()],
                           description="Dates and times are shown in this zone.")
    email_notifications = BooleanField(
        "Email me when there is something new",
        description="The email only says that something is new, never what, with a link to sign in.")
    email_digest = RadioField("How often", default="each", choices=[
        SelectChoice("each", "An email each time"),
        SelectChoice("daily", "One email a day, in the morning, saying how many things are new"),
    ], validators=[Optional()])
    quiet_from = TimeField("Quiet from", validators=[Optional()])
    quiet_until = TimeField("Quiet until", validators=[Optional()])
    submit = SubmitField("Save")


class CodeForm(AppForm):
    code = StringField(
        "Code from your authenticator app", validators=[DataRequired(), Length(max=40)],
        description="Six digits. You can also type one of your recovery codes.",
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True},
    )
    submit = SubmitField("Continue")


class PasswordConfirmForm(AppForm):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=PASSWORD_MAX)],
                             render_kw={"autocomplete": "current-password"})
