"""Forms for assigning an exercise and managing a task."""
from wtforms import (
    DateField,
    IntegerField,
    SelectChoice,
    SelectField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from app.core.forms import AppForm, clean_text, int_or_none
from app.core.once import OnceForm
from app.homework.tasks import MAX_OCCURRENCES

REPEAT_CHOICES = [SelectChoice("none", "Once"), SelectChoice("daily", "Every day"),
                  SelectChoice("weekly", "Every week")]


class RepeatingForm(AppForm):
    """How often a task repeats: for one client, and for both members of a pair."""

    repeat = SelectField("Repeat", choices=REPEAT_CHOICES, default="none")
    times = IntegerField(
        "How many times", default=1,
        validators=[Optional(), NumberRange(min=1, max=MAX_OCCURRENCES,
                                            message=f"Choose 1 to {MAX_OCCURRENCES} times.")],
        description="For a repeating task: each time becomes its own task with its own due date.",
        render_kw={"min": 1, "max": MAX_OCCURRENCES},
    )


class AssignForm(OnceForm, RepeatingForm):
    exercise_id = SelectField("Exercise", coerce=int_or_none, validators=[InputRequired()])
    due_date = DateField("Due date", validators=[DataRequired(message="Choose a due date.")])
    note = TextAreaField(
        "A personal note (optional)", filters=[clean_text], validators=[Optional(), Length(max=2000)],
        description="Your client sees it above the exercise.", render_kw={"rows": 3},
    )
    submit = SubmitField("Assign")


class DueDateForm(AppForm):
    due_date = DateField("New due date", validators=[DataRequired(message="Choose a due date.")])
    submit = SubmitField("Change due date")

