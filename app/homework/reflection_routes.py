"""Views for writing, sending and adding to a reflection."""
from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from app import audit, policy
from app.core.database import rechecks_its_writes
from app.core.forms import CsrfForm
from app.homework import bp, drafts
from app.homework import reflections as services
from app.homework.families import SHARING_LABELS, family_name
from app.homework.reflection_forms import AddendumForm, UrgentForm, reflection_form
from app.homework.task_forms import DueDateForm
from app.models import DELETED_DAYS, TASK_OPEN, Assignment, Reflection
from app.pairs.seeing import partner_panel
from app.pairs.turns import turn_of
from app.web.templating import localtime

WITH_REFLECTION = (joinedload(Assignment.reflection),)  # the task page shows both
# The writing page names her therapist too: loaded with the task, not in a query of its own.
TASK_PAGE = (*WITH_REFLECTION, joinedload(Assignment.therapist))


def _form_for(task: Assignment, **kwargs):
    return reflection_form(task.prompts, **kwargs)


def _fill_from_draft(form, reflection: Reflection | None) -> None:
    form.draft_version.data = drafts.version_of(reflection)
    if reflection is None:
        return
    for i, field in enumerate(form.answer_fields()):
        field.data = reflection.answers[i] if i < len(reflection.answers) else ""
    form.resentment.data = "" if reflection.resentment is None else str(reflection.resentment)
    form.closeness.data = "" if reflection.closeness is None else str(reflection.closeness)
    form.stayed_present.data = reflection.stayed_present or ""
    form.urgent.data = reflection.urgent


def _note_missing_for_send(form) -> None:
    """Every answer a send still needs, as errors on their fields (the service's rule, which
    refuses a send on the first of them): she sees them all in one answer."""
    for problem in services.missing_for_submit(form.answers(), form.ratings()):
        if problem.field and problem.field in form:
            form.add_error(problem.field, str(problem))


def _render_task(task: Assignment, form=None, status: int = 200, conflict: Reflection | None = None,
                 seen: str = "", draft_kept: bool = False):
    reflection = task.reflection
    if reflection is not None and reflection.deleted_at is not None:
        reflection = None  # deleted by the therapist: the page says it was removed
    context = dict(task=task, reflection=reflection, family_name=family_name,
                   sharing_label=SHARING_LABELS.get(task.sharing, ""),
                   draft_kept=draft_kept,
                   conflict=conflict and dict(fields=drafts.as_fields(conflict, len(task.prompts)),
                                              saved_at=conflict.draft_saved_at, seen=seen))
    if policy.is_own_task(current_user, task):
        if task.status == TASK_OPEN:
            if form is None:
                form = _form_for(task, formdata=None)
                _fill_from_draft(form, reflection)
            context.update(form=form)
        services.mark_feedback_seen(current_user, reflection)
        context.update(addendum_form=AddendumForm(), urgent_form=UrgentForm(),
                       partner_panel=partner_panel(current_user, task),
                       turn=turn_of(current_user, task),
                       pair=policy.active_pair_of(current_user), pair_form=CsrfForm())
        return render_template("homework/reflections/task.html", **context), status
    if not policy.can_view_reflection(current_user, reflection):
        context.update(reflection=None)  # a draft is its author's alone: not even that it exists
    audit.record_read(current_user, task.client, task, action="read_task")
    context.update(due_form=DueDateForm(due_date=task.due_date), action_form=CsrfForm(),
                   deleted_days=DELETED_DAYS)
    return render_template("homework/reflections/task_for_therapist.html", **context), status


@bp.get("/tasks/<int:task_id>")
@login_required
def task(task_id):
    """A task: the client writes here; her therapist manages the task here."""
    return _render_task(policy.get_visible_or_404(Assignment, task_id, options=TASK_PAGE))[0]


KEPT = {
    "save": "Draft saved. You can come back to it from any device.",
    "keep_mine": "Your version is saved as the draft, in place of the one saved elsewhere.",
    "keep_both": "Both versions are kept in your draft, one after the other: you can edit it now.",
}


def _conflict(task: Assignment, form, current: Reflection):
    """Nothing was saved: the page again, with her text in the form and the version saved
    elsewhere beside it, and the three choices (the form now names the other's version)."""
    seen, form.draft_version.data = form.draft_version.data or "", drafts.version_of(current)
    flash("Not saved yet: this draft was also changed in another tab or on another device. "
          "Nothing was overwritten. Both versions are below: choose which to keep.", "error")
    return _render_task(task, form, 409, conflict=current, seen=seen)


# A send notifies her therapist: loaded with the task, in the same statement.
SENDING = (joinedload(Assignment.reflection), joinedload(Assignment.therapist))


