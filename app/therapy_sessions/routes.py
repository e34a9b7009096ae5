"""Views for sessions, comments, members' notes, the agenda and session prep (the therapist's
notes are saved in note_routes.py, drafts in note_draft_routes.py, templates in
template_routes.py)."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.core.clock import today_for
from app.core.forms import CsrfForm
from app.models import AgendaItem, Pair, SessionNote, TherapySession, User
from app.therapy_sessions import bp, coming_up, note_drafts, note_page, services, session_lists
from app.therapy_sessions.forms import AgendaForm, CommentForm, MemberNoteForm, SessionForm, note_version


def _record(who, cancel_url):
    form = SessionForm()
    if request.method == "GET":
        form.day.data = today_for(current_user)
    if form.validate_on_submit():
        session = services.record_session(current_user, who, form.day.data, form.time.data,
                                          form.duration_minutes.data, form.once_key())
        flash("Session recorded. You can write its notes now.", "success")
        return redirect(url_for("therapy_sessions.show", session_id=session.id))
    return render_template("therapy_sessions/new.html", form=form, who=who, cancel_url=cancel_url)


@bp.route("/clients/<int:client_id>/sessions/new", methods=["GET", "POST"])
@login_required
def new_for_client(client_id):
    """Record a session held with one client."""
    client = policy.get_visible_or_404(User, client_id)
    if not policy.can_record_session_for(current_user, client):
        abort(403)
    return _record(client, url_for("progress.client", client_id=client.id))


@bp.route("/pairs/<int:pair_id>/sessions/new", methods=["GET", "POST"])
@login_required
def new_for_pair(pair_id):
    """Record a session held with a pair."""
    pair = policy.get_visible_or_404(Pair, pair_id)
    if not policy.can_record_session_for(current_user, pair):
        abort(403)
    return _record(pair, url_for("pairs.show", pair_id=pair.id))


def _forms(user, session, comment_form=None, **note_forms):
    return dict(note_page.note_forms(user, session, **note_forms),
                comment_form=comment_form or CommentForm(formdata=None), action_form=CsrfForm())


def render_session(session, status=200, ticked=(), **forms):
    """The session page; a form given back after a refused post keeps what she typed."""
    content = services.open_session(current_user, session)
    return render_template("therapy_sessions/show.html", session=session, **content,
                           **_forms(current_user, session, member_notes=content["member_notes"], **forms),
                           people=services.session_people(session),
                           ticked=set(ticked),
                           agenda=(session_lists.agenda_for(session.client)
                                   if session.client_id and policy.is_therapist(current_user) else [])
                           ), status


@bp.get("/sessions/<int:session_id>")
@login_required
def show(session_id):
    """A session: shared notes for all who may see it; the clinical note for the therapist only."""
    return render_session(policy.get_visible_or_404(TherapySession, session_id))


@bp.get("/sessions/<int:session_id>/history")
@login_required
def history(session_id):
    """Earlier versions of the notes this person may read."""
    session = policy.get_visible_or_404(TherapySession, session_id)
    content = services.open_session(current_user, session)
    return render_template("therapy_sessions/history.html", session=session, **content)


@bp.post("/sessions/<int:session_id>/comments")
@login_required
def comment(session_id):
    """A client comments on the shared notes."""
    session = policy.get_visible_or_404(TherapySession, session_id)
    if not policy.can_comment_on_session(current_user, session):
        abort(403)
    form = CommentForm()
    if not form.validate_on_submit():
        if form.body.data:  # the page again, with her text and what to change: nothing lost
            return render_session(session, 400, comment_form=form)
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for("therapy_sessions.show", session_id=session.id))
    services.add_comment(current_user, session, form.body.data, form.once_key())
    flash("Comment added.", "success")
    return redirect(url_for("therapy_sessions.show", session_id=session.id))


@bp.post("/sessions/<int:session_id>/member-notes")
@login_required
def add_member_note(session_id):
    """A pair member adds her own note, for the therapist only or for both."""
    session = policy.get_visible_or_404(TherapySession, session_id)
    if not policy.can_add_member_note(current_user, session):
        abort(403)
    form = MemberNoteForm()
    if not form.validate_on_submit():
        if not form.body.errors:  # the page shows no error for the choice or the hidden version
            flash("Your note could not be saved: choose who may read it, and reload the page if "
                  "this keeps happening. Your text is below.", "error")
        return render_session(session, 400, member_form=form)
    try:
        services.add_member_note(current_user, session, form.body.data, form.visibility.data,
                                 form.once_key(), form.draft_version.data)
    except services.SessionError as exc:
        flash(str(exc), "error")
    else:
        flash("Your note is saved.", "success")
    return redirect(url_for("therapy_sessions.show", session_id=session.id))


@bp.post("/session-notes/<int:note_id>")
@login_required
def edit_member_note(note_id):
    """A member changes her note or who may read it."""
    note = policy.get_visible_or_404(SessionNote, note_id)
    if not policy.can_edit_session_note(current_user, note) or note.kind != "member":
        abort(403)
    form = MemberNoteForm(prefix=f"note{note.id}")
    if not form.validate_on_submit() or note_version(form) is None:
        flash(" ".join(e for errs in form.errors.values() for e in errs) or "Please try again.", "error")
        return redirect(url_for("therapy_sessions.show", session_id=note.session_id))
    try:
        services.edit_member_note(current_user, note, form.body.data, form.visibility.data,
                                  note_version(form), form.draft_version.data)
    except services.Conflict as exc:  # her text becomes her draft of this edit: nothing lost
        kept = note_drafts.keep_refused(current_user, note.session, "member", form.draft_version.data,
                                        form.body.data, None, note_version(form), edited=note,
                                        visibility=form.visibility.data)
        return render_template("therapy_sessions/conflict.html", session=note.session, kind="note", conflict=exc,
                               form=MemberNoteForm(formdata=None, body=exc.your_body,
                                                   version=exc.current_version, draft_version=kept,
                                                   visibility=form.visibility.data, prefix=f"note{note.id}"),
                               action_url=url_for("therapy_sessions.edit_member_note", note_id=note.id)), 409
    except services.SessionError as exc:
        flash(str(exc), "error")
    else:
        flash("Your note is saved.", "success")
    return redirect(url_for("therapy_sessions.show", session_id=note.session_id))


@bp.get("/sessions")
@login_required
def index():
    """The client's sessions: shared notes and her agenda, newest first."""
    policy.require_client(current_user)
    page = request.args.get("page", 1, type=int)
    return render_template("therapy_sessions/index.html", sessions=session_lists.sessions_page(current_user, page),
                           ahead=coming_up.upcoming_for_client(current_user),
                           agenda=session_lists.agenda_for(current_user, include_done=True),
                           agenda_form=AgendaForm(formdata=None))


