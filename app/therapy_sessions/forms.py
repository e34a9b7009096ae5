"""Forms for sessions, notes, comments and agenda items (shape only)."""
from datetime import date

from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app.core.forms import ANSWER_MAX, AppForm, clean_text
from app.core.once import OnceForm

NOTE_MAX = ANSWER_MAX
_LIMIT = Length(max=NOTE_MAX, message=f"Please keep it under {NOTE_MAX:,} characters.")


class SessionForm(OnceForm, AppForm):
    day = DateField("Date", validators=[DataRequired(message="Choose the date of the session.")])
    time = TimeField("Time", validators=[DataRequired(message="Choose the time it started.")])
    duration_minutes = IntegerField("Duration in minutes (optional)", validators=[
        Optional(), NumberRange(min=5, max=480, message="Between 5 and 480 minutes.")])
    submit = SubmitField("Record the session")

    # Dates the time-zone conversion (and the database) can always represent.
    EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)

    def validate_day(self, field):
        if field.data is not None and not (self.EARLIEST <= field.data <= self.LATEST):
            raise ValidationError("Choose a date between 1900 and 2100.")


class NoteForm(AppForm):
    """A note edit names the version it started from (optimistic locking)."""

    body = TextAreaField("Note", filters=[clean_text],
                         validators=[DataRequired(message="The note is empty. Write something first."),
                                     _LIMIT], render_kw={"rows": 8, "data-limit": NOTE_MAX})
    version = HiddenField(validators=[InputRequired()])


class MemberNoteForm(OnceForm, NoteForm):
    visibility = RadioField("Who may read it", default="therapist", choices=[
        SelectChoice("therapist", "Only my therapist"),
        SelectChoice("pair", "My therapist and the other member of my pair"),
    ], validators=[InputRequired()])


class CommentForm(OnceForm, AppForm):
    body = TextAreaField("Your comment", id="comment-body", filters=[clean_text],
                         validators=[DataRequired(message="Write your comment first."), _LIMIT],
                         render_kw={"rows": 3})


class AgendaForm(OnceForm, AppForm):
    body = TextAreaField("What I want to bring up next time", filters=[clean_text],
                         validators=[DataRequired(message="Write what you want to bring up."),
                                     Length(max=2000, message="Please keep it under 2,000 characters.")],
                         render_kw={"rows": 2})

