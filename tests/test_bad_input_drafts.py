"""Bad input never damages saved writing. A known draft (and known notes) are saved first; after
every refused request they are byte-for-byte what they were, and an accepted request is stored
exactly as sent (after the documented clean-up: clean_text drops NUL and other control
characters, which PostgreSQL cannot store, and turns \\r\\n and \\r into \\n)."""
from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from app.core.forms import clean_text
from app.extensions import db
from app.models import REFLECTION_DRAFT, TASK_OPEN, Assignment, Reflection
from tests import strategies as bad
from tests.conftest import csrf_token_from, login
from tests.test_bad_input_routes import _settings
from tests.world import build_world

EXAMPLES = int(os.environ.get("CG_BAD_INPUT_DRAFT_EXAMPLES", "25"))
KNOWN = ["Zoë 😀 wrote this\nمرحبا بكم — שלום\tend", "👩‍👧 second\u202e answer\u200d", "third ١٢٣",
         "fourth ﬃ", "fifth e\u0301"]
KNOWN_RATINGS = {"resentment": 3, "closeness": 7, "stayed_present": "partly"}


@pytest.fixture
def place(csrf_app):
    world = build_world()
    people = {}
    for actor in ("client", "therapist"):
        client = csrf_app.test_client()
        login(client, world[actor])
        people[actor] = (client, csrf_token_from(client.get("/account").get_data(as_text=True)))
    return world, people


def _first(body, name, kind):
    """What the form reads for `name`: the first value sent, or None when it was not sent."""
    if kind == "raw_json":
        try:
            body, kind = json.loads(body), "json"
        except (ValueError, RecursionError):
            return None
    if kind == "json":
        if not isinstance(body, dict) or name not in body:
            return None
        value = body[name]
        return (value[0] if value else None) if isinstance(value, list) else value
    values = [bad.as_text(v) for k, v in body if bad.as_text(k) == name]
    return values[0] if values else None


# --- the reflection draft: autosave and the form's own buttons -------------------------------

def _set_known_draft(world):
    from app.homework.reflections import save_draft

    task = db.session.get(Assignment, world["draft_task"].id)
    db.session.execute(sa.update(Reflection).where(Reflection.assignment_id == task.id)
                       .values(status=REFLECTION_DRAFT, submitted_at=None))
    db.session.execute(sa.update(Assignment).where(Assignment.id == task.id).values(status=TASK_OPEN))
    db.session.commit()
    db.session.expire_all()
    task = db.session.get(Assignment, world["draft_task"].id)
    save_draft(world["client"], task, KNOWN[:len(task.prompts)], KNOWN_RATINGS)
    return _draft(world)


def _draft(world):
    db.session.expire_all()
    r = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == world["draft_task"].id))
    return dict(status=r.status, answers=list(r.answers), resentment=r.resentment,
                closeness=r.closeness, stayed_present=r.stayed_present)


def _rating(raw):
    raw = (raw or "").strip()
    return int(raw) if raw else None


def _as_sent(body, kind, prompts):
    """The draft as the form would store this body (answers not sent are stored empty)."""
    answers = [clean_text(_first(body, f"answer_{i}", kind) or "") for i in range(prompts)]
    present = (_first(body, "stayed_present", kind) or "").strip() or None
    return dict(status=REFLECTION_DRAFT, answers=answers,
                resentment=_rating(_first(body, "resentment", kind)),
                closeness=_rating(_first(body, "closeness", kind)), stayed_present=present)


def _draft_fields(world):
    prompts = len(world["draft_task"].prompts)
    return [f"answer_{i}" for i in range(prompts)] + ["resentment", "closeness", "stayed_present",
                                                      "urgent", "action"]


def _draft_body(world, token):
    names = _draft_fields(world)
    return st.one_of(
        st.tuples(st.sampled_from(["form", "form", "multipart"]), bad.form_body(names, token)),
        st.tuples(st.just("json"), bad.json_body(names)),
        st.tuples(st.just("raw_json"), bad.raw_json_bytes),
    )


@pytest.mark.parametrize("endpoint", ["autosave", "save"])
def test_a_refused_draft_save_never_changes_the_saved_draft(app, place, endpoint):
    world, people = place
    client, token = people["client"]
    task_id = world["draft_task"].id
    url = f"/tasks/{task_id}/draft" if endpoint == "autosave" else f"/tasks/{task_id}"
    prompts = len(world["draft_task"].prompts)

    @_settings(EXAMPLES)
    @given(sent=_draft_body(world, token))
    def one(sent):
        kind, body = sent
        known = _set_known_draft(world)
        response = bad.send(client, "POST", url, kind, body, token)
        what = f"POST {url} ({kind}) {repr(body)[:600]}"
        bad.check_response(response, what)
        after = _draft(world)
        if response.status_code >= 400:
            # Refused. Only "Send" with a valid form but a missing rating keeps what was typed
            # (as a draft, on purpose); anything else leaves the draft exactly as it was.
            if after != known:
                assert endpoint == "save" and _first(body, "action", kind) == "submit" \
                    and after == _as_sent(body, kind, prompts), f"{what}: the draft changed"
        else:
            assert response.status_code in (200, 302), what
            expected = _as_sent(body, kind, prompts)
            if after["status"] != REFLECTION_DRAFT:  # a complete "Send" went through
                expected["status"] = after["status"]
            assert after == expected, f"{what}: not stored as sent"

    one()


