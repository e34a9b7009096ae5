"""Views for the exercise library."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.core.forms import CsrfForm
from app.homework import bp, preview
from app.homework import exercises as services
from app.homework.exercise_forms import ExerciseForm, prompt_lines
from app.homework.families import FAMILIES, SHARING_LABELS, family_name
from app.homework.reflection_forms import reflection_form
from app.models import Exercise


def _form_values(form: ExerciseForm) -> dict:
    return dict(title=form.title.data, family=form.family.data,
                instructions=form.instructions.data, prompts=prompt_lines(form.prompts.data),
                member_prompts=form.member_prompts(), description=form.description.data or "",
                typical_minutes=form.typical_minutes.data)


@bp.get("/exercises/", endpoint="library")
@login_required
def index():
    """The library: search, a family, archived or not, a page at a time."""
    policy.require_therapist(current_user)
    found = services.library(current_user, query=request.args.get("q", ""),
                             family=request.args.get("family", ""),
                             show_archived=request.args.get("archived") == "1",
                             page=request.args.get("page", 1, type=int))
    return render_template("homework/library/index.html", library=found, families=FAMILIES.values(),
                           family_ideas={key: f.idea for key, f in FAMILIES.items()},
                           family_name=family_name)


@bp.route("/exercises/new", methods=["GET", "POST"], endpoint="new_exercise")
@login_required
def new():
    """Write a new exercise of her own."""
    policy.require_therapist(current_user)
    form = ExerciseForm()
    if form.validate_on_submit():
        exercise = services.create_exercise(current_user, once_key=form.once_key(), **_form_values(form))
        flash("Exercise saved to your library.", "success")
        return redirect(url_for("homework.exercise", exercise_id=exercise.id))
    return render_template("homework/library/form.html", form=form, exercise=None)


@bp.get("/exercises/<int:exercise_id>", endpoint="exercise")
@login_required
def show(exercise_id):
    """One exercise: what it is for, its text, and what she can do with it."""
    exercise = policy.get_visible_or_404(Exercise, exercise_id)
    return render_template("homework/library/show.html", exercise=exercise, family=FAMILIES.get(exercise.family),
                           family_name=family_name, sharing_labels=SHARING_LABELS,
                           wordings=preview.member_wordings(exercise), action_form=CsrfForm())


@bp.get("/exercises/<int:exercise_id>/preview", endpoint="preview_exercise")
@login_required
def preview_page(exercise_id):
    """The task page exactly as her client would get it (or, `?as=`, one member of a pair), read-only."""
    exercise = policy.get_visible_or_404(Exercise, exercise_id)
    wordings = preview.member_wordings(exercise)
    member = request.args.get("as")
    member = member if member in wordings else None
    task = preview.preview_task(current_user, exercise, member)
    return render_template("homework/library/preview.html", exercise=exercise, task=task, member=member,
                           wordings=wordings, other=preview.OTHER_MEMBER.get(member),
                           form=reflection_form(task.prompts, formdata=None), family_name=family_name,
                           sharing_label=SHARING_LABELS.get(task.sharing, ""))


@bp.route("/exercises/<int:exercise_id>/edit", methods=["GET", "POST"], endpoint="edit_exercise")
@login_required
def edit(exercise_id):
    """Edit her own exercise (tasks already given keep their version)."""
    exercise = policy.get_visible_or_404(Exercise, exercise_id)
    if not policy.can_edit_exercise(current_user, exercise):
        abort(403)
    form = ExerciseForm(obj=exercise)
    if request.method == "GET":
        form.prompts.data = "\n".join(exercise.prompts)
        for label, lines in (exercise.member_prompts or {}).items():
            if f"{label}_prompts" in form:
                form[f"{label}_prompts"].data = "\n".join(lines)
    if form.validate_on_submit():
        services.update_exercise(current_user, exercise, **_form_values(form))
        flash("Exercise updated. Tasks already given keep the text they were given with.", "success")
        return redirect(url_for("homework.exercise", exercise_id=exercise.id))
    return render_template("homework/library/form.html", form=form, exercise=exercise)


@bp.post("/exercises/<int:exercise_id>/duplicate", endpoint="duplicate_exercise")
@login_required
def duplicate(exercise_id):
    """Copy an exercise into an editable one of her own."""
    exercise = policy.get_visible_or_404(Exercise, exercise_id)
    if CsrfForm().validate_on_submit():
        copy = services.duplicate_exercise(current_user, exercise)
        flash("A copy is in your library; you can edit it now.", "success")
        return redirect(url_for("homework.edit_exercise", exercise_id=copy.id))
    return redirect(url_for("homework.exercise", exercise_id=exercise.id))


@bp.post("/exercises/<int:exercise_id>/archive", endpoint="archive_exercise")
@login_required
def archive(exercise_id):
    """Archive her own exercise, or restore it (field `restore`)."""
    exercise = policy.get_visible_or_404(Exercise, exercise_id)
    if not policy.can_edit_exercise(current_user, exercise):
        abort(403)
    if CsrfForm().validate_on_submit():
        restore = request.form.get("restore") == "1"
        services.set_archived(current_user, exercise, archived=not restore)
        flash("Exercise restored." if restore else
              "Exercise archived. Tasks already given are not affected.", "success")
    return redirect(url_for("homework.exercise", exercise_id=exercise.id))
