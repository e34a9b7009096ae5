"""Views for giving and managing tasks."""
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app import policy
from app.core.clock import today_for
from app.core.forms import CsrfForm, choose_first
from app.homework import bp, deletion
from app.homework import tasks as services
from app.homework.exercises import assignable_exercises
from app.homework.families import family_name
from app.homework.task_forms import AssignForm, DueDateForm
from app.models import DELETED_DAYS, Assignment, Exercise, Reflection, User
from app.therapy_sessions.coming_up import due_before_next_session


@bp.route("/clients/<int:client_id>/assign", methods=["GET", "POST"])
@login_required
def assign(client_id):
    """Give one of the library's exercises to a client, once or repeating."""
    # Visibility first, so that another person's id answers 404 whatever the visitor's role.
    client = policy.get_visible_or_404(User, client_id)
    policy.require_therapist(current_user)
    if not policy.can_assign_to(current_user, client):
        abort(403)
    form = AssignForm()
    exercises = assignable_exercises(current_user)
    form.exercise_id.choices = choose_first([SelectChoice(e.id, e.title, optgroup=family_name(e.family))
                                             for e in exercises])
    today = today_for(client)  # a due date is a day on her calendar, not the therapist's
    # Due before her next session when one is scheduled (the page says so), else today.
    due_default = due_before_next_session(current_user, client, today)
    if form.due_date.data is None and not form.is_submitted():
        form.due_date.data = due_default.due if due_default else today
    if form.validate_on_submit():
        exercise = policy.get_visible_or_404(Exercise, form.exercise_id.data)
        try:
            tasks = services.assign_exercise(
                current_user, client, exercise, due_date=form.due_date.data, today=today,
                note=form.note.data or "", repeat=form.repeat.data, times=form.times.data or 1,
                once_key=form.once_key(),
            )
        except services.AssignmentError as exc:
            getattr(form, exc.field or "exercise_id").errors.append(str(exc))
        else:
            flash(f"“{exercise.title}” assigned to {client.name}"
                  + (f" ({len(tasks)} times)." if len(tasks) > 1 else "."), "success")
            return redirect(url_for("progress.client", client_id=client.id))
    return render_template("homework/tasks/assign.html", form=form, client=client, exercises=exercises,
                           due_default=due_default)


def _managed_task(task_id) -> Assignment:
    # Visibility first: someone else's task is 404 to everyone; her own client gets 403 (wrong role).
    task = policy.get_visible_or_404(Assignment, task_id)
    policy.require_therapist(current_user)
    if not policy.can_manage_assignment(current_user, task):
        abort(404)
    return task


@bp.post("/tasks/<int:task_id>/due-date")
@login_required
def change_due_date(task_id):
    """Move an open task's due date."""
    task = _managed_task(task_id)
    form = DueDateForm()
    if form.validate_on_submit():
        try:
            services.change_due_date(current_user, task, form.due_date.data, today_for(task.client))
        except services.AssignmentError as exc:
            flash(str(exc), "error")
        else:
            flash("Due date changed.", "success")
    else:
        flash("Please choose a valid date.", "error")
    return redirect(url_for("homework.task", task_id=task.id))


@bp.post("/tasks/<int:task_id>/cancel")
@login_required
def cancel(task_id):
    """Cancel an open task (any draft is kept)."""
    task = _managed_task(task_id)
    if CsrfForm().validate_on_submit():
        try:
            services.cancel_assignment(current_user, task)
        except services.AssignmentError as exc:
            flash(str(exc), "error")
        else:
            flash("Task cancelled. Anything already written on it is kept for its author.", "success")
    return redirect(url_for("homework.task", task_id=task.id))


@bp.post("/tasks/<int:task_id>/reopen")
@login_required
def reopen(task_id):
    """Reopen a cancelled task."""
    task = _managed_task(task_id)
    if CsrfForm().validate_on_submit():
        try:
            services.reopen_assignment(current_user, task)
        except services.AssignmentError as exc:
            flash(str(exc), "error")
        else:
            flash("Task reopened.", "success")
    return redirect(url_for("homework.task", task_id=task.id))


# --- soft delete: delete, restore, "Recently deleted" ------------------------------------------

@bp.post("/tasks/<int:task_id>/delete")
@login_required
def delete_task(task_id):
    """Delete a task (and its reflection): hidden everywhere, restorable for 30 days."""
    task = policy.get_for_deletion_or_404(Assignment, task_id)
    if not CsrfForm().validate_on_submit():
        return redirect(url_for("homework.task", task_id=task.id))
    if deletion.delete_task(current_user, task):
        flash(f"“{task.title}” deleted for {task.client.name}. You can restore it for "
              f"{DELETED_DAYS} days from", "deleted")
    else:
        flash("This task was already deleted; nothing changed. You can restore it from", "deleted")
    return redirect(url_for("progress.client", client_id=task.client_id))


@bp.post("/tasks/<int:task_id>/restore")
@login_required
def restore_task(task_id):
    """Restore a deleted task exactly as it was."""
    task = policy.get_for_deletion_or_404(Assignment, task_id)
    if CsrfForm().validate_on_submit():
        try:
            restored = deletion.restore_task(current_user, task)
        except deletion.DeletionError as exc:
            flash(str(exc), "error")
        else:
            flash(f"“{task.title}” restored for {task.client.name}." if restored else
                  "This task is not deleted (it may have been restored already); nothing changed.",
                  "success" if restored else "info")
    return redirect(url_for("homework.deleted"))


@bp.post("/reflections/<int:reflection_id>/delete")
@login_required
def delete_reflection(reflection_id):
    """Delete a sent reflection (with its feedback and annotations); restorable for 30 days."""
    reflection = policy.get_for_deletion_or_404(Reflection, reflection_id)
    if not CsrfForm().validate_on_submit():
        return redirect(url_for("homework.task", task_id=reflection.assignment_id))
    if deletion.delete_reflection(current_user, reflection):
        flash(f"{reflection.author.name}’s reflection on “{reflection.assignment.title}” deleted. "
              f"You can restore it for {DELETED_DAYS} days from", "deleted")
    else:
        flash("This reflection was already deleted; nothing changed. You can restore it from",
              "deleted")
    return redirect(url_for("progress.client", client_id=reflection.author_id))


@bp.post("/reflections/<int:reflection_id>/restore")
@login_required
def restore_reflection(reflection_id):
    """Restore a deleted reflection exactly as it was."""
    reflection = policy.get_for_deletion_or_404(Reflection, reflection_id)
    if CsrfForm().validate_on_submit():
        try:
            restored = deletion.restore_reflection(current_user, reflection)
        except deletion.DeletionError as exc:
            flash(str(exc), "error")
        else:
            flash(f"{reflection.author.name}’s reflection on “{reflection.assignment.title}” restored."
                  if restored else
                  "This reflection is not deleted (it may have been restored already); nothing changed.",
                  "success" if restored else "info")
    return redirect(url_for("homework.deleted"))


@bp.get("/deleted")
@login_required
def deleted():
    """Recently deleted: her deleted tasks and reflections, restorable for 30 days."""
    policy.require_therapist(current_user)
    return render_template("homework/tasks/deleted.html", items=deletion.recently_deleted(current_user),
                           days=DELETED_DAYS, action_form=CsrfForm())
