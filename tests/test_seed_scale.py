"""`flask seed-scale`: exact sizes, --factor, encryption at rest, ids that later inserts do not
collide with, what bench_subjects() hands a benchmark, refusals, and signing in as scale people."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    REFLECTION_DRAFT,
    REFLECTION_SUBMITTED,
    TASK_OPEN,
    TASK_SUBMITTED,
    Assignment,
    Feedback,
    Notification,
    Pair,
    PairMember,
    Reflection,
    TherapySession,
    User,
    utcnow,
)
from app.ops.scale import (
    SCALE_DOMAIN,
    SCALE_PASSWORD,
    SCALE_TOTP_SECRET,
    SUBMITTER_EMAIL,
    bench_subjects,
)
from app.ops.scale_texts import CLINICAL, FEEDBACK, OPENINGS, SESSION_SUMMARIES
from tests.conftest import login, make_therapist

TINY = ["--therapists", "2", "--clients", "8", "--pairs", "2", "--tasks", "40",
        "--reflections", "30", "--sessions", "6", "--submit-tasks", "3"]
# 8 clients + 2 therapists + the submitter; 40 tasks + the submitter's 3 (each with a draft).
TINY_COUNTS = {"users": 11, "pairs": 2, "pair_members": 4, "pair_exercises": 2,
               "assignments": 43, "reflections": 33, "therapy_sessions": 6}
DOUBLE_COUNTS = {"users": 21, "pairs": 4, "pair_members": 8, "pair_exercises": 4,
                 "assignments": 86, "reflections": 66, "therapy_sessions": 12}


def run(app, *args):
    return app.test_cli_runner().invoke(args=["seed-scale", *args])


def seeded(app, *args):
    result = run(app, *(args or TINY))
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result


def count(table: str) -> int:
    return db.session.scalar(sa.text(f"SELECT COUNT(*) FROM {table}"))


def raw_values(table: str, column: str) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.scalars(sa.text(f"SELECT {column} FROM {table} ORDER BY id")))


def scale_user(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def test_tiny_sizes_give_exact_counts_and_a_plausible_practice(app):
    result = seeded(app)
    assert {table: count(table) for table in TINY_COUNTS} == TINY_COUNTS
    for table in ("feedback", "session_notes", "clinical_notes", "notifications"):
        assert count(table) > 0, table
        # The summary printed at the end reports what is in the database.
        assert any(line.split() == [table, str(count(table))] for line in result.output.splitlines())
    assert "Done in" in result.output

    clients = db.session.scalars(sa.select(User).where(
        User.role == "client", User.email != SUBMITTER_EMAIL).order_by(User.id)).all()
    assert [c.email for c in clients] == [f"client{n}@{SCALE_DOMAIN}" for n in range(1, 9)]
    per_therapist = {}
    for c in clients:
        per_therapist[c.therapist_id] = per_therapist.get(c.therapist_id, 0) + 1
    assert sorted(per_therapist.values()) == [4, 4]  # spread evenly
    therapists = db.session.scalars(sa.select(User).where(User.role == "therapist")).all()
    assert all(t.totp_secret == SCALE_TOTP_SECRET and t.totp_enabled_at for t in therapists)
    assert len({u.password_hash for u in db.session.scalars(sa.select(User))}) == 1  # hashed once

    for pair in db.session.scalars(sa.select(Pair)):
        assert [m.label for m in pair.members] == ["mother", "daughter"]
        assert all(m.accepted_at for m in pair.members) and pair.is_active
        assert {m.user.therapist_id for m in pair.members} == {pair.therapist_id}
        assert {m.user.email for m in pair.members} <= {f"client{n}@{SCALE_DOMAIN}" for n in range(1, 5)}
        # A pair exercise gives each member her own task.
        tasks = db.session.scalars(sa.select(Assignment).where(
            Assignment.pair_exercise_id.is_not(None),
            Assignment.client_id.in_([m.user_id for m in pair.members]))).all()
        assert len(tasks) == 2 and len({t.pair_exercise_id for t in tasks}) == 1

    for task in db.session.scalars(sa.select(Assignment)):
        assert task.prompts and task.title and task.family and task.due_date
        if task.status == TASK_SUBMITTED:
            assert task.reflection.status == REFLECTION_SUBMITTED and task.reflection.submitted_at
            assert len(task.reflection.answers) == len(task.prompts)
            assert 0 <= task.reflection.resentment <= 10 and task.reflection.stayed_present
        else:
            assert task.status == TASK_OPEN
            assert task.reflection is None or task.reflection.status == REFLECTION_DRAFT
    with_feedback = db.session.scalar(sa.select(sa.func.count()).select_from(Reflection)
                                      .where(Reflection.last_feedback_at.is_not(None)))
    assert with_feedback == count("feedback")
    # Each client has her share of the 40 tasks, and tasks without a reflection exist.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Assignment).where(
        Assignment.client_id == clients[0].id)) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Assignment).outerjoin(
        Reflection).where(Reflection.id.is_(None))) == 10


def test_factor_multiplies_every_size(app):
    seeded(app, *TINY, "--factor", "2")
    assert {table: count(table) for table in DOUBLE_COUNTS} == DOUBLE_COUNTS


def test_free_text_is_encrypted_at_rest_and_reads_back(app):
    seeded(app)
    phrases = {("reflections", "answers"): OPENINGS, ("feedback", "body"): FEEDBACK,
               ("session_notes", "body"): SESSION_SUMMARIES, ("clinical_notes", "body"): CLINICAL,
               ("assignments", "note"): ()}  # every seeded note is empty, and encrypted all the same
    for (table, column), plain in phrases.items():
        raw = raw_values(table, column)
        assert raw and all(value.startswith("enc:v1:") for value in raw), table
        assert not any(phrase[:20] in value for value in raw for phrase in plain), table
    reflection = db.session.scalar(sa.select(Reflection).where(
        Reflection.status == REFLECTION_SUBMITTED).limit(1))
    assert any(reflection.answers[0].startswith(phrase) for phrase in OPENINGS)
    assert db.session.scalar(sa.select(Feedback).limit(1)).body in FEEDBACK


def test_ids_follow_existing_rows_and_later_inserts_do_not_collide(app):
    before = make_therapist()
    seeded(app)
    assert db.session.scalar(sa.select(sa.func.min(User.id)).where(
        User.email.like(f"%@{SCALE_DOMAIN}"))) > before.id
    subjects = bench_subjects()
    client = db.session.get(User, subjects["client_id"])
    # Plain ORM inserts into tables the seeder wrote with its own ids (sequences on PostgreSQL).
    added = [User(email="late@example.org", name="Late", role="therapist", password_hash="x"),
             Notification(user_id=client.id, kind="new_task", link="/home"),
             TherapySession(therapist_id=client.therapist_id, client_id=client.id,
                            starts_at=utcnow())]
    db.session.add_all(added)
    db.session.commit()
    assert added[0].id > db.session.scalar(sa.select(sa.func.max(User.id)).where(
        User.email.like(f"%@{SCALE_DOMAIN}")))
    assert all(row.id for row in added)


def test_bench_subjects_are_consistent(app):
    seeded(app)
    s = bench_subjects()
    client, partner = scale_user(s["client_email"]), scale_user(s["partner_email"])
    therapist = scale_user(s["therapist_email"])
    assert (client.id, partner.id) == (s["client_id"], s["partner_id"])
    assert client.therapist_id == partner.therapist_id == therapist.id
    members = db.session.scalars(sa.select(PairMember.user_id).where(
        PairMember.pair_id == s["pair_id"])).all()
    assert sorted(members) == sorted([client.id, partner.id])

    task = db.session.get(Assignment, s["open_task_id"])
    assert task.client_id == client.id and task.status == TASK_OPEN
    assert task.reflection is not None and task.reflection.status == REFLECTION_DRAFT
    reflection = db.session.get(Reflection, s["reflection_id"])
    assert reflection.author_id == client.id and reflection.status == REFLECTION_SUBMITTED

    submitter = scale_user(SUBMITTER_EMAIL)
    assert s["submitter_email"] == SUBMITTER_EMAIL and submitter.therapist.email == f"therapist1@{SCALE_DOMAIN}"
    assert len(s["submit_task_ids"]) == 3
    for task_id in s["submit_task_ids"]:
        task = db.session.get(Assignment, task_id)
        assert task.client_id == submitter.id and task.status == TASK_OPEN
        assert task.reflection.status == REFLECTION_DRAFT and all(task.reflection.answers)
    assert (s["password"], s["totp_secret"]) == (SCALE_PASSWORD, SCALE_TOTP_SECRET)


def test_a_second_run_and_production_are_refused(app):
    seeded(app)
    users = count("users")
    again = run(app, *TINY)
    assert again.exit_code != 0 and "already holds scale data" in again.output
    assert count("users") == users

    app.config["ALLOW_DEMO_DATA"] = False
    refused = run(app, *TINY)
    assert refused.exit_code != 0 and "production" in refused.output


def test_impossible_sizes_are_refused(app):
    assert "half of --clients" in run(app, *TINY, "--pairs", "5").output
    assert "at most --tasks" in run(app, *TINY, "--reflections", "41").output
    assert count("users") == 0


def test_scale_people_sign_in_and_the_pages_load(app):
    seeded(app)
    s = bench_subjects()
    browser = app.test_client()
    login(browser, scale_user(s["client_email"]), password=SCALE_PASSWORD)
    assert browser.get("/home").status_code == 200
    page = browser.get(f"/tasks/{s['open_task_id']}")
    assert page.status_code == 200

    # The submitter sends one of her ready drafts through the form, as the benchmark will.
    submitter = app.test_client()
    login(submitter, scale_user(SUBMITTER_EMAIL), password=SCALE_PASSWORD)
    task_id = s["submit_task_ids"][0]
    sent = submitter.post(f"/tasks/{task_id}", data={
        "answer_0": "We talked.", "resentment": "3", "closeness": "7",
        "stayed_present": "partly", "action": "submit"})
    assert sent.status_code == 302
    db.session.expire_all()
    assert db.session.get(Assignment, task_id).status == TASK_SUBMITTED

    therapist = app.test_client()
    login(therapist, scale_user(s["therapist_email"]), password=SCALE_PASSWORD)  # with a TOTP code
    assert therapist.get("/caseload").status_code == 200
    assert therapist.get(f"/reflections/{s['reflection_id']}").status_code == 200
