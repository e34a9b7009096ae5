"""What the session page holds for the notes she may write: each note's form, filled with her
draft where she has one (and then at the version her draft began from, so that saving a draft
begun before someone else's save is a conflict, never an overwrite), what each note's status
line says, and the templates she may write the clinical note on."""
from __future__ import annotations

from dataclasses import dataclass

from app import policy
from app.models import NoteDraft, SessionNote, TherapySession, User, utcnow
from app.therapy_sessions import note_drafts, note_templates
from app.therapy_sessions.forms import ClinicalNoteForm, MemberNoteForm, NoteForm


@dataclass
class NoteState:
    """One note's draft and the note it was begun from, for the status line."""

    kind: str
    draft: NoteDraft | None
    note: note_drafts.StoredNote

    @property
    def stale(self) -> bool:
        """Her draft began from a version of the note saved over since."""
        return note_drafts.stale(self.draft, self.note)

    @property
    def draft_when(self) -> str:
        """When her draft was last kept: "at 10:42" today, "on 3 May, 10:42" before."""
        from app.web.templating import localtime  # app.web imports the features: not at import
        at = self.draft.updated_at
        if localtime(at, "%Y-%m-%d") == localtime(utcnow(), "%Y-%m-%d"):
            return "at " + localtime(at, "%H:%M")
        return "on " + localtime(at, "%-d %b, %H:%M")


def _shared_form(state: NoteState) -> NoteForm:
    draft, note = state.draft, state.note
    return NoteForm(formdata=None, body=draft.body if draft else note.body,
                    version=(draft.base_version or 0) if draft else note.version,
                    draft_version=note_drafts.version_of(draft))


def clinical_form_for(state: NoteState, choices: list[note_templates.Template]) -> ClinicalNoteForm:
    """The clinical note's form: her draft, else the note; on its template's sections if it has
    one (a draft keeps its template's name; one kept before drafts did is known by its labels)."""
    draft, note = state.draft, state.note
    if draft is not None:
        body, sections = draft.body, draft.sections
        labels = [label for label, _ in sections or []]
        if sections and draft.template_name:
            name = draft.template_name
        elif sections and note.sections and [label for label, _ in note.sections] == labels:
            name = note.template_name
        else:
            found = note_templates.matching(choices, labels) if sections else None
            name = found.name if found else ("Sections" if sections else None)
        version = draft.base_version or 0
    else:
        body, sections, name, version = note.body, note.sections, note.template_name, note.version
    form = ClinicalNoteForm(formdata=None, prefix="clinical", body="" if sections else body,
                            version=version, draft_version=note_drafts.version_of(draft),
                            template_name=name or "", labels=[s[0] for s in sections or []],
                            sections=[s[1] for s in sections or []])
    form.template.data = _key_of(choices, name, [s[0] for s in sections or []])
    return form


def _key_of(choices, name, labels) -> str:
    """The picker's current choice: the template this note is on, or AS_WRITTEN when she can no
    longer pick it (archived or changed since): the picker then names it as written."""
    if not name:
        return note_templates.FREE_TEXT
    found = next((t for t in choices if t.name == name and t.labels == labels), None)
    return found.key if found else note_templates.AS_WRITTEN


def states(user: User, session: TherapySession, drafts: dict | None = None) -> dict[str, NoteState]:
    """Each note she may write here, with her draft of it."""
    drafts = note_drafts.drafts_on_page(user, session) if drafts is None else drafts
    return {kind: NoteState(kind, drafts.get((kind, 0)), note_drafts.stored_note(session, kind))
            for kind in note_drafts.NOTE_DRAFT_KINDS if policy.can_write_session_note(user, session, kind)}


