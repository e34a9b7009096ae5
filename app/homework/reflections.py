"""Reflection services: drafts, submission (idempotent), addenda, urgent flags."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.extensions import db
from app.homework import drafts
from app.models import (
    REFLECTION_DRAFT,
    REFLECTION_SUBMITTED,
    TASK_CANCELLED,
    TASK_OPEN,
    TASK_SUBMITTED,
    Addendum,
    Assignment,
    PairExercise,
    Reflection,
    User,
    utcnow,
)
from app.notifications.services import feedback_notices_read, notify, retract_turn_notices


class ReflectionError(Exception):
    """A refusal with a sentence the client can act on; `field` names the form field if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def closed_task_message(task: Assignment) -> str:
    if task.status == TASK_CANCELLED:
        return ("Your therapist has cancelled this task, so it cannot be changed now. "
                "Everything you had saved is kept.")
    return "You have already sent this reflection; it cannot be changed. You can add to it below."


def _require_writer(client: User, task: Assignment) -> None:
    """Only the client herself writes, and only while the task is open (as read: each write
    checks again in the database)."""
    if not policy.can_view_assignment(client, task) or client.id != task.client_id:
        raise Forbidden()
    if not policy.can_write_reflection(client, task):
        raise ReflectionError(closed_task_message(task))


def _fit_answers(task: Assignment, answers: list[str]) -> list[str]:
    return [(answers[i] if i < len(answers) else "") for i in range(len(task.prompts))]


def _written(answers: list[str], ratings: dict) -> dict:
    return dict(answers=answers, resentment=ratings.get("resentment"),
                closeness=ratings.get("closeness"), stayed_present=ratings.get("stayed_present"))


def _set_loaded(obj, values: dict) -> None:
    """What a Core UPDATE wrote, set on the loaded object as its stored state (nothing to
    flush, nothing to read again)."""
    for key, value in values.items():
        set_committed_value(obj, key, value)


def _commit_as_written() -> None:
    """Commit, keeping what this request loaded as it is: every value written was set on its
    object by the write itself, so the redirect or the JSON that follows asks nothing again."""
    session = db.session()
    expiring, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expiring


_UNSET_AT_FIRST = ("submitted_at", "reviewed_at", "feedback_seen_at", "last_feedback_at", "shared_at",
                   "deleted_at", "deleted_by_id")


def _insert_once():
    """INSERT that makes nothing when the task already has its reflection (a unique key keeps
    it to one: another tab or device made it first)."""
    name = db.session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(Reflection).on_conflict_do_nothing(index_elements=["assignment_id"])


def _create(client: User, task: Assignment, values: dict) -> Reflection | None:
    """The task's reflection row, made with `values` in one statement, only while the task is
    still open (checked by the database itself) and has none; None, and nothing made, otherwise.
    The new row is put in the database session as loaded, and as the task's reflection."""
    row = {"urgent": False, **values, "assignment_id": task.id, "author_id": client.id}
    columns = Reflection.__table__.c
    source = sa.select(*[sa.literal(value, type_=columns[key].type) for key, value in row.items()]
                       ).where(Assignment.id == task.id, Assignment.status == TASK_OPEN)
    made = db.session.execute(_insert_once().from_select(list(row), source)
                              .returning(Reflection.id)).scalar()
    if made is None:
        return None
    reflection = Reflection(**{**dict.fromkeys(_UNSET_AT_FIRST), **row, "id": made})
    make_transient_to_detached(reflection)
    db.session.add(reflection)
    set_committed_value(reflection, "assignment", task)
    set_committed_value(task, "reflection", reflection)
    return reflection


def _reflection_now(task: Assignment) -> Reflection | None:
    """The task's reflection as stored now (after a refused write: what refused it), or made
    by another request since this one read "none yet"."""
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
    set_committed_value(task, "reflection", reflection)
    return reflection