@bp.post("/tasks/<int:task_id>")
@login_required
@rechecks_its_writes
def save(task_id):
    """The form's own buttons: "Save draft" (works without JavaScript) and "Send"; after a
    conflict, "Keep mine", "Keep the other" and "Keep both"."""
    sending = request.form.get("action") == "submit"
    task = policy.get_visible_or_404(Assignment, task_id, options=SENDING if sending else WITH_REFLECTION)
    if not policy.is_own_task(current_user, task):
        abort(403)
    form = _form_for(task)
    if not form.validate_on_submit():
        if sending:
            _note_missing_for_send(form)  # with the shape's errors, in the same answer
        return _render_task(task, form, 400)
    action = request.form.get("action")
    if action == "keep_theirs":  # nothing to write: the other version is the draft already
        flash("You kept the version saved elsewhere; the text from that page was not saved.", "info")
        return redirect(url_for("homework.task", task_id=task.id))
    version = form.seen_version()
    try:
        if action == "submit":
            reflection, new = services.submit_reflection(
                current_user, task, form.answers(), form.ratings(), urgent=form.urgent.data,
                share=form.share_choice.data == "share", version=version)
        elif action == "keep_both":
            services.keep_both(current_user, task, form.answers(), form.ratings(), version or "")
        else:
            services.save_draft(current_user, task, form.answers(), form.ratings(), version)
    except drafts.DraftConflict as exc:
        return _conflict(task, form, exc.current)
    except services.ReflectionError as exc:
        if exc.field and exc.field in form:
            form.add_error(exc.field, str(exc))
            _note_missing_for_send(form)  # the service names the first; she sees them all
            form.draft_version.data = drafts.version_of(task.reflection)  # the one just saved
            return _render_task(task, form, 400, draft_kept=True)
        flash(str(exc), "error")
        return redirect(url_for("homework.task", task_id=task.id))
    if action != "submit":
        flash(KEPT.get(action, KEPT["save"]), "success")
    elif new and reflection.shared_at is not None:
        flash("Sent to your therapist, and shared as you chose. Thank you for taking the time.",
              "success")
    elif new:
        flash("Sent to your therapist. Thank you for taking the time.", "success")
    else:
        flash("This reflection was already sent; nothing was sent twice.", "info")
    return redirect(url_for("homework.task", task_id=task.id))


@bp.post("/tasks/<int:task_id>/draft")
@login_required
@rechecks_its_writes
def autosave(task_id):
    """Autosave from the page's script: JSON in, JSON out, the draft is never half-written.
    A stale version answers 409 with the version saved elsewhere, for the page to show both;
    `resolve=both` saves her text and that version joined ("Keep both")."""
    task = policy.get_visible_or_404(Assignment, task_id, options=WITH_REFLECTION)
    if not policy.is_own_task(current_user, task):
        abort(403)
    form = _form_for(task)
    if not form.validate_on_submit():
        errors = {name: list(errs) for name, errs in form.errors.items()}
        return jsonify(saved=False, message="Not saved: " + " ".join(
            e for errs in errors.values() for e in errs), errors=errors), 400
    both = request.form.get("resolve") == "both"
    try:
        if both:
            reflection = services.keep_both(current_user, task, form.answers(), form.ratings(),
                                            form.seen_version() or "")
        else:
            reflection = services.save_draft(current_user, task, form.answers(), form.ratings(),
                                             form.seen_version())
    except drafts.DraftConflict as exc:
        return jsonify(saved=False, conflict=True, version=drafts.version_of(exc.current),
                       saved_at_display=localtime(exc.current.draft_saved_at, "%H:%M"),
                       theirs=drafts.as_fields(exc.current, len(task.prompts)),
                       message="Not saved: this draft was also changed in another tab or on "
                               "another device."), 409
    except services.ReflectionError as exc:
        return jsonify(saved=False, closed=True, message=str(exc)), 409
    answer = dict(saved=True, saved_at=reflection.draft_saved_at.isoformat(),
                  version=drafts.version_of(reflection),
                  saved_at_display=localtime(reflection.draft_saved_at, "%H:%M"))
    if both:
        answer["fields"] = drafts.as_fields(reflection, len(task.prompts))
    return jsonify(answer)


@bp.post("/reflections/<int:reflection_id>/addenda")
@login_required
def add_addendum(reflection_id):
    """Add to a sent reflection."""
    reflection = policy.get_visible_or_404(Reflection, reflection_id)
    if not policy.can_add_addendum(current_user, reflection):
        abort(403)
    form = AddendumForm()
    if form.validate_on_submit():
        try:
            services.add_addendum(current_user, reflection, form.body.data, form.once_key())
        except services.ReflectionError as exc:
            flash(str(exc), "error")
        else:
            flash("Added. Your therapist will see it under your reflection.", "success")
            return redirect(url_for("homework.task", task_id=reflection.assignment_id))
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        task = reflection.assignment
        response, _ = _render_task(task)
        return response, 400
    return redirect(url_for("homework.task", task_id=reflection.assignment_id))


@bp.post("/reflections/<int:reflection_id>/urgent")
@login_required
def mark_urgent(reflection_id):
    """Flag a sent reflection as urgent for the therapist."""
    reflection = policy.get_visible_or_404(Reflection, reflection_id)
    if policy.can_add_addendum(current_user, reflection) and reflection.urgent:
        flash("This reflection is already marked urgent.", "info")  # a double submit
        return redirect(url_for("homework.task", task_id=reflection.assignment_id))
    if not policy.can_mark_urgent(current_user, reflection):
        abort(403)
    if UrgentForm().validate_on_submit():
        services.mark_urgent(current_user, reflection)
        flash("Marked urgent. Your therapist will see it first. If you are in danger now, please "
              "use the crisis numbers at the bottom of the page.", "warning")
    return redirect(url_for("homework.task", task_id=reflection.assignment_id))
