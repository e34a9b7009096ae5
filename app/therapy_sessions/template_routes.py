"""The therapist's own clinical note templates: one small page to make, change, archive and bring
back her templates (SOAP, DAP and BIRP are built in and shown for reference)."""
from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from app import policy
from app.core.forms import CsrfForm
from app.models import NoteTemplate
from app.therapy_sessions import bp, note_templates
from app.therapy_sessions.forms import NewNoteTemplateForm, NoteTemplateForm

OUT_OF_DATE = "Nothing was changed: the page was out of date. Please try again."


def _edit_form(template: NoteTemplate, formdata=None) -> NoteTemplateForm:
    return NoteTemplateForm(formdata=formdata, prefix=f"t{template.id}", name=template.name,
                            sections="\n".join(template.sections))


def _page(status=200, new_form=None, edited=None):
    """The page; a form refused (new_form, or `edited`: (template, its form)) keeps her input."""
    in_use = note_templates.own_templates(current_user)
    forms = {t.id: _edit_form(t) for t in in_use}
    if edited is not None:
        forms[edited[0].id] = edited[1]
    return render_template("therapy_sessions/templates.html", built_in=note_templates.BUILT_IN,
                           in_use=in_use, archived=note_templates.own_templates(current_user, archived=True),
                           forms=forms, open_id=edited[0].id if edited else None,
                           new_form=new_form or NewNoteTemplateForm(formdata=None),
                           action_form=CsrfForm(), max_sections=note_templates.SECTIONS_MAX,
                           label_max=note_templates.LABEL_MAX), status


@bp.get("/note-templates")
@login_required
def note_templates_page():
    """Her own clinical note templates, and the built-in ones."""
    policy.require_therapist(current_user)
    return _page()[0]


@bp.post("/note-templates")
@login_required
def create_note_template():
    """Make a template of her own."""
    policy.require_therapist(current_user)
    form = NewNoteTemplateForm()
    if form.validate_on_submit():
        try:
            made = note_templates.create_template(current_user, form.name.data, form.sections.data,
                                                  form.once_key())
        except note_templates.TemplateError as exc:
            form[exc.field].errors = list(form[exc.field].errors) + [str(exc)]
        else:
            flash(f"Template “{made.name}” made: you can pick it when you write a clinical note."
                  if made else "This template was made already; nothing was made twice.", "success")
            return redirect(url_for("therapy_sessions.note_templates_page"))
    return _page(400, new_form=form)


def _load(template_id) -> NoteTemplate:
    policy.require_therapist(current_user)
    return policy.get_visible_or_404(NoteTemplate, template_id)


@bp.post("/note-templates/<int:template_id>")
@login_required
def edit_note_template(template_id):
    """Change a template's name or sections (notes already written keep theirs)."""
    template = _load(template_id)
    form = NoteTemplateForm(prefix=f"t{template.id}")
    if form.validate_on_submit():
        try:
            note_templates.edit_template(current_user, template, form.name.data, form.sections.data)
        except note_templates.TemplateError as exc:
            form[exc.field].errors = list(form[exc.field].errors) + [str(exc)]
        else:
            flash(f"Template “{template.name}” saved. Notes already written on it keep their sections.",
                  "success")
            return redirect(url_for("therapy_sessions.note_templates_page"))
    return _page(400, edited=(template, form))


@bp.post("/note-templates/<int:template_id>/archive")
@login_required
def archive_note_template(template_id):
    """Take a template out of the choices; notes written on it keep their sections."""
    template = _load(template_id)
    if CsrfForm().validate_on_submit():
        changed = note_templates.archive_template(current_user, template)
        flash(f"Template “{template.name}” archived: it is no longer offered for new notes."
              if changed else f"Template “{template.name}” was archived already.", "success")
    else:
        flash(OUT_OF_DATE, "error")
    return redirect(url_for("therapy_sessions.note_templates_page"))


@bp.post("/note-templates/<int:template_id>/restore")
@login_required
def restore_note_template(template_id):
    """Offer an archived template again."""
    template = _load(template_id)
    if CsrfForm().validate_on_submit():
        try:
            changed = note_templates.archive_template(current_user, template, archived=False)
        except note_templates.TemplateError as exc:
            flash(f"{exc} Rename that one first.", "error")
        else:
            flash(f"Template “{template.name}” is offered again." if changed
                  else f"Template “{template.name}” is in use already.", "success")
    else:
        flash(OUT_OF_DATE, "error")
    return redirect(url_for("therapy_sessions.note_templates_page"))
