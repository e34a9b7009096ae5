"""The reflection form: one text area per prompt and the quick ratings (shape only)."""
from __future__ import annotations

import re

from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from app.core.forms import ANSWER_MAX, AppForm, clean_text
from app.core.once import OnceForm
from app.models import STAYED_PRESENT_CHOICES

# The counter under an answer appears from here (80 % of the limit), not under every box.
COUNT_FROM = ANSWER_MAX * 8 // 10


def _rating(field) -> None:
    raw = (field.data or "").strip()
    if raw == "":
        field.data = None
        return
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses (a 500).
    if not re.fullmatch(r"[0-9]{1,2}", raw) or not 0 <= int(raw) <= 10:
        raise ValidationError("Choose a number from 0 to 10.")
    field.data = int(raw)


class ReflectionBaseForm(AppForm):
    resentment = StringField("How strong did the resentment feel? (0 = not at all, 10 = overwhelming)")
    closeness = StringField("How close did you feel to her? (0 = not at all, 10 = very close)")
    stayed_present = StringField("Did you manage to stay present?")
    urgent = BooleanField("Urgent — please read before our next session")
    # On a pair exercise: "share" (with the other member, or reveal together) or "private".
    share_choice = StringField("Who reads it")
    # The draft version the page last saw ('' for none yet): app/homework/drafts.py.
    draft_version = HiddenField(validators=[Length(max=40)])

    def validate_resentment(self, field):
        _rating(field)

    def validate_closeness(self, field):
        _rating(field)

    def validate_share_choice(self, field):
        if (field.data or "") not in ("", "share", "private"):
            raise ValidationError("Choose who may read it.")

    def validate_stayed_present(self, field):
        raw = (field.data or "").strip()
        if raw == "":
            field.data = None
        elif raw not in STAYED_PRESENT_CHOICES:
            raise ValidationError("Choose yes, partly or no.")
        else:
            field.data = raw

    def answer_fields(self):
        return [self[f"answer_{i}"] for i in range(self.prompt_count)]

    def answers(self) -> list[str]:
        return [f.data or "" for f in self.answer_fields()]

    def ratings(self) -> dict:
        return {"resentment": self.resentment.data, "closeness": self.closeness.data,
                "stayed_present": self.stayed_present.data}

    # The rating groups, in the page's order; a group's first radio is "<name>-0".
    CHOICE_GROUPS = ("resentment", "closeness", "stayed_present", "share_choice")

    def add_error(self, name: str, message: str) -> None:
        """One more error on a field (a send's refusal), never the same words twice."""
        if message not in self[name].errors:
            self[name].errors = [*self[name].errors, message]

    def error_summary(self, share_shown: bool = False) -> list[tuple[str | None, str]]:
        """Every error of this post, in the page's order, as (id of the element to focus, words):
        the answer's text area, or the first radio of a rating group; None when the page shows
        no such field (the share choice is shown on some pair exercises only)."""
        found = []
        for f in self.answer_fields():
            found += [(f.id, e) for e in f.errors]
        for name in self.CHOICE_GROUPS:
            target = f"{name}-0" if name != "share_choice" or share_shown else None
            found += [(target, e) for e in self[name].errors]
        listed = {f.name for f in self.answer_fields()} | set(self.CHOICE_GROUPS)
        for f in self:
            if f.name not in listed:
                found += [(None, e) for e in f.errors]
        return found

    def seen_version(self) -> str | None:
        """The draft version this post names; None when it names none (a page from before
        versions: the save is not checked)."""
        return (self.draft_version.data or "") if self.draft_version.raw_data else None


def reflection_form(prompts: list[str], **kwargs) -> ReflectionBaseForm:
    """A form with one answer field per prompt of this task."""

    class ReflectionForm(ReflectionBaseForm):
        prompt_count = len(prompts)

    for i, prompt in enumerate(prompts):
        setattr(ReflectionForm, f"answer_{i}", TextAreaField(
            prompt, filters=[clean_text],
            validators=[Length(max=ANSWER_MAX, message=(
                f"This answer is longer than {ANSWER_MAX:,} characters. Please shorten it; "
                "your text is still here."))],
            render_kw={"rows": 6, "data-limit": ANSWER_MAX, "data-count-from": COUNT_FROM},
        ))
    return ReflectionForm(**kwargs)


class AddendumForm(OnceForm, AppForm):
    body = TextAreaField(
        "Add something", filters=[clean_text],
        validators=[Length(max=ANSWER_MAX, message=f"Please keep it under {ANSWER_MAX:,} characters.")],
        description="Your reflection stays as you sent it; this is added below it with today's date.",
        render_kw={"rows": 4, "data-limit": ANSWER_MAX},
    )


class UrgentForm(AppForm):
    """Flagging urgent needs only the CSRF token."""
