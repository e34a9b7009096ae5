"""Forms for writing an exercise."""
from wtforms import IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.core.forms import AppForm, choose_first, clean_text
from app.core.once import OnceForm
from app.homework.families import family_choices

MIN_PROMPTS, MAX_PROMPTS, PROMPT_MAX = 2, 5, 500
DESCRIPTION_MAX = 1000
MINUTES_MIN, MINUTES_MAX = 1, 240


def prompt_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class MinutesField(IntegerField):
    """A number of minutes, with a sentence a person can act on when it is not a number."""

    def process_formdata(self, valuelist):
        if valuelist and (valuelist[0] or "").strip():
            try:
                self.data = int(valuelist[0].strip())
            except ValueError:
                self.data = None
                raise ValueError("Write the minutes as a whole number, for example 15.") from None
        else:
            self.data = None


class ExerciseForm(OnceForm, AppForm):
    """Writing a new exercise or editing one (the one-time key counts only for a new one)."""

    title = StringField("Title", filters=[clean_text], validators=[DataRequired(), Length(max=200)])
    family = SelectField("Family", choices=choose_first(family_choices()), validators=[DataRequired()])
    description = TextAreaField(
        "Short description (optional)", filters=[clean_text],
        description="One or two sentences for your library: what it is for and when you give it. "
                    f"Clients do not see it. Up to {DESCRIPTION_MAX:,} characters.",
        render_kw={"rows": 3},
    )
    typical_minutes = MinutesField(
        "Typical length in minutes (optional)",
        validators=[Optional(), NumberRange(min=MINUTES_MIN, max=MINUTES_MAX,
                                            message=f"Choose {MINUTES_MIN} to {MINUTES_MAX} minutes.")],
        description="Roughly how long it takes, writing included, so you can match it to your client's week.",
        render_kw={"min": MINUTES_MIN, "max": MINUTES_MAX, "inputmode": "numeric", "class": "short"},
    )
    instructions = TextAreaField(
        "Instructions", filters=[clean_text], validators=[DataRequired(), Length(max=10_000)],
        description="What the client should try, in plain and warm words. Blank lines start a new paragraph.",
        render_kw={"rows": 8},
    )
    prompts = TextAreaField(
        "Prompts", filters=[clean_text], validators=[DataRequired()],
        description=f"{MIN_PROMPTS} to {MAX_PROMPTS} questions, one per line. The quick ratings are always added.",
        render_kw={"rows": 6},
    )
    mother_prompts = TextAreaField(
        "The mother's wording (optional)", filters=[clean_text],
        description="For pair exercises: the same questions worded for the mother, one per line, "
                    "as many as the prompts above. Leave empty to use the prompts as they are.",
        render_kw={"rows": 4},
    )
    daughter_prompts = TextAreaField(
        "The daughter's wording (optional)", filters=[clean_text],
        description="The same for the daughter.", render_kw={"rows": 4},
    )
    submit = SubmitField("Save exercise")

    def _validate_wording(self, field):
        lines = prompt_lines(field.data)
        if lines and len(lines) != len(prompt_lines(self.prompts.data)):
            raise ValidationError("Give one line for each prompt above, in the same order "
                                  f"(you have {len(lines)}).")
        if any(len(line) > PROMPT_MAX for line in lines):
            raise ValidationError(f"Keep each prompt under {PROMPT_MAX} characters.")

    def validate_description(self, field):
        if len(field.data or "") > DESCRIPTION_MAX:
            raise ValidationError(f"Keep the description to {DESCRIPTION_MAX:,} characters "
                                  f"(it has {len(field.data):,}).")

    def validate_mother_prompts(self, field):
        self._validate_wording(field)

    def validate_daughter_prompts(self, field):
        self._validate_wording(field)

    def member_prompts(self) -> dict | None:
        worded = {label: prompt_lines(self[f"{label}_prompts"].data) for label in ("mother", "daughter")}
        worded = {label: lines for label, lines in worded.items() if lines}
        return worded or None

    def validate_prompts(self, field):
        lines = prompt_lines(field.data)
        if not MIN_PROMPTS <= len(lines) <= MAX_PROMPTS:
            raise ValidationError(f"Write {MIN_PROMPTS} to {MAX_PROMPTS} prompts, one per line "
                                  f"(you have {len(lines)}).")
        if any(len(line) > PROMPT_MAX for line in lines):
            raise ValidationError(f"Keep each prompt under {PROMPT_MAX} characters.")

