"""Small pieces shared by the forms of several features (shape only, never meaning)."""
import re

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length


class AppForm(FlaskForm):
    """The base of every form: its hidden CSRF token renders without an id, since a page that
    holds several forms would otherwise repeat id="csrf_token" (invalid HTML; no label needs it)."""

    class Meta:
        def render_field(self, field, render_kw):
            if field.type == "CSRFTokenField":
                render_kw = {"id": False, **render_kw}
            return super().render_field(field, render_kw)


class CsrfForm(AppForm):
    """A form whose only field is its CSRF token: every button that changes something with
    nothing to type (share, tick off, mark read, close an account ...) posts one."""


CHOOSE = "Choose…"


def choose_first(choices: list[SelectChoice]) -> list[SelectChoice]:
    """The choices of a required select, after an empty "Choose…" option (HTML asks a required
    select to start with one): nothing is picked for the person, and leaving it is an error."""
    return [SelectChoice("", CHOOSE), *choices]


def int_or_none(value) -> int | None:
    """`coerce` for an id select that starts with the empty "Choose…" option."""
    return None if value in ("", None) else int(value)


EMAIL_MAX = 254
NAME_MAX = 120
PASSWORD_MAX = 1024


def new_password_fields():
    """A new-password field and its confirmation (the rules themselves live in app.passwords)."""
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        description="At least 12 characters. A few unrelated words in a row work well.",
        render_kw={"autocomplete": "new-password", "minlength": 12},
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords do not match.")],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


ANSWER_MAX = 20_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value):
    """Keep what was written, minus characters no text can hold (NUL and other controls);
    line endings become \\n so that the counter and the limit agree with the browser."""
    if value is None:
        return value
    return _CONTROL.sub("", str(value).replace("\r\n", "\n").replace("\r", "\n"))
