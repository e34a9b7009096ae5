"""Clinical note templates: SOAP, DAP and BIRP built in (here, in code), and a therapist's own
(NoteTemplate rows). A note written on a template keeps its sections as [[label, text], ...] and
the same words as one readable whole in `body`; moving from one template to another (or to free
text) never loses a word."""
from __future__ import annotations

from dataclasses import dataclass

from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.extensions import db
from app.models import NoteTemplate, User, utcnow

NAME_MAX = 80           # ClinicalNote.template_name is a String(80)
LABEL_MAX = 60
SECTIONS_MAX = 12
FREE_TEXT = ""          # the choice "free text": no template
AS_WRITTEN = "kept"     # the sections a note was written on, when no template has them now


@dataclass(frozen=True)
class Template:
    """A template as the note page offers it: a key for the choice, a name, and its sections as
    (label, one-line hint)."""

    key: str
    name: str
    sections: tuple[tuple[str, str], ...]
    built_in: bool = True

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.sections]


BUILT_IN = (
    Template("soap", "SOAP", (
        ("Subjective", "What she reports: her concerns, feelings and week, in her own words."),
        ("Objective", "What you observed: presentation, mood and affect, behaviour, scores."),
        ("Assessment", "Your clinical impression: themes, risk, progress toward her goals."),
        ("Plan", "Next steps: exercises given, focus of the next session, referrals."),
    )),
    Template("dap", "DAP", (
        ("Data", "What was said and observed in the session, facts before impressions."),
        ("Assessment", "What it means: your interpretation, progress, risk."),
        ("Plan", "What happens next: tasks, next session, anything to follow up."),
    )),
    Template("birp", "BIRP", (
        ("Behaviour", "How she presented and what she brought to the session."),
        ("Intervention", "What you did: techniques, exercises, questions."),
        ("Response", "How she responded to the intervention."),
        ("Plan", "Next steps and the focus of the next session."),
    )),
)


class TemplateError(Exception):
    """A template that cannot be stored, with the sentence that says why (nothing was stored)."""

    def __init__(self, message: str, field: str = "sections"):
        super().__init__(message)
        self.field = field


# --- the choices on the note page ---------------------------------------------------------------

def own_key(template: NoteTemplate) -> str:
    """Her template's key in the picker ("own-12")."""
    return f"own-{template.id}"


def as_template(row: NoteTemplate) -> Template:
    """Her template as the picker offers it (her sections have no hints)."""
    return Template(own_key(row), row.name, tuple((label, "") for label in row.sections), built_in=False)


def own_templates(therapist: User, archived: bool = False) -> list[NoteTemplate]:
    """Her own templates, in use (or archived), by name."""
    query = policy.visible_note_templates(therapist).where(
        NoteTemplate.archived_at.is_not(None) if archived else NoteTemplate.archived_at.is_(None))
    return list(db.session.scalars(query.order_by(NoteTemplate.name, NoteTemplate.id)))


def choices_for(therapist: User) -> list[Template]:
    """What she may pick when writing a clinical note: the built-in templates, then her own."""
    return list(BUILT_IN) + [as_template(t) for t in own_templates(therapist)]


def find(choices: list[Template], key: str | None) -> Template | None:
    """The choice with this key, or None (free text, or a key she cannot pick)."""
    return next((t for t in choices if t.key == key), None)


def matching(choices: list[Template], labels: list[str]) -> Template | None:
    """The template whose sections are exactly these labels (a draft keeps labels, not names)."""
    return next((t for t in choices if t.labels == labels), None)


def hints_for(choices: list[Template], template_name: str | None, labels: list[str]) -> list[str]:
    """The one-line hint of each section, where the template is one she can still pick."""
    template = next((t for t in choices if t.name == template_name and t.labels == labels), None)
    return [hint for _, hint in template.sections] if template else ["" for _ in labels]


# --- sections and the readable whole ------------------------------------------------------------

def joined(sections: list[list[str]]) -> str:
    """The sections as one readable text: each written section under its label."""
    return "\n\n".join(f"{label}\n{text.strip()}" for label, text in sections if text.strip())


