"""A person's whole record, for her to download (and for her therapist, with private notes)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.extensions import db
from app.messages.reading import messages_in_record
from app.models import (
    NOTE_MEMBER,
    NOTE_SHARED,
    AgendaItem,
    Assignment,
    ClinicalNote,
    PairMember,
    PrivateAnnotation,
    Reflection,
    SessionComment,
    SessionNote,
    TherapySession,
    User,
    utcnow,
)

FORMAT_VERSION = 1


def _iso(value):
    return value.isoformat() if value is not None else None


def record_of(actor: User, client: User, include_private_notes: bool = False) -> dict:
    """Everything of this client's that the actor may read, and nothing of anyone else's (a
    partner's words never; her unsent drafts only in her own export). Her therapist's export adds
    the psychotherapy notes (private annotations, clinical notes) only when she asks. Audited."""
    if not policy.can_view_client(actor, client):
        raise Forbidden()
    with_private = include_private_notes and policy.can_export_psychotherapy_notes(actor, client)
    tasks = db.session.scalars(
        sa.select(Assignment).where(Assignment.client_id == client.id, Assignment.deleted_at.is_(None))
        .options(selectinload(Assignment.reflection).selectinload(Reflection.addenda),
                 selectinload(Assignment.reflection).selectinload(Reflection.feedback))
        .order_by(Assignment.due_date, Assignment.id)
    ).all()
    annotations = {}
    if with_private:
        for note in db.session.scalars(
            sa.select(PrivateAnnotation).join(Reflection, PrivateAnnotation.reflection_id == Reflection.id)
            .where(Reflection.author_id == client.id, Reflection.deleted_at.is_(None))
            .order_by(PrivateAnnotation.created_at)
        ):
            annotations.setdefault(note.reflection_id, []).append(
                {"written_at": _iso(note.created_at), "text": note.body})

    def reflection_data(r: Reflection | None):
        # The same rule as every page: deleted ones are gone until restored, and a draft is
        # its author's alone (her own export holds it; her therapist's never does).
        if r is None or not policy.can_view_reflection(actor, r):
            return None
        data = {
            "status": r.status, "answers": r.answers, "resentment": r.resentment,
            "closeness": r.closeness, "stayed_present": r.stayed_present, "urgent": r.urgent,
            "submitted_at": _iso(r.submitted_at),
            "shared_with_partner_since": _iso(r.shared_at), "reviewed_at": _iso(r.reviewed_at),
            "addenda": [{"added_at": _iso(a.created_at), "text": a.body} for a in r.addenda],
            "feedback": [{"written_at": _iso(f.created_at), "text": f.body} for f in r.feedback],
        }
        if r.author_id == actor.id:  # when she last worked on it is hers to know
            data["draft_saved_at"] = _iso(r.draft_saved_at)
        if with_private:
            data["private_annotations"] = annotations.get(r.id, [])
        return data

    pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client.id)
    sessions = db.session.scalars(
        sa.select(TherapySession)
        .where(sa.or_(TherapySession.client_id == client.id, TherapySession.pair_id.in_(pair_ids)))
        .options(selectinload(TherapySession.notes).selectinload(SessionNote.revisions))
        .order_by(TherapySession.starts_at)
    ).all()
    comments = {}
    for comment in db.session.scalars(sa.select(SessionComment).where(SessionComment.author_id == client.id)):
        comments.setdefault(comment.session_id, []).append(
            {"written_at": _iso(comment.created_at), "text": comment.body})
    clinical = {}
    if with_private:
        for note in db.session.scalars(sa.select(ClinicalNote).where(
                ClinicalNote.session_id.in_([s.id for s in sessions]))):
            clinical[note.session_id] = {"version": note.version, "text": note.body,
                                         "updated_at": _iso(note.updated_at)}

    now = utcnow()

    def session_data(s: TherapySession):
        shared = next((n for n in s.notes if n.kind == NOTE_SHARED), None)
        own_notes = [n for n in s.notes if n.kind == NOTE_MEMBER and n.author_id == client.id]
        data = {
            "starts_at": _iso(s.starts_at), "duration_minutes": s.duration_minutes,
            # A session scheduled ahead, or cancelled, is not one that took place.
            "status": "cancelled" if s.cancelled_at else ("scheduled" if s.starts_at > now else "held"),
            "cancelled_at": _iso(s.cancelled_at), "place": s.location,
            "with_partner": s.pair_id is not None,
            "shared_notes": None if shared is None else {
                "version": shared.version, "text": shared.body, "updated_at": _iso(shared.updated_at),
                "earlier_versions": [{"version": r.version, "text": r.body, "saved_at": _iso(r.saved_at)}
                                     for r in shared.revisions]},
            "my_notes": [{"visible_to": n.visibility, "text": n.body, "version": n.version,
                          "earlier_versions": [{"version": r.version, "text": r.body} for r in n.revisions]}
                         for n in own_notes],
            "my_comments": comments.get(s.id, []),
        }
        if with_private:
            data["private_clinical_note"] = clinical.get(s.id)
        return data

    agenda = db.session.scalars(sa.select(AgendaItem).where(AgendaItem.client_id == client.id)
                                .order_by(AgendaItem.created_at)).all()
    record = {
        "format": "common-ground-record", "format_version": FORMAT_VERSION,
        "exported_at": _iso(utcnow()), "exported_by": actor.email,
        "includes_therapist_private_notes": with_private,
        "client": {"name": client.name, "email": client.email, "joined_at": _iso(client.created_at),
                   "closed_at": _iso(client.closed_at), "therapist": client.therapist.name},
        "tasks": [{
            "title": t.title, "family": t.family, "instructions": t.instructions, "prompts": t.prompts,
            "note": t.note, "due_date": t.due_date.isoformat(), "status": t.status,
            "assigned_at": _iso(t.created_at), "reflection": reflection_data(t.reflection),
        } for t in tasks],
        "sessions": [session_data(s) for s in sessions],
        "agenda_items": [{"text": a.body, "added_at": _iso(a.created_at), "done_at": _iso(a.done_at)}
                         for a in agenda],
        # Her conversations with her therapist; in a pair's, never the other member's words.
        "messages": messages_in_record(client),
    }
    audit.record(actor, "record_exported", client, client)
    db.session.commit()
    return record
