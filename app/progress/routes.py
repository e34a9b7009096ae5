"""Views for progress and the export of a record."""
import json

from flask import Response, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.core.clock import today_for, zone_for
from app.models import User
from app.progress import bp, export, services
from app.progress.charts import ratings_chart, weekly_chart


@bp.get("/progress")
@login_required
def mine():
    """The client's own progress: ratings over time, reflections per week, present streak."""
    policy.require_client(current_user)
    data = services.progress_for(current_user, today_for(current_user), zone_for(current_user))
    return render_template("progress/mine.html", progress=data,
                           ratings_svg=ratings_chart("ratings", data),
                           weekly_svg=weekly_chart("weekly", data))


def _export_target(client_id):
    """The client herself, or her therapist; anyone else gets 404."""
    if client_id is None:
        policy.require_client(current_user)
        return current_user
    client = policy.get_visible_or_404(User, client_id)
    policy.require_therapist(current_user)
    return client


def _download(record: dict, client: User) -> Response:
    body = json.dumps(record, ensure_ascii=False, indent=2)
    filename = f"common-ground-record-{client.id}.json"
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/export.json")
@login_required
def export_json():
    """Her whole record as JSON."""
    client = _export_target(None)
    return _download(export.record_of(current_user, client), client)


@bp.get("/export")
@login_required
def export_page():
    """Her whole record as a printable page."""
    client = _export_target(None)
    return render_template("progress/export.html", record=export.record_of(current_user, client),
                           client=client, json_url=url_for("progress.export_json"))


def _with_private_notes() -> bool:
    """The therapist asked for her psychotherapy notes in this export (off unless she does)."""
    return request.args.get("private_notes") == "1"


@bp.get("/clients/<int:client_id>/export.json")
@login_required
def client_export_json(client_id):
    """A client's whole record as JSON; the therapist's private notes only when she asks."""
    client = _export_target(client_id)
    return _download(export.record_of(current_user, client, _with_private_notes()), client)


@bp.get("/clients/<int:client_id>/export")
@login_required
def client_export_page(client_id):
    """A client's whole record as a printable page; the private notes only when she asks."""
    client = _export_target(client_id)
    private = _with_private_notes()
    return render_template(
        "progress/export.html", record=export.record_of(current_user, client, private),
        client=client,
        json_url=url_for("progress.client_export_json", client_id=client.id,
                         **({"private_notes": "1"} if private else {})),
        toggle_url=url_for("progress.client_export_page", client_id=client.id,
                           **({} if private else {"private_notes": "1"})))
