"""Forms for inviting a client and for accepting an invitation."""
from wtforms import EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length

from app.core.forms import EMAIL_MAX, NAME_MAX, AppForm, new_password_fields
from app.core.once import OnceForm


def _strip(value):
    # An address pasted from an email client often carries a space; it is not a typo.
    return value.strip() if isinstance(value, str) else value


class InviteForm(OnceForm, AppForm):
    email = EmailField(
        "Client's email",
        filters=[_strip],
        validators=[DataRequired(), Length(max=EMAIL_MAX),
                    Email(message="Please enter an email address like name@example.com.",
                          check_deliverability=False)],
        render_kw={"autocomplete": "off", "inputmode": "email"},
    )
    submit = SubmitField("Send invitation")


class AcceptInvitationForm(AppForm):
    name = StringField(
        "Your name", validators=[DataRequired(), Length(max=NAME_MAX)],
        description="The name your therapist will see. A first name is enough.",
        render_kw={"autocomplete": "name"},
    )
    password, confirm = new_password_fields()
    submit = SubmitField("Create my account")

