"""Forms for sessions, notes, comments, agenda items and note templates (shape only)."""
import re
from datetime import date

from wtforms import (
    DateField,
    FieldList,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    StringField,
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
from app.therapy_sessions import note_templates

NOTE_MAX = ANSWER_MAX
_LIMIT = Length(max=NOTE_MAX, message=f"Please keep it under {NOTE_MAX:,} characters.")


def note_version(form) -> int | None:
    """The version a note edit started from: ASCII digits that fit the column, else None
    (str.isdigit() accepts '²', which int() refuses, and any length, which the database refuses)."""
    data = form.version.data or ""
    return int(data) if re.fullmatch(r"[0-9]{1,9}", data) else None


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
    """A note edit names the version it started from (optimistic locking), and the version of
    her draft the page held (so that saving settles that draft, never another tab's)."""

    body = TextAreaField("Note", filters=[clean_text],
                         validators=[DataRequired(message="The note is empty. Write something first."),
                                     _LIMIT], render_kw={"rows": 8, "data-limit": NOTE_MAX})
    version = HiddenField(validators=[InputRequired()])
    draft_version = HiddenField(render_kw={"id": False})


class ClinicalNoteForm(NoteForm):
    """The private clinical note: free text (body), or the sections of a template (labels and
    texts, in order) with the template's name. Which one is the posted template_name's choice."""

    template_name = HiddenField(render_kw={"id": False})
    labels = FieldList(HiddenField(render_kw={"id": False}), max_entries=note_templates.SECTIONS_MAX)
    sections = FieldList(TextAreaField(filters=[clean_text], validators=[_LIMIT],
                                       render_kw={"rows": 4, "data-limit": NOTE_MAX}),
                         max_entries=note_templates.SECTIONS_MAX)
    template = StringField(render_kw={"id": False})  # the choice to switch to (the select)

    def sectioned(self) -> bool:
        """Whether the note is written on a template (else free text)."""
        return bool((self.template_name.data or "").strip())

    def section_pairs(self) -> list[list[str]]:
        """The sections as posted: [[label, text], ...]."""
        return [[label or "", text or ""] for label, text in zip(self.labels.data, self.sections.data,
                                                                 strict=False)]

    def validate(self, extra_validators=None):
        """Free text: as any note. On a template: the sections' shape, and words in one of them."""
        if not self.sectioned():
            return super().validate(extra_validators)
        # On a template the sections hold the words; the free-text box is not sent.
        self.body.data = note_templates.joined(self.section_pairs())
        self.body.validators = []  # each section has its limit; the whole has none
        valid = super().validate(extra_validators)
        labels = self.labels.data
        if (len(labels) != len(self.sections.data) or not labels
                or len(self.template_name.data) > note_templates.NAME_MAX
                or any(not (label or "").strip() or len(label) > note_templates.LABEL_MAX for label in labels)):
            self.template_name.errors = ["The sections of the note did not arrive as the page sent "
                                         "them. Please reload the page; your text is below."]
            return False
        if valid and not self.body.data.strip():
            self.sections[0].errors = list(self.sections[0].errors) + [
                "The note is empty. Write something first."]
            return False
        return valid

    def content(self) -> tuple[str, str | None, list | None]:
        """(body, template name, sections) as the note keeps them."""
        if not self.sectioned():
            return self.body.data, None, None
        return self.body.data, self.template_name.data.strip(), self.section_pairs()


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



class NoteTemplateForm(AppForm):
    """Her own clinical note template: a name and its sections, one a line (meaning is checked
    by note_templates: duplicates, lengths)."""

    name = StringField("Name", filters=[clean_text], validators=[
        DataRequired(message="Give the template a name."),
        Length(max=note_templates.NAME_MAX,
               message=f"Please keep the name under {note_templates.NAME_MAX} characters.")],
        render_kw={"maxlength": note_templates.NAME_MAX, "autocomplete": "off"})
    sections = TextAreaField("Sections, one a line", filters=[clean_text], validators=[
        DataRequired(message="Add at least one section: write its name on a line of its own."),
        Length(max=2000, message="Please keep the sections under 2,000 characters in all.")],
        render_kw={"rows": 5})


class NewNoteTemplateForm(OnceForm, NoteTemplateForm):
    """Creating one is posted once (its one-time key)."""


class DraftShapeError(ValueError):
    """An autosave whose content cannot be kept as it is, with the sentence that says why."""


def _too_long(what: str, text: str) -> DraftShapeError:
    return DraftShapeError(f"Not saved as a draft: {what} is {len(text):,} characters long; please "
                           f"keep it under {NOTE_MAX:,}. Your text is still here.")


def draft_payload(payload) -> dict:
    """The autosave's JSON, checked for shape. It is flat text, as every JSON body must be
    (app/web/input_guard.py): kind, body, base_version (digits), draft_version, and for a
    clinical note on a template `labels` and `sections` (lists of text, in order). Returns
    {kind, body, sections ([[label, text], ...] or None), base_version, seen}; raises
    DraftShapeError (a 400, nothing stored: the page keeps her text)."""
    if not isinstance(payload, dict):
        raise DraftShapeError("Not saved as a draft: the page sent something the server could not "
                              "read. Your text is still here; please reload the page.")
    kind, base, seen = payload.get("kind"), payload.get("base_version"), payload.get("draft_version", "")
    if kind not in ("shared", "clinical", "member"):
        raise DraftShapeError("Not saved as a draft: which note is this? Please reload the page; "
                              "your text is still here.")
    if not isinstance(base, str) or not re.fullmatch(r"[0-9]{1,9}", base) \
            or not isinstance(seen, str) or len(seen) > 64:
        raise DraftShapeError("Not saved as a draft: the page was out of date. Please reload it; "
                              "your text is still here.")
    body, labels, texts = payload.get("body", ""), payload.get("labels"), payload.get("sections")
    if not isinstance(body, str):
        raise DraftShapeError("Not saved as a draft: the note's text did not arrive as text.")
    body = clean_text(body)
    if len(body) > NOTE_MAX:
        raise _too_long("the note", body)
    sections = None
    if labels is not None or texts is not None:
        if kind != "clinical" or not isinstance(labels, list) or not isinstance(texts, list) \
                or not labels or len(labels) != len(texts) or len(labels) > note_templates.SECTIONS_MAX \
                or not all(isinstance(v, str) for v in labels + texts) \
                or not all(0 < len(label.strip()) <= note_templates.LABEL_MAX for label in labels):
            raise DraftShapeError("Not saved as a draft: the note's sections did not arrive as the "
                                  "page sent them. Please reload the page; your text is still here.")
        sections = [[" ".join(clean_text(label).split()), clean_text(text)]
                    for label, text in zip(labels, texts, strict=True)]
        for label, text in sections:
            if len(text) > NOTE_MAX:
                raise _too_long(f"“{label}”", text)
        body = note_templates.joined(sections)
    return {"kind": kind, "body": body, "sections": sections, "base_version": int(base), "seen": seen,
            **_draft_extras(payload, kind, sections)}


def _draft_extras(payload: dict, kind: str, sections: list | None) -> dict:
    """A member's draft: the note she edits (note_id, digits; absent or "0" for a new note) and
    the readers she chose (visibility); a clinical draft on sections: its template's name."""
    note_id, visibility, name = payload.get("note_id", "0"), payload.get("visibility"), payload.get("template_name")
    if not isinstance(note_id, str) or not re.fullmatch(r"[0-9]{1,9}", note_id) \
            or (kind != "member" and int(note_id)) \
            or visibility not in (None, "", "therapist", "pair") or (visibility and kind != "member") \
            or not (name is None or isinstance(name, str) and len(name) <= note_templates.NAME_MAX):
        raise DraftShapeError("Not saved as a draft: the page was out of date. Please reload it; "
                              "your text is still here.")
    name = clean_text(name or "").strip() if sections else ""
    return {"note_id": int(note_id), "visibility": visibility or None, "template_name": name or None}