def save_draft(client: User, task: Assignment, answers: list[str], ratings: dict,
               version: str | None = None) -> Reflection:
    """Save what she has written so far. Refused (nothing changed) once the task is closed.
    `version` is the draft version her page last saw ('' when it saw none): when the draft has
    been saved elsewhere since, nothing changes and DraftConflict says so (None: not checked)."""
    _require_writer(client, task)
    reflection = _write_draft(client, task, _fit_answers(task, answers), ratings, version)
    _commit_as_written()
    return reflection


def _write_draft(client: User, task: Assignment, answers: list[str], ratings: dict,
                 version: str | None) -> Reflection:
    """The draft's one write (the caller commits); a refused one is rolled back and raised."""
    values = _written(answers, ratings)
    reflection = task.reflection
    if reflection is None:
        made = _create(client, task, dict(values, status=REFLECTION_DRAFT,
                                          draft_saved_at=drafts.next_version(None)))
        if made is not None:
            return made  # a row this call has just made holds nothing anyone could lose
        reflection = _reflection_now(task)  # by another tab (or the task closed: refused below)
    # Conditional on the draft and its task still being open, checked by the database itself,
    # so that an autosave racing a submit or a cancel can never change what was sent; and, when
    # the page named the version it saw, on the draft still being that version.
    still_open = sa.select(Assignment.id).where(Assignment.id == task.id,
                                                Assignment.status == TASK_OPEN)
    conditions = [Reflection.assignment_id == task.id, Reflection.status == REFLECTION_DRAFT,
                  Reflection.assignment_id.in_(still_open)]
    previous = reflection.draft_saved_at if reflection is not None else None
    if version is not None:
        conditions.append(drafts.stored_is(version))
        try:
            previous = drafts.parse_version(version)
        except ValueError:
            pass  # matches no draft: refused below
    values["draft_saved_at"] = drafts.next_version(previous)
    updated = db.session.execute(
        sa.update(Reflection).where(*conditions).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated != 1:
        db.session.rollback()
        db.session.refresh(task)
        current = _reflection_now(task)
        if (version is not None and task.status == TASK_OPEN and current is not None
                and current.status == REFLECTION_DRAFT):
            if drafts.same_content(current, answers, ratings):
                return current  # already saved (an earlier copy of this save got through)
            raise drafts.DraftConflict(current)
        raise ReflectionError(closed_task_message(task))
    _set_loaded(reflection, values)
    return reflection


def keep_both(client: User, task: Assignment, answers: list[str], ratings: dict,
              version: str) -> Reflection:
    """"Keep both" after a conflict: her text and the version saved elsewhere (the one at
    `version`), joined, saved as the draft. If it has changed again meanwhile: DraftConflict."""
    current = task.reflection
    if current is not None and drafts.version_of(current) == version:
        answers, ratings = drafts.joined(current, _fit_answers(task, answers), ratings)
    return save_draft(client, task, answers, ratings, version)


def missing_for_submit(answers: list[str], ratings: dict) -> list[ReflectionError]:
    """Every answer a send still needs, in the page's order (her form lists them all at once)."""
    missing = []
    if not any(a.strip() for a in answers):
        missing.append(ReflectionError("Write at least one answer before sending.", "answer_0"))
    for name, label in (("resentment", "how strong the resentment felt"),
                        ("closeness", "how close you felt"),
                        ("stayed_present", "whether you stayed present")):
        if ratings.get(name) is None:
            missing.append(ReflectionError(f"Please choose {label} before sending.", name))
    return missing


def submit_reflection(client: User, task: Assignment, answers: list[str], ratings: dict,
                      urgent: bool = False, share: bool = False,
                      version: str | None = None) -> tuple[Reflection, bool]:
    """Send the reflection to the therapist (and, on a pair exercise, share it with the other
    member in the same transaction when she chose so and policy allows). Idempotent: a second
    submit changes nothing and returns (reflection, False). What was typed is saved as a draft
    even when refused. With the `version` her page saw, a draft saved elsewhere since is never
    sent over nor replaced: DraftConflict, nothing changed.

    Everything is read and checked first; then one transaction writes her words and the sent
    status in one conditional UPDATE, the task's status (conditional too), the audit row and
    the notification, and commits. Only a refused send saves the words as a draft on its own."""
    if task.status == TASK_SUBMITTED and task.reflection is not None:
        return task.reflection, False
    _require_writer(client, task)
    answers = _fit_answers(task, answers)
    missing = missing_for_submit(answers, ratings)
    if missing:
        save_draft(client, task, answers, ratings, version)  # the words are kept (or: conflict)
        raise missing[0]
    reflection = _send_or_keep_words(client, task, answers, ratings, urgent, share, version)
    if reflection is None:  # the database refused: sent meanwhile, saved elsewhere, or closed
        db.session.refresh(task)
        current = _reflection_now(task)
        if current is not None and current.status == REFLECTION_SUBMITTED:
            return current, False  # a double submit: nothing sent twice
        # Saved as a draft, or refused as the draft save would be (conflict, closed) ...
        saved = save_draft(client, task, answers, ratings, version)
        # ... and, saved (her page had sent this very text before), sent as that draft.
        again = None if version is None else drafts.version_of(saved)
        reflection = _send_or_keep_words(client, task, answers, ratings, urgent, share, again)
        if reflection is None:
            current = _reflection_now(task)
            if current.status == REFLECTION_DRAFT:  # only with a version: saved elsewhere meanwhile
                raise drafts.DraftConflict(current)
            return current, False
    return reflection, True


def _send_or_keep_words(client: User, task: Assignment, answers: list[str], ratings: dict,
                        urgent: bool, share: bool, version: str | None) -> Reflection | None:
    """The send's transaction, committed: the reflection, or None (rolled back) when the
    database refused it. A send that fails after her words were written (the audit row, the
    notification...) is rolled back whole, and her words are then saved as the draft on their
    own: a failed send never loses them. (When the first write itself fails, the database is
    locked or gone: a draft save would fail the same way, after the same wait.)"""
    written = False
    try:
        if share:  # the pair first, before any write: sharing takes turns with its ending
            from app.pairs.holding import hold_her_pair  # pairs' services import homework's

            hold_her_pair(client)
        reflection = _send_words(client, task, answers, ratings, urgent, version)
        if reflection is None:
            return None
        written = True
        if not _close_task(task):
            return None
        pair_exercise_id = task.pair_exercise_id
        if pair_exercise_id is not None:
            _read_again(client, task, reflection)
        audit.record(client, "reflection_submitted", client, reflection)
        notify(task.therapist, "new_reflection", f"/reflections/{reflection.id}")
        if pair_exercise_id is not None:
            retract_turn_notices(client, task.id)
        if share:
            from app.pairs.services import share_in_transaction  # pairs' services import homework's

            share_in_transaction(client, reflection)
        _commit_as_written()
        return reflection
    except Exception:  # noqa: BLE001 - any failure after her words were written: keep them, re-raise
        if written:
            _keep_words(client, task, answers, ratings, version)
        raise


def _send_words(client: User, task: Assignment, answers: list[str], ratings: dict, urgent: bool,
                version: str | None) -> Reflection | None:
    """Her words and the sent status in one conditional write (the row made sent at once if
    there is none yet): of two simultaneous submits, exactly one changes the row, and it sends
    its own words. Without a version, another device's draft save that landed since is sent
    over; with one, the draft must still be at that version. None, rolled back, when refused."""
    if task.pair_exercise_id is not None:
        _hold_pair_exercise(task.pair_exercise_id)
    now = utcnow()
    values = dict(_written(answers, ratings), status=REFLECTION_SUBMITTED, submitted_at=now,
                  urgent=bool(urgent), draft_saved_at=now)
    reflection = task.reflection
    if reflection is None:
        reflection = _create(client, task, values)
        if reflection is None:  # made meanwhile by another request, or the task closed
            db.session.rollback()
            return None
    else:
        unchanged = [] if version is None else [drafts.stored_is(version)]
        won = db.session.execute(
            sa.update(Reflection)
            .where(Reflection.id == reflection.id, Reflection.status == REFLECTION_DRAFT, *unchanged)
            .values(**values).execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            db.session.rollback()
            return None
        _set_loaded(reflection, values)
    return reflection


def _close_task(task: Assignment) -> bool:
    """The task's status, conditional on its still being open (False, rolled back, if it was
    cancelled since it was read: the send goes with it)."""
    closed = db.session.execute(
        sa.update(Assignment).where(Assignment.id == task.id, Assignment.status == TASK_OPEN)
        .values(status=TASK_SUBMITTED).execution_options(synchronize_session=False)
    ).rowcount
    if closed != 1:
        db.session.rollback()
        return False
    set_committed_value(task, "status", TASK_SUBMITTED)
    return True


def _keep_words(client: User, task: Assignment, answers: list[str], ratings: dict,
                version: str | None) -> None:
    """After a send that failed part-way: her words saved as the draft, if the database lets
    us (the send's own error is the one reported either way)."""
    try:
        db.session.rollback()
        save_draft(client, task, answers, ratings, version)
    except Exception:  # noqa: BLE001 - best effort: the page keeps her words in any case
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - a dead connection: the error handler drops it
            pass


def _hold_pair_exercise(pair_exercise_id: int) -> None:
    """The two members of a pair exercise send one after the other, never at the same instant:
    whoever sends second reads the first one's sent reflection, so the reveal happens once and
    each is told once. PostgreSQL: a row lock on the pair exercise until commit; SQLite: its
    one write lock, which app/core/database.py takes for a SELECT ... FOR UPDATE. Both are
    taken before the send's writes. What was read before is read again after the writes
    (_read_again)."""
    db.session.execute(sa.select(PairExercise.id).where(PairExercise.id == pair_exercise_id)
                       .with_for_update())


def _read_again(client: User, task: Assignment, reflection: Reflection) -> None:
    """After the send's writes (the lock held): whatever this request read before it, the
    other member's task and reflection above all, is read again when next used. Her own
    account, task and reflection hold what was just written."""
    mine = {id(getattr(client, "_get_current_object", lambda: client)()), id(task), id(reflection)}
    for obj in list(db.session.identity_map.values()):
        if id(obj) not in mine:
            db.session.expire(obj)
    db.session.expire(task, ["pair_exercise"])


def add_addendum(client: User, reflection: Reflection, body: str,
                 once_key: str | None = None) -> Addendum | None:
    """Add to a sent reflection; the original is never overwritten. The same form posted again
    (its one-time key) adds nothing and returns None."""
    if not policy.can_add_addendum(client, reflection):
        raise Forbidden()
    if not (body or "").strip():
        raise ReflectionError("Write something to add first.", "body")
    if not once.first_time(client, once_key, "addendum"):
        return None
    addendum = Addendum(reflection_id=reflection.id, body=body)
    db.session.add(addendum)
    # A new addendum puts the reflection back in the therapist's queue.
    reflection.reviewed_at = None
    audit.record(client, "addendum_added", client, reflection)
    db.session.commit()
    return addendum


def mark_urgent(client: User, reflection: Reflection) -> None:
    """Flag a sent reflection as urgent for her therapist (a second flag changes nothing)."""
    if policy.can_add_addendum(client, reflection) and reflection.urgent:
        return  # already urgent: a double submit
    if not policy.can_mark_urgent(client, reflection):
        raise Forbidden()
    reflection.urgent = True
    reflection.reviewed_at = None
    audit.record(client, "reflection_marked_urgent", client, reflection)
    db.session.commit()


def mark_feedback_seen(client: User, reflection: Reflection | None) -> None:
    """The author has seen the feedback: the 'new feedback' marker goes away, and so does the
    notification that announced it (home and Notifications never disagree)."""
    if reflection is None or client.id != reflection.author_id or not reflection.has_new_feedback:
        return
    reflection.feedback_seen_at = utcnow()
    feedback_notices_read(client, reflection.assignment_id, reflection.feedback_seen_at)
    db.session.commit()
