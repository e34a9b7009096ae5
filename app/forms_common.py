"""Small pieces shared by the forms of several features (shape only, never meaning)."""
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

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
