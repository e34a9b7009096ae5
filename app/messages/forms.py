"""Forms for messages (shape only: the services say what is empty, too long or not allowed)."""
from wtforms import HiddenField, TextAreaField

from app.core.forms import AppForm, clean_text
from app.core.once import OnceForm
from app.models import MESSAGE_MAX_LENGTH


class MessageForm(OnceForm, AppForm):
    """A message, and (a reply to feedback) the reflection it is about."""

    body = TextAreaField("Your message", filters=[clean_text],
                         description=f"Up to {MESSAGE_MAX_LENGTH:,} characters.",
                         render_kw={"rows": 5, "autocomplete": "off"})
    reflection_id = HiddenField()


class HoursForm(AppForm):
    message_hours = TextAreaField(
        "When you read messages, in your own words", filters=[clean_text],
        description="Shown above every message box of your clients, e.g. “I read messages on "
                    "weekday mornings and reply within two working days.” Leave it empty for a "
                    "neutral sentence.",
        render_kw={"rows": 2})