@pytest.mark.parametrize("unit", bad.HUGE_UNITS)
def test_a_giant_autosave_is_refused_and_the_draft_is_kept(app, place, unit):
    world, people = place
    client, token = people["client"]
    known = _set_known_draft(world)
    for size in (700_000, 2_100_000):
        body = [("answer_0", unit * (size // len(unit))), ("csrf_token", token)]
        for kind in ("form", "json"):
            response = bad.send(client, "POST", f"/tasks/{world['draft_task'].id}/draft", kind,
                                dict(body) if kind == "json" else body, token)
            bad.check_response(response, f"{kind} {size} x {unit!r}")
            if response.status_code == 200:  # only NUL: dropped by clean_text, leaving ""
                sent = body if kind == "form" else dict(body)
                assert _draft(world) == _as_sent(sent, kind, len(world["draft_task"].prompts))
                known = _set_known_draft(world)
            else:
                assert response.status_code in (400, 413)
                assert _draft(world) == known


# --- session notes: the shared summary, the clinical note, a member's own note ----------------

def _note_row(kind, world):
    from app.models import ClinicalNote, SessionNote

    db.session.expire_all()
    if kind == "member":
        note = db.session.get(SessionNote, world["member_note"].id)
        return (note.body, note.version, note.visibility)
    model = ClinicalNote if kind == "clinical" else SessionNote
    query = sa.select(model).where(model.session_id == world["session"].id)
    if kind == "shared":
        query = query.where(SessionNote.kind == "shared")
    note = db.session.scalar(query)
    return (note.body, note.version, None)


NOTES = {
    # kind: (actor, url template, field prefix)
    "shared": ("therapist", "/sessions/{session}/shared-note", ""),
    "clinical": ("therapist", "/sessions/{session}/clinical-note", "clinical-"),
    "member": ("client", "/session-notes/{member_note}", "note{member_note}-"),
}


@pytest.mark.parametrize("kind", sorted(NOTES))
def test_a_refused_note_edit_never_changes_the_saved_note(app, place, kind):
    world, people = place
    actor, template, prefix = NOTES[kind]
    client, token = people[actor]
    ids = {k: getattr(v, "id", None) for k, v in world.items()}
    url, prefix = template.format(**ids), prefix.format(**ids)
    names = [prefix + "body", prefix + "version"] + ([prefix + "visibility"] if kind == "member" else [])

    @st.composite
    def note_body(draw):
        current = _note_row(kind, world)[1]
        body = draw(bad.form_body(names, token))
        # Mostly the version the edit began from, so that the text itself is tested.
        if draw(st.booleans()):
            body = [(k, v) for k, v in body if k != prefix + "version"] + [(prefix + "version", str(current))]
        return body

    @_settings(EXAMPLES)
    @given(body=note_body())
    def one(body):
        before = _note_row(kind, world)
        response = bad.send(client, "POST", url, "form", body, token)
        what = f"POST {url} {repr(body)[:600]}"
        bad.check_response(response, what)
        after = _note_row(kind, world)
        sent = _first(body, prefix + "body", "form")
        if after != before:
            assert response.status_code == 302, f"{what}: refused ({response.status_code}) but changed"
            assert after[0] == clean_text(sent), f"{what}: not stored as sent"
            assert after[1] == before[1] + 1
        elif response.status_code == 302 and kind != "member":
            # Accepted without a change: only when the same text was sent again.
            assert clean_text(sent) == before[0], f"{what}: accepted but not stored"

    one()


# --- appended writing: an addendum, feedback ------------------------------------------------

@pytest.mark.parametrize("kind", ["addendum", "feedback"])
def test_a_refused_addition_adds_nothing_and_the_reflection_is_unchanged(app, place, kind):
    from app.models import Addendum, Feedback

    world, people = place
    model, actor, path = {"addendum": (Addendum, "client", "addenda"),
                          "feedback": (Feedback, "therapist", "feedback")}[kind]
    client, token = people[actor]
    reflection_id = world["reflection"].id
    url = f"/reflections/{reflection_id}/{path}"

    def state():
        db.session.expire_all()
        reflection = db.session.get(Reflection, reflection_id)
        bodies = db.session.scalars(sa.select(model.body).where(model.reflection_id == reflection_id)
                                    .order_by(model.id)).all()
        return list(reflection.answers), reflection.status, list(bodies)

    @_settings(EXAMPLES // 2)
    @given(body=bad.form_body(["body", "mark_reviewed"], token))
    def one(body):
        answers, status, bodies = state()
        response = bad.send(client, "POST", url, "form", body, token)
        what = f"POST {url} {repr(body)[:600]}"
        bad.check_response(response, what)
        after_answers, after_status, after_bodies = state()
        assert (after_answers, after_status) == (answers, status), f"{what}: the reflection changed"
        if after_bodies != bodies:
            assert response.status_code == 302, f"{what}: refused but added"
            assert after_bodies == bodies + [clean_text(_first(body, "body", "form"))], what

    one()
