"""The autosave of session notes: the page's script posts what she is typing (JSON, with the
CSRF token in its header) and it is kept as her draft, which nobody else reads."""
from flask import abort, jsonify, request
from flask_login import current_user, login_required

from app import policy
from app.models import NOTE_DRAFT_KINDS, SessionNote, TherapySession
from app.therapy_sessions import bp, note_drafts
from app.therapy_sessions.forms import DraftShapeError, draft_payload

KEPT = {
    "shared": "not yet shared",
    "clinical": "not yet saved to the note",
    "member": "not yet added",
    "edit": "not yet saved to your note",
}


@bp.post("/sessions/<int:session_id>/note-draft")
@login_required
def autosave_note(session_id):
    """Keep what she is typing in one note as her draft. 400: not kept as sent (too long,
    malformed), her text stays on the page; 409: the draft changed elsewhere, or the note was
    saved over since her text began; nothing is overwritten either way."""
    from app.web.templating import localtime  # app.web imports the features: not at import
    session = policy.get_visible_or_404(TherapySession, session_id)
    if not any(policy.can_write_session_note(current_user, session, kind) for kind in NOTE_DRAFT_KINDS):
        abort(403)
    try:
        sent = draft_payload(request.get_json(silent=True))
    except DraftShapeError as exc:
        return jsonify(saved=False, message=str(exc)), 400
    edited = None
    if sent["note_id"]:  # her edit of one of her notes: only a note of this session she may read
        edited = policy.get_visible_or_404(SessionNote, sent["note_id"])
        if edited.session_id != session.id:
            abort(404)
    if not policy.can_write_session_note(current_user, session, sent["kind"], edited):
        abort(403)
    try:
        draft = note_drafts.save_draft(current_user, session, sent["kind"], body=sent["body"],
                                       sections=sent["sections"], base_version=sent["base_version"],
                                       seen=sent["seen"], edited=edited, visibility=sent["visibility"],
                                       template_name=sent["template_name"])
    except note_drafts.DraftRefused as exc:
        return jsonify(saved=False, conflict=exc.reason, message=str(exc),
                       saved_at_display=localtime(exc.saved_at, "%H:%M") if exc.saved_at else ""), 409
    if draft is None:
        return jsonify(saved=True, draft=False, version="",
                       message="Nothing to keep as a draft: the text is the saved one.")
    at = localtime(draft.updated_at, "%H:%M")
    stale = note_drafts.stale(draft, note_drafts.stored_note(session, sent["kind"], edited))
    return jsonify(saved=True, draft=True, version=note_drafts.version_of(draft), stale=stale,
                   saved_at_display=at,
                   message=f"Saved as a draft at {at} — {KEPT['edit' if edited else sent['kind']]}.")
