"""Forms for the therapist's review."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.forms_common import ANSWER_MAX, clean_text


class FeedbackForm(FlaskForm):
    body = TextAreaField(
        "Feedback for your client", filters=[clean_text],
        validators=[DataRequired(message="Write your feedback first."),
                    Length(max=ANSWER_MAX, message=f"Please keep it under {ANSWER_MAX:,} characters.")],
        description="She reads this under her reflection.", render_kw={"rows": 5, "data-limit": ANSWER_MAX},
    )
    mark_reviewed = BooleanField("Mark the reflection reviewed", default=True)


class AnnotationForm(FlaskForm):
    body = TextAreaField(
        "Private annotation", filters=[clean_text],
        validators=[DataRequired(message="Write the annotation first."),
                    Length(max=ANSWER_MAX, message=f"Please keep it under {ANSWER_MAX:,} characters.")],
        description="Only you ever see this. It is never shown to any client.",
        render_kw={"rows": 3, "data-limit": ANSWER_MAX},
    )


class ReviewedForm(FlaskForm):
    """Marking reviewed needs only the CSRF token."""