def member_edits(user: User, session: TherapySession, notes: list[SessionNote],
                 drafts: dict) -> dict[int, tuple[MemberNoteForm, NoteState]]:
    """The edit form of each of her notes she may change, filled with her draft of that edit
    (at the version it began from, with the readers she chose) where she has one."""
    edits = {}
    for note in notes:
        if not policy.can_write_session_note(user, session, note_drafts.MEMBER, note):
            continue
        draft = drafts.get((note_drafts.MEMBER, note.id))
        form = MemberNoteForm(formdata=None, prefix=f"note{note.id}", body=draft.body if draft else note.body,
                              version=(draft.base_version or 0) if draft else note.version,
                              visibility=(draft.visibility if draft else None) or note.visibility,
                              draft_version=note_drafts.version_of(draft))
        edits[note.id] = (form, NoteState(note_drafts.MEMBER, draft,
                                          note_drafts.stored_note(session, note_drafts.MEMBER, note)))
    return edits


def note_forms(user: User, session: TherapySession, shared_form=None, clinical_form=None,
               member_form=None, member_notes=()) -> dict:
    """The forms of the notes she may write (a form given back after a refused post is kept as
    it came: her text), her drafts' states and the templates she may pick."""
    drafts = note_drafts.drafts_on_page(user, session)
    found = states(user, session, drafts)
    choices = note_templates.choices_for(user) if "clinical" in found else []
    context = {"note_states": found, "template_choices": choices, "template_of": _template_of(choices),
               "template_data": [{"key": t.key, "name": t.name, "sections": t.sections} for t in choices],
               # Boxes filled from a post the server refused (or a template switch without
               # JavaScript): the server may not have that text yet, so the script keeps it.
               "unsaved": {"shared": shared_form is not None, "clinical": clinical_form is not None,
                           "member": member_form is not None}}
    if "shared" in found:
        context["shared_form"] = shared_form or _shared_form(found["shared"])
    if "clinical" in found:
        context["clinical_form"] = clinical_form or clinical_form_for(found["clinical"], choices)
    if member_form is None:
        draft = found["member"].draft if "member" in found else None
        member_form = MemberNoteForm(formdata=None, version=0, body=draft.body if draft else "",
                                     visibility=(draft.visibility if draft else None) or "therapist",
                                     draft_version=note_drafts.version_of(draft))
    context["member_form"] = member_form
    context["member_edits"] = member_edits(user, session, list(member_notes), drafts)
    return context


def _template_of(choices):
    def hints(form: ClinicalNoteForm) -> list[str]:
        return note_templates.hints_for(choices, form.template_name.data, list(form.labels.data))
    return hints


def switch_template(form: ClinicalNoteForm, choices: list[note_templates.Template]) -> str:
    """Without JavaScript, "Use this template" posts the page: the clinical note's words move to
    the chosen template (or to free text), none lost. Returns what to tell her."""
    if form.template.data == note_templates.AS_WRITTEN:
        return "The private clinical note stays on the sections it was written on; nothing is saved yet."
    chosen = note_templates.find(choices, form.template.data or "")
    body, name = form.body.data or "", form.template_name.data or ""
    sections = form.section_pairs() if name else None
    labels = chosen.labels if chosen else []
    new_body, new_sections = note_templates.switched(body, sections, labels)
    had_words = bool(body.strip()) or any(t.strip() for _, t in sections or [])
    for field in (form.labels, form.sections):
        while field.entries:
            field.pop_entry()
    for label, text in new_sections:
        form.labels.append_entry(label)
        form.sections.append_entry(text)
    form.body.data, form.template_name.data = new_body, chosen.name if chosen else ""
    form.template.data = chosen.key if chosen else note_templates.FREE_TEXT
    where = f"the {chosen.name} sections" if chosen else "free text"
    if not had_words:
        kept = ""
    elif not chosen:
        kept = " Your words are kept, each section under its name."
    elif sections:
        kept = f" Your words are kept: sections of the same name keep theirs, the rest is in “{labels[0]}”."
    else:
        kept = f" Your words are kept, in “{labels[0]}”."
    return f"The private clinical note is now on {where}; nothing is saved yet.{kept}"