@bp.post("/agenda")
@login_required
def add_agenda_item():
    """A client adds something she wants to bring up next time."""
    policy.require_client(current_user)
    form = AgendaForm()
    if form.validate_on_submit():
        services.add_agenda_item(current_user, form.body.data, form.once_key())
        flash("Added to your list for next time.", "success")
    else:
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
    return redirect(url_for("therapy_sessions.index"))


@bp.post("/agenda/<int:item_id>/done")
@login_required
def tick_agenda_item(item_id):
    """The therapist ticks an agenda item off (or back on with done=0)."""
    item = policy.get_visible_or_404(AgendaItem, item_id)
    if not policy.can_tick_agenda_item(current_user, item):
        abort(403)
    if CsrfForm().validate_on_submit():
        services.tick_agenda_item(current_user, item, done=request.form.get("done", "1") != "0")
    target = request.form.get("next_page")
    if target == "prep":
        return redirect(url_for("therapy_sessions.prep", client_id=item.client_id))
    return redirect(url_for("progress.client", client_id=item.client_id))


@bp.get("/clients/<int:client_id>/prep")
@login_required
def prep(client_id):
    """Session prep: everything since her last session on one page."""
    client = policy.get_visible_or_404(User, client_id)
    policy.require_therapist(current_user)
    return render_template("therapy_sessions/prep.html", client=client, action_form=CsrfForm(),
                           today=today_for(client), **session_lists.prep(current_user, client),
                           note_drafts=note_drafts.waiting_for(current_user, client))


# The notes' saving, their drafts and the templates: views of this blueprint, in modules of their own.
from app.therapy_sessions import note_draft_routes, note_routes, template_routes  # noqa: E402,F401
