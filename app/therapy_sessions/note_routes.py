"""Views that save the therapist's notes: the session page's one Save (and, without JavaScript,
"Use this template"), and the conflict page's merge of one note."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.core.forms import CsrfForm
from app.models import TherapySession
from app.therapy_sessions import bp, note_drafts, note_page, note_templates, saving, services
from app.therapy_sessions.forms import ClinicalNoteForm, NoteForm, note_version
from app.therapy_sessions.routes import render_session

SHARED, CLINICAL = "shared notes", "private clinical note"
DRAFT_KINDS = {SHARED: "shared", CLINICAL: "clinical"}
SAVE_ENDPOINTS = {SHARED: ("therapy_sessions.save_shared_note", ""),
                  CLINICAL: ("therapy_sessions.save_clinical_note", "clinical")}


def _posted_forms():
    return {SHARED: NoteForm(prefix="", meta={"csrf": False}),
            CLINICAL: ClinicalNoteForm(prefix="clinical", meta={"csrf": False})}


def _content(form) -> tuple:
    """(body, template name, sections) as posted, the way the note keeps them."""
    if isinstance(form, ClinicalNoteForm) and form.sectioned():
        return note_templates.joined(form.section_pairs()), form.template_name.data.strip(), form.section_pairs()
    return form.body.data or "", None, None


def _text_errors(form) -> bool:
    """Whether the page shows an error beside her text (else the refusal must be said)."""
    return bool(form.body.errors) or any(f.errors for f in getattr(form, "sections", []))


def _conflict_form(kind, exc, draft_seen):
    """Her text again, at the version saved meanwhile (a sectioned note keeps its sections)."""
    _, prefix = SAVE_ENDPOINTS[kind]
    if kind == CLINICAL:
        sections = exc.your_sections or []
        return ClinicalNoteForm(formdata=None, prefix=prefix, body="" if sections else exc.your_body,
                                version=exc.current_version, draft_version=draft_seen or "",
                                template_name=exc.your_template or "",
                                labels=[s[0] for s in sections], sections=[s[1] for s in sections])
    return NoteForm(formdata=None, prefix=prefix, body=exc.your_body, version=exc.current_version,
                    draft_version=draft_seen or "")


def conflict_page(session, conflicts, drafts_seen):
    """Someone saved these notes since her edit began: both texts, and a form to merge each."""
    return render_template("therapy_sessions/conflict.html", session=session, conflicts=[
        {"kind": kind, "conflict": exc,
         "action_url": url_for(SAVE_ENDPOINTS[kind][0], session_id=session.id),
         "form": _conflict_form(kind, exc, drafts_seen.get(kind))}
        for kind, exc in conflicts]), 409


@bp.post("/sessions/<int:session_id>/notes")
@login_required
def save_notes(session_id):
    """The therapist's one Save on the session page: every note she changed and every agenda
    item she ticked (saving one part never throws away another she was typing)."""
    session = policy.get_visible_or_404(TherapySession, session_id)
    if not policy.can_edit_shared_note(current_user, session):
        abort(403)
    forms = _posted_forms()
    ticked = request.form.getlist("agenda_done")
    if request.form.get("action") == "switch_template":  # no JavaScript: nothing is saved
        choices = note_templates.choices_for(current_user)
        flash(note_page.switch_template(forms[CLINICAL], choices), "info")
        return render_session(session, 200, ticked, shared_form=forms[SHARED], clinical_form=forms[CLINICAL])
    csrf_ok = CsrfForm().validate_on_submit()
    stored = saving.current_texts(current_user, session)
    edits, refused = {}, not csrf_ok
    for kind, form in forms.items():
        name = "shared" if kind == SHARED else "clinical"
        content = _content(form)
        if content == stored[name]:  # not changed: nothing to save, only her draft to settle
            edits[name] = saving.NoteEdit(*content, draft_seen=form.draft_version.data, changed=False)
        elif form.validate() and note_version(form) is not None:
            body, template_name, sections = _content(form)
            edits[name] = saving.NoteEdit(body, note_version(form), template_name, sections,
                                          form.draft_version.data)
        else:
            refused = True
    if refused:
        if forms[CLINICAL].template_name.errors:
            flash(forms[CLINICAL].template_name.errors[0], "error")
        elif not any(_text_errors(f) for f in forms.values()):
            flash("Nothing was saved: the page was out of date. Please reload it and try again; "
                  "your text is below.", "error")
        return render_session(session, 400, ticked, shared_form=forms[SHARED], clinical_form=forms[CLINICAL])
    result = saving.save_session_page(current_user, session, shared=edits.get("shared"),
                                      clinical=edits.get("clinical"), ticked_ids=ticked)
    if result.conflicts:
        if result.saved:
            flash("Everything else you changed is saved.", "success")
        edited = {SHARED: edits.get("shared"), CLINICAL: edits.get("clinical")}
        return conflict_page(session, result.conflicts, {
            kind: note_drafts.keep_refused(current_user, session, DRAFT_KINDS[kind], edited[kind].draft_seen,
                                           edited[kind].body, edited[kind].sections, edited[kind].base_version,
                                           template_name=edited[kind].template_name)
            for kind, _ in result.conflicts})
    flash(saving.saved_sentence(result), "success")
    return redirect(url_for("therapy_sessions.show", session_id=session.id))


@bp.post("/sessions/<int:session_id>/shared-note")
@login_required
def save_shared_note(session_id):
    """Save the shared summary; a stale version gives the conflict page, never an overwrite."""
    session = policy.get_visible_or_404(TherapySession, session_id)
    if not policy.can_edit_shared_note(current_user, session):
        abort(403)
    return _save_one(session, SHARED, NoteForm(prefix=""), "shared_form", "Shared notes saved.")


@bp.post("/sessions/<int:session_id>/clinical-note")
@login_required
def save_clinical_note(session_id):
    """Save the private clinical note (conflicts handled the same way)."""
    session = policy.get_visible_or_404(TherapySession, session_id)
    if not policy.can_view_clinical_note(current_user, session):
        abort(403)
    return _save_one(session, CLINICAL, ClinicalNoteForm(prefix="clinical"), "clinical_form",
                     "Private clinical note saved.")


def _save_one(session, kind, form, form_name, saved):
    """One note, from the conflict page: validate, save at the version the edit began from,
    and answer a stale version with the conflict page again."""
    if not form.validate_on_submit() or note_version(form) is None:
        if not _text_errors(form):  # only a hidden field was wrong: say so, or nothing would
            flash("The note could not be saved: the page was out of date. Please reload it and "
                  "try again; your text is below.", "error")
        return render_session(session, 400, **{form_name: form})
    body, template_name, sections = _content(form)
    try:
        if kind == SHARED:
            services.save_shared_note(current_user, session, body, note_version(form), form.draft_version.data)
        else:
            services.save_clinical_note(current_user, session, body, note_version(form), template_name,
                                        sections, form.draft_version.data)
    except services.Conflict as exc:
        kept = note_drafts.keep_refused(current_user, session, DRAFT_KINDS[kind], form.draft_version.data,
                                        body, sections, note_version(form), template_name=template_name)
        return conflict_page(session, [(kind, exc)], {kind: kept})
    flash(saved, "success")
    return redirect(url_for("therapy_sessions.show", session_id=session.id))
