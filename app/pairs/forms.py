"""Forms for linking a pair, assigning to a pair and sharing."""
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.forms_common import clean_text

LABEL_SUGGESTIONS = ["mother", "daughter", "sister", "partner", "grandmother", "granddaughter"]


class LinkPairForm(FlaskForm):
    first_id = SelectField("First client", coerce=int, validators=[InputRequired()])
    first_label = StringField("She is the …", default="mother",
                              validators=[DataRequired(), Length(max=40)],
                              render_kw={"list": "relation-labels"})
    second_id = SelectField("Second client", coerce=int, validators=[InputRequired()])
    second_label = StringField("She is the …", default="daughter",
                               validators=[DataRequired(), Length(max=40)],
                               render_kw={"list": "relation-labels"})
    submit = SubmitField("Propose the link")


class PairAssignForm(FlaskForm):
    exercise_id = SelectField("Exercise", coerce=int, validators=[InputRequired()])
    due_date = DateField("Due date", validators=[DataRequired(message="Choose a due date.")])
    note = TextAreaField("A note for both (optional)", filters=[clean_text],
                         validators=[Optional(), Length(max=2000)], render_kw={"rows": 3})
    reveal_together = BooleanField(
        "Reveal together",
        description="What each chooses to share becomes visible to the other only once both have sent theirs.",
    )
    submit = SubmitField("Assign to both")


class PairActionForm(FlaskForm):
    """Accept, decline, leave, dissolve, share and withdraw need only the CSRF token."""
