"""The form for giving one exercise to several clients and pairs at once (shape only)."""
from wtforms import BooleanField, DateField, SelectMultipleField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.core.forms import AppForm, clean_text
from app.core.once import OnceForm
from app.policy.loading import MAX_ID


def id_or_none(value) -> int | None:
    """An id from a checkbox; anything else (or a number no row can have) becomes None: the
    service refuses it in words."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number <= MAX_ID else None


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes. Which ids are allowed is the service's to decide (it says
    why in a sentence), so the field does not refuse an id that is not among its choices."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, coerce=id_or_none, validate_choice=False, **kwargs)


class BulkAssignForm(OnceForm, AppForm):
    clients = CheckboxesField("Clients")
    pairs = CheckboxesField("Pairs")
    reveal_together = BooleanField(
        "Reveal together", default=True,
        description="In a pair, what each chooses to share becomes visible to the other only once "
                    "both have sent theirs.",
    )
    due_date = DateField("Due date", validators=[DataRequired(message="Choose a due date.")])
    note = TextAreaField(
        "A personal note (optional)", filters=[clean_text], validators=[Optional(), Length(max=2000)],
        description="Everyone chosen sees it above the exercise, so keep it general.",
        render_kw={"rows": 3},
    )
    submit = SubmitField("Assign")
