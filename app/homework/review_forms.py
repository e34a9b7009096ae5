"""Forms for the therapist's review."""
from wtforms import BooleanField, RadioField, SelectChoice, TextAreaField
from wtforms.validators import DataRequired, Length

from app.core.forms import ANSWER_MAX, AppForm, clean_text
from app.core.once import OnceForm


class FeedbackForm(OnceForm, AppForm):
    body = TextAreaField(
        "Feedback — your client reads this", id="feedback-body", filters=[clean_text],
        validators=[DataRequired(message="Write your feedback first."),
                    Length(max=ANSWER_MAX, message=f"Please keep it under {ANSWER_MAX:,} characters.")],
        description="Shown to your client under the reflection.", render_kw={"rows": 5, "data-limit": ANSWER_MAX},
    )
    mark_reviewed = BooleanField("Mark the reflection reviewed", default=True)
    # On a pair exercise: this member only, or both members (the page names them).
    recipients = RadioField("Send this feedback to", id="feedback-recipients",
                            choices=[SelectChoice("one", "this member only"),
                                     SelectChoice("both", "both members")],
                            default="one")


class AnnotationForm(OnceForm, AppForm):
    body = TextAreaField(
        "Private annotation — only you", id="annotation-body", filters=[clean_text],
        validators=[DataRequired(message="Write the annotation first."),
                    Length(max=ANSWER_MAX, message=f"Please keep it under {ANSWER_MAX:,} characters.")],
        description="Only you ever see this. It is never shown to any client.",
        render_kw={"rows": 3, "data-limit": ANSWER_MAX},
    )