def switched(body: str, sections: list[list[str]] | None, labels: list[str]) -> tuple[str, list[list[str]]]:
    """A note moved to another template (labels) or to free text (no labels), every word kept:
    a section keeps the text of the section of the same name; everything else goes, under its
    old label, into the first section (or is the free text)."""
    if not labels:
        return (joined(sections) if sections else body), []
    texts = {label: "" for label in labels}
    leftovers = []
    if sections:
        by_name = {label.casefold(): label for label in labels}
        for label, text in sections:
            target = by_name.get(label.casefold())
            if target is not None and not texts[target]:
                texts[target] = text
            elif text.strip():
                leftovers.append(f"{label}\n{text.strip()}")
    elif body.strip():
        leftovers.append(body)
    if leftovers:
        first = labels[0]
        texts[first] = "\n\n".join(([texts[first].rstrip()] if texts[first].strip() else []) + leftovers)
    return "", [[label, texts[label]] for label in labels]


# --- her own templates --------------------------------------------------------------------------

def clean_sections(text: str) -> list[str]:
    """Section labels, one a line: blank lines are left out, and each label must be usable."""
    labels = [" ".join(line.split()) for line in (text or "").splitlines()]
    labels = [label for label in labels if label]
    if not labels:
        raise TemplateError("Add at least one section: write its name on a line of its own.")
    if len(labels) > SECTIONS_MAX:
        raise TemplateError(f"A template can have at most {SECTIONS_MAX} sections; this one has "
                            f"{len(labels)}.")
    for label in labels:
        if len(label) > LABEL_MAX:
            raise TemplateError(f"“{label[:30]}…” is too long for a section name: please keep each "
                                f"under {LABEL_MAX} characters.")
    seen = set()
    for label in labels:
        if label.casefold() in seen:
            raise TemplateError(f"“{label}” is there twice: each section needs a name of its own.")
        seen.add(label.casefold())
    return labels


def _clean_name(therapist: User, name: str, template: NoteTemplate | None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise TemplateError("Give the template a name.", "name")
    if len(name) > NAME_MAX:
        raise TemplateError(f"Please keep the name under {NAME_MAX} characters.", "name")
    built_in = next((t.name for t in BUILT_IN if t.name.casefold() == name.casefold()), None)
    if built_in:
        raise TemplateError(f"{built_in} is built in already: give yours another name.", "name")
    taken = [t for t in own_templates(therapist) if t.name.casefold() == name.casefold()
             and (template is None or t.id != template.id)]
    if taken:
        raise TemplateError(f"You already have a template called “{taken[0].name}”.", "name")
    return name


def create_template(therapist: User, name: str, sections_text: str,
                    once_key: str | None = None) -> NoteTemplate | None:
    """Her own template; a name or sections that cannot be used raise TemplateError. The same
    form posted again (its one-time key) stores nothing and returns None."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    name, labels = _clean_name(therapist, name, None), clean_sections(sections_text)
    if not once.first_time(therapist, once_key, "note_template_created"):
        return None
    template = NoteTemplate(therapist_id=therapist.id, name=name, sections=labels)
    db.session.add(template)
    db.session.flush()
    audit.record(therapist, "note_template_created", None, template)
    db.session.commit()
    return template


def edit_template(therapist: User, template: NoteTemplate, name: str, sections_text: str) -> None:
    """A new name or sections; notes already written on it keep the sections they had."""
    if not policy.can_manage_note_template(therapist, template):
        raise Forbidden()
    # Both checked before either is set: a refusal leaves the template as it was, even on the page.
    name, labels = _clean_name(therapist, name, template), clean_sections(sections_text)
    template.name, template.sections = name, labels
    audit.record(therapist, "note_template_edited", None, template)
    db.session.commit()


def archive_template(therapist: User, template: NoteTemplate, archived: bool = True) -> bool:
    """Out of the choices (or back in); False when it already was. Notes keep their sections."""
    if not policy.can_manage_note_template(therapist, template):
        raise Forbidden()
    if (template.archived_at is not None) == archived:
        return False
    if not archived:
        _clean_name(therapist, template.name, template)  # two in use may not share a name
    template.archived_at = utcnow() if archived else None
    audit.record(therapist, "note_template_archived" if archived else "note_template_restored",
                 None, template)
    db.session.commit()
    return True

