"""Forms for linking a pair, assigning to a pair and sharing."""
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.core.forms import AppForm, clean_text, int_or_none
from app.core.once import OnceForm
from app.homework.task_forms import RepeatingForm

LABEL_SUGGESTIONS = ["mother", "daughter", "sister", "partner", "grandmother", "granddaughter"]


class LinkPairForm(OnceForm, AppForm):
    first_id = SelectField("First client", coerce=int_or_none, validators=[InputRequired()])
    first_label = StringField("Relation: this client is the …", default="mother",
                              validators=[DataRequired(), Length(max=40)],
                              render_kw={"list": "relation-labels"})
    second_id = SelectField("Second client", coerce=int_or_none, validators=[InputRequired()])
    second_label = StringField("Relation: this client is the …", default="daughter",
                               validators=[DataRequired(), Length(max=40)],
                               render_kw={"list": "relation-labels"})
    submit = SubmitField("Propose the link")


class PairAssignForm(OnceForm, RepeatingForm):
    exercise_id = SelectField("Exercise", coerce=int_or_none, validators=[InputRequired()])
    due_date = DateField("Due date", validators=[DataRequired(message="Choose a due date.")])
    note = TextAreaField("A note for both (optional)", filters=[clean_text],
                         validators=[Optional(), Length(max=2000)], render_kw={"rows": 3})
    reveal_together = BooleanField(
        "Reveal together", default=True,
        description="What each chooses to share becomes visible to the other only once both have sent theirs.",
    )
    submit = SubmitField("Assign to both")


class ReplyForm(OnceForm, AppForm):
    """A reply or a reaction to one answer after the reveal (shape only: the services decide)."""

    reflection_id = HiddenField(validators=[InputRequired()])
    prompt_index = HiddenField(validators=[InputRequired()])
    body = TextAreaField("Your reply", filters=[clean_text], validators=[Optional(), Length(max=5000)],
                         render_kw={"rows": 2})
    reaction = StringField()  # sent by the reaction button pressed (no field of its own on the page)


class ReplyEditForm(AppForm):
    body = TextAreaField("Your reply", filters=[clean_text], validators=[Optional(), Length(max=5000)],
                         render_kw={"rows": 2})
