"""Practice-scale data for benchmarks: `flask seed-scale`.

By default: 25 therapists, 2,500 clients (the first 1,000 of them in 500 mother–daughter pairs),
100,000 tasks, 100,000 reflections (most submitted, with therapist feedback), 10,000 sessions
with shared and clinical notes, plus some agenda items and notifications. The issue asked for
25,000 tasks; a task holds at most one reflection, so 100,000 reflections need 100,000 tasks
(with --tasks above --reflections, the extra tasks are open and not started yet).

Every size is an option and `--factor N` multiplies them all. One more client,
submitter@scale.example, gets --submit-tasks open tasks, each with a complete draft, for a
benchmark that submits them one by one; `bench_subjects()` reads back what a benchmark needs.

Rows go in with SQLAlchemy Core bulk inserts, a few thousand at a time, one transaction per
chunk; the column types still run, so answers, feedback and notes are encrypted at rest.
Primary keys are assigned here (after the highest one in use) so children can point at their
parents without a round trip; on PostgreSQL each sequence is then moved past them.
Every account shares one password (hashed once); therapists share one two-factor secret.
"""
from __future__ import annotations

import random
import time
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql

from app.core import passwords
from app.extensions import db
from app.homework.families import sharing_for
from app.models import (
    REFLECTION_DRAFT,
    REFLECTION_SUBMITTED,
    ROLE_CLIENT,
    ROLE_THERAPIST,
    SHARING_AUTHOR_CHOICE,
    STAYED_PRESENT_CHOICES,
    TASK_OPEN,
    TASK_SUBMITTED,
    Assignment,
    Exercise,
    Pair,
    PairMember,
    Reflection,
    User,
    utcnow,
)

SCALE_PASSWORD = "scale: a calm walk 2026"
SCALE_TOTP_SECRET = "SCALECOMMONGROUNDBENCHTOTP234567"  # base32, every scale therapist's
SCALE_DOMAIN = "scale.example"
SUBMITTER_EMAIL = f"submitter@{SCALE_DOMAIN}"
DEFAULT_SIZES = {"therapists": 25, "clients": 2_500, "pairs": 500, "tasks": 100_000,
                 "reflections": 100_000, "sessions": 10_000, "submit_tasks": 5_000}
CHUNK_ROWS = 5_000
# Parents before children: a flush writes every buffer in this order.
TABLES = ("users", "pairs", "pair_members", "pair_exercises", "assignments", "reflections",
          "feedback", "therapy_sessions", "session_notes", "clinical_notes", "agenda_items",
          "notifications")
PROGRESS_TABLES = ("assignments", "reflections", "therapy_sessions")
SPAN_DAYS = 360  # tasks and sessions spread over about the last year

OPENINGS = ("On Sunday we talked on the phone for an hour.", "We had lunch together on Saturday.",
            "She came round after work on Wednesday.", "We walked the dog together.",
            "At my sister's birthday we sat next to each other.", "She texted me about the holidays.")
MIDDLES = ("I did not interrupt her, even when she brought up my job.",
           "The old argument about the move started and I let it go.",
           "I noticed my shoulders tense when she criticised my cooking.",
           "For a few minutes it felt easy, like years ago.",
           "I said what I wanted without raising my voice.",
           "I expected her to ask about my week; she did not, and I minded less than before.")
ENDINGS = ("I think she was surprised.", "I am not sure it changed anything yet.",
           "Afterwards I felt lighter.", "Later I felt guilty and do not know why.",
           "I want to try it again next week.", "It was harder than I expected.")
SHORT = ("A little, yes.", "Not really this time.", "More than last week.", "I am not sure.")
FEEDBACK = ("Thank you for trying this. Noticing that moment is a real start.",
            "This sounds hard. Let's talk about what made it difficult to stay calm.",
            "Well done for letting the argument go. What helped you do it?",
            "I can hear how tired you are. Go gently with yourself this week.")
SESSION_SUMMARIES = ("We looked at the old argument about the move and how often it comes back.",
                     "You noticed a good moment and stayed with it. We agreed on the next exercise.",
                     "We talked about the holidays and what a good-enough visit would look like.")
CLINICAL = ("Affect brighter. Resentment still high around holidays; revisit.",
            "Tearful when discussing the move. Check sleep next time.",
            "Engaged, good insight. Consider stepping down to fortnightly.")
AGENDA = ("How to answer when she brings up the wedding again.",
          "I felt guilty after Sunday and don't know why.", "Christmas plans.")


class Writer:
    """Buffers rows per table, hands out primary keys, and writes every buffer (parents first)
    in one transaction once any buffer holds a chunk."""

    def __init__(self, chunk: int, on_write=None):
        self.chunk = chunk
        self.on_write = on_write or (lambda table, rows: None)
        self.tables = {name: db.metadata.tables[name] for name in TABLES}
        self.buffers: dict[str, list[dict]] = {name: [] for name in TABLES}
        self.counts: Counter = Counter()
        self.postgres = db.session.get_bind().dialect.name == "postgresql"
        self.next_ids = {name: self._first_free_id(name) for name in TABLES}

    def _first_free_id(self, name: str) -> int:
        top = db.session.scalar(sa.select(sa.func.max(self.tables[name].c.id))) or 0
        if self.postgres:  # never reuse an id the sequence already handed out
            sequence = db.session.scalar(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                         {"t": name})
            if sequence:  # NULL until the sequence has handed out a value
                last = db.session.scalar(sa.select(sa.func.pg_sequence_last_value(
                    sa.cast(sequence, postgresql.REGCLASS))))
                top = max(top, last or 0)
        return top + 1

    def new_id(self, name: str) -> int:
        value = self.next_ids[name]
        self.next_ids[name] = value + 1
        return value

    def add(self, name: str, row: dict) -> int:
        """Queue a row; gives it the next id unless it has one. Returns the id."""
        if "id" not in row:
            row = {"id": self.new_id(name), **row}
        self.buffers[name].append(row)
        if len(self.buffers[name]) >= self.chunk:
            self.flush()
        return row["id"]

    def flush(self) -> None:
        for name in TABLES:
            rows = self.buffers[name]
            if rows:
                db.session.execute(sa.insert(self.tables[name]), rows)
                self.counts[name] += len(rows)
                self.buffers[name] = []
                self.on_write(name, len(rows))
        db.session.commit()

    def reset_sequences(self) -> None:
        """PostgreSQL: move each sequence past the ids written here, or the app's next insert
        would collide with them."""
        if not self.postgres:
            return
        for name in TABLES:
            table = self.tables[name]
            db.session.execute(sa.select(sa.func.setval(
                sa.func.pg_get_serial_sequence(name, "id"),
                sa.select(sa.func.max(table.c.id)).scalar_subquery())))
        db.session.commit()


def _spread(total: int, parts: int, index: int) -> int:
    """The share of `total` for part `index` when spread as evenly as possible."""
    return total // parts + (1 if index < total % parts else 0)


def _at(day: date, hour: int, minutes: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minutes, tzinfo=ZoneInfo("UTC"))


class Seeder:
    """Generates the practice unit by unit (a pair or a single client), lazily."""

    def __init__(self, sizes: dict, rng: random.Random, writer: Writer):
        self.sizes, self.rng, self.w = sizes, rng, writer
        self.now = utcnow().replace(microsecond=0)
        zone = ZoneInfo(current_app.config["PRACTICE_TIMEZONE"])
        self.today = self.now.astimezone(zone).date()
        self.timezone = current_app.config["PRACTICE_TIMEZONE"]
        self.library = db.session.scalars(
            sa.select(Exercise).where(Exercise.built_in.is_(True)).order_by(Exercise.id)).all()
        if not self.library:
            raise click.ClickException("No built-in exercises: run `flask db upgrade` first.")
        self.password_hash = passwords.hash_password(SCALE_PASSWORD)
        self.last_task_of: int | None = None  # the latest task written (for a reminder's link)

    # --- people ------------------------------------------------------------------------------

    def user(self, email, name, role, therapist_id=None, totp=False, created_days=400) -> int:
        return self.w.add("users", {
            "email": email, "name": name, "role": role, "password_hash": self.password_hash,
            "therapist_id": therapist_id, "timezone": self.timezone,
            "created_at": self.now - timedelta(days=created_days), "closed_at": None,
            "email_notifications": False,
            "totp_secret": SCALE_TOTP_SECRET if totp else None,
            "totp_enabled_at": self.now - timedelta(days=created_days) if totp else None,
            "totp_last_step": None, "failed_logins": 0, "locked_until": None})

    def run(self) -> None:
        s = self.sizes
        therapists = [self.user(f"therapist{n}@{SCALE_DOMAIN}", f"Scale Therapist {n}",
                                ROLE_THERAPIST, totp=True, created_days=420)
                      for n in range(1, s["therapists"] + 1)]
        # Units: each pair first (two clients), then single clients; therapists in turn.
        units: list[list[int]] = [[2 * k, 2 * k + 1] for k in range(s["pairs"])]
        units += [[i] for i in range(2 * s["pairs"], s["clients"])]
        client_ids: list[int] = [0] * s["clients"]
        therapist_of: dict[int, int] = {}
        for j, unit in enumerate(units):
            for i in unit:
                therapist_of[i] = therapists[j % len(therapists)]
                client_ids[i] = self.user(f"client{i + 1}@{SCALE_DOMAIN}", f"Scale Client {i + 1}",
                                          ROLE_CLIENT, therapist_of[i])
        submitter = None
        if s["submit_tasks"]:
            submitter = self.user(SUBMITTER_EMAIL, "Scale Submitter", ROLE_CLIENT, therapists[0])
        self.w.flush()

        for j, unit in enumerate(units):
            therapist = therapist_of[unit[0]]
            members = [(client_ids[i], i) for i in unit]
            pair_id = self.pair(therapist, [c for c, _ in members]) if len(unit) == 2 else None
            self.homework(therapist, members, pair_id)
            self.sessions(therapist, [c for c, _ in members], pair_id,
                          _spread(s["sessions"], len(units), j))
        if submitter is not None:
            self.submit_tasks(therapists[0], submitter, s["submit_tasks"])
        self.w.flush()

    def pair(self, therapist: int, members: list[int]) -> int:
        linked = self.now - timedelta(days=SPAN_DAYS + 20)
        pair_id = self.w.add("pairs", {"therapist_id": therapist, "created_at": linked,
                                       "ended_at": None, "ended_by_id": None, "end_reason": None})
        for client, label in zip(members, ("mother", "daughter"), strict=False):
            self.w.add("pair_members", {"pair_id": pair_id, "user_id": client, "label": label,
                                        "accepted_at": linked + timedelta(hours=2)})
        return pair_id

    # --- homework ----------------------------------------------------------------------------

    def homework(self, therapist: int, members: list[tuple[int, int]], pair_id: int | None) -> None:
        """Every member's tasks over the last year: the oldest submitted (most with feedback),
        then open ones with a draft, then open ones not started."""
        s, rng = self.sizes, self.rng
        counts = {c: (_spread(s["tasks"], s["clients"], i), _spread(s["reflections"], s["clients"], i))
                  for c, i in members}
        shortest = min(t for t, _ in counts.values())
        shared_slots = {}  # slot -> (exercise, due date, pair exercise id), for pair exercises
        if pair_id is not None:
            for slot in range(2, shortest, 5):
                exercise = rng.choice(self.library)
                due = self.due_date(slot, shortest)
                pe = self.w.add("pair_exercises", {
                    "pair_id": pair_id, "therapist_id": therapist, "title": exercise.title,
                    "reveal_together": rng.random() < 0.3,
                    "created_at": self.created_for(due)})
                shared_slots[slot] = (exercise, due, pe)
        for label, (client, _) in zip(("mother", "daughter"), members, strict=False):
            tasks, reflections = counts[client]
            drafts = 0 if reflections < 2 else min(reflections - 1, max(1, round(tasks / 10)))
            submitted = reflections - drafts
            self.last_task_of = None
            for slot in range(tasks):
                if slot in shared_slots:
                    exercise, due, pe = shared_slots[slot]
                else:
                    exercise, due, pe = rng.choice(self.library), self.due_date(slot, tasks), None
                state = ("submitted" if slot < submitted else
                         "draft" if slot < reflections else "open")
                self.task(therapist, client, exercise, due, state, pe,
                          label if pair_id is not None else None)
            self.notifications(client)

    def due_date(self, slot: int, tasks: int) -> date:
        first = self.today - timedelta(days=SPAN_DAYS)
        return first + timedelta(days=int((slot + 0.5) * (SPAN_DAYS + 14) / tasks))

    def created_for(self, due: date) -> datetime:
        return min(_at(due - timedelta(days=7), 10), self.now - timedelta(days=4))

    def prompts_for(self, exercise: Exercise, label: str | None) -> list:
        worded = (exercise.member_prompts or {}).get(label) if label else None
        if isinstance(worded, list) and len(worded) == len(exercise.prompts) and all(worded):
            return list(worded)
        return list(exercise.prompts)

    def answers(self, count: int, complete: bool = True) -> list[str]:
        rng = self.rng
        first = f"{rng.choice(OPENINGS)} {rng.choice(MIDDLES)} {rng.choice(ENDINGS)}"
        rest = [rng.choice(SHORT) if complete else "" for _ in range(count - 1)]
        return [first] + rest

    def task(self, therapist, client, exercise, due, state, pair_exercise_id, label) -> None:
        rng = self.rng
        prompts = self.prompts_for(exercise, label)
        created = self.created_for(due)
        task_id = self.w.add("assignments", {
            "client_id": client, "therapist_id": therapist, "exercise_id": exercise.id,
            "exercise_version": exercise.version, "family": exercise.family,
            "title": exercise.title, "instructions": exercise.instructions, "prompts": prompts,
            "sharing": sharing_for(exercise.family), "note": "", "due_date": due,
            "series_key": None, "occurrence": 1, "occurrences": 1,
            "status": TASK_SUBMITTED if state == "submitted" else TASK_OPEN,
            "created_at": created, "cancelled_at": None, "pair_exercise_id": pair_exercise_id})
        self.last_task_of = task_id
        if state == "open":
            return
        row = {"assignment_id": task_id, "author_id": client, "urgent": False,
               "reviewed_at": None, "feedback_seen_at": None, "last_feedback_at": None,
               "shared_at": None}
        if state == "draft":
            rated = rng.random() < 0.5
            saved = max(created, self.now - timedelta(hours=rng.randint(1, 240)))
            row.update(answers=self.answers(len(prompts), complete=False),
                       resentment=rng.randint(0, 10) if rated else None,
                       closeness=rng.randint(0, 10) if rated else None,
                       stayed_present=rng.choice(STAYED_PRESENT_CHOICES) if rated else None,
                       status=REFLECTION_DRAFT, draft_saved_at=saved, submitted_at=None)
            self.w.add("reflections", row)
            return
        sent = min(_at(due, 18) - timedelta(hours=rng.randint(0, 72)),
                   self.now - timedelta(hours=rng.randint(1, 48)))
        row.update(answers=self.answers(len(prompts)), resentment=rng.randint(0, 10),
                   closeness=rng.randint(0, 10), stayed_present=rng.choice(STAYED_PRESENT_CHOICES),
                   status=REFLECTION_SUBMITTED, draft_saved_at=sent - timedelta(minutes=rng.randint(1, 120)),
                   submitted_at=sent, urgent=rng.random() < 0.02)
        age = self.now - sent
        reviewed = rng.random() < (0.97 if age > timedelta(days=10) else 0.4)
        if reviewed:
            row["reviewed_at"] = min(sent + timedelta(minutes=rng.randint(120, 5760)),
                                     self.now - timedelta(minutes=10))
        if pair_exercise_id and sharing_for(exercise.family) == SHARING_AUTHOR_CHOICE \
                and rng.random() < 0.5:
            row["shared_at"] = sent + timedelta(minutes=5)
        reflection_id = self.w.new_id("reflections")
        if reviewed and rng.random() < 0.8:
            row["last_feedback_at"] = row["reviewed_at"]
            seen = row["reviewed_at"] + timedelta(days=1)
            row["feedback_seen_at"] = seen if seen < self.now else None
        self.w.add("reflections", {"id": reflection_id, **row})
        if row["last_feedback_at"] is not None:
            self.w.add("feedback", {"reflection_id": reflection_id, "therapist_id": therapist,
                                    "body": rng.choice(FEEDBACK),
                                    "created_at": row["last_feedback_at"]})
        elif row["reviewed_at"] is None:
            self.w.add("notifications", {
                "user_id": therapist, "kind": "new_reflection",
                "link": f"/reflections/{reflection_id}", "created_at": sent,
                "read_at": None, "emailed_at": None})

    def notifications(self, client: int) -> None:
        """A few per client: an old read one, a recent unread new task, an agenda item or two."""
        rng = self.rng
        self.w.add("notifications", {"user_id": client, "kind": "new_task", "link": "/home",
                                     "created_at": self.now - timedelta(days=30),
                                     "read_at": self.now - timedelta(days=29), "emailed_at": None})
        self.w.add("notifications", {"user_id": client, "kind": "new_task", "link": "/home",
                                     "created_at": self.now - timedelta(hours=rng.randint(1, 72)),
                                     "read_at": None, "emailed_at": None})
        if rng.random() < 0.3 and self.last_task_of:
            self.w.add("notifications", {
                "user_id": client, "kind": "reminder_overdue", "link": f"/tasks/{self.last_task_of}",
                "created_at": self.now - timedelta(hours=rng.randint(1, 48)), "read_at": None,
                "emailed_at": None})

    def submit_tasks(self, therapist: int, client: int, count: int) -> None:
        """Open tasks with a complete draft (answers and ratings), ready to be sent."""
        rng = self.rng
        for n in range(count):
            exercise = self.library[n % len(self.library)]
            due = self.today + timedelta(days=n % 28)
            task_id = self.w.add("assignments", {
                "client_id": client, "therapist_id": therapist, "exercise_id": exercise.id,
                "exercise_version": exercise.version, "family": exercise.family,
                "title": exercise.title, "instructions": exercise.instructions,
                "prompts": list(exercise.prompts), "sharing": sharing_for(exercise.family),
                "note": "", "due_date": due, "series_key": None, "occurrence": 1,
                "occurrences": 1, "status": TASK_OPEN, "created_at": self.now - timedelta(days=1),
                "cancelled_at": None, "pair_exercise_id": None})
            self.w.add("reflections", {
                "assignment_id": task_id, "author_id": client,
                "answers": self.answers(len(exercise.prompts)), "resentment": rng.randint(0, 10),
                "closeness": rng.randint(0, 10), "stayed_present": rng.choice(STAYED_PRESENT_CHOICES),
                "status": REFLECTION_DRAFT, "draft_saved_at": self.now - timedelta(hours=1),
                "submitted_at": None, "urgent": False, "reviewed_at": None,
                "feedback_seen_at": None, "last_feedback_at": None, "shared_at": None})

    # --- sessions ----------------------------------------------------------------------------

    def sessions(self, therapist: int, members: list[int], pair_id: int | None, count: int) -> None:
        """Sessions over the last year; in a pair every third is with both, the others with one."""
        rng = self.rng
        for k in range(count):
            days = SPAN_DAYS - int((k + 0.5) * SPAN_DAYS / count) + rng.randint(-2, 2)
            starts = _at(self.today - timedelta(days=max(days, 1)), rng.randint(8, 17))
            together = pair_id is not None and k % 3 == 0
            client = None if together else members[k % len(members)]
            session_id = self.w.add("therapy_sessions", {
                "therapist_id": therapist, "client_id": client,
                "pair_id": pair_id if together else None, "starts_at": starts,
                "duration_minutes": 75 if together else 50, "created_at": starts})
            written = starts + timedelta(hours=2)
            if rng.random() < 0.7:
                self.w.add("session_notes", {
                    "session_id": session_id, "kind": "shared", "author_id": therapist,
                    "visibility": "client", "body": rng.choice(SESSION_SUMMARIES), "version": 1,
                    "created_at": written, "updated_at": written})
            if together:
                for member in members:
                    if rng.random() < 0.3:
                        self.w.add("session_notes", {
                            "session_id": session_id, "kind": "member", "author_id": member,
                            "visibility": rng.choice(("pair", "therapist")),
                            "body": rng.choice(ENDINGS), "version": 1,
                            "created_at": written, "updated_at": written})
            if rng.random() < 0.4:
                self.w.add("clinical_notes", {"session_id": session_id, "therapist_id": therapist,
                                              "body": rng.choice(CLINICAL), "version": 1,
                                              "updated_at": written})
        for member in members:
            for n in range(rng.randint(0, 2)):
                created = self.now - timedelta(days=rng.randint(1, 60))
                self.w.add("agenda_items", {
                    "client_id": member, "therapist_id": therapist, "body": rng.choice(AGENDA),
                    "created_at": created,
                    "done_at": created + timedelta(days=3) if n == 1 else None})


def scale_present() -> bool:
    return db.session.scalar(sa.select(User.id).where(
        User.email.like(f"%@{SCALE_DOMAIN}")).limit(1)) is not None


def seed(sizes: dict, seed_value: int = 2026, chunk: int = CHUNK_ROWS, on_write=None) -> Counter:
    """Write the practice; returns rows written per table. Sequences are reset even on failure."""
    writer = Writer(chunk, on_write)
    try:
        Seeder(sizes, random.Random(seed_value), writer).run()
    finally:
        db.session.rollback()
        writer.reset_sequences()
    # Fresh planner statistics for what was just loaded (SQLite has none until asked).
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    return writer.counts


def check_sizes(sizes: dict) -> None:
    if not sizes["therapists"] and (sizes["clients"] or sizes["submit_tasks"]):
        raise click.ClickException("Clients need at least one therapist.")
    if 2 * sizes["pairs"] > sizes["clients"]:
        raise click.ClickException("--pairs can be at most half of --clients.")
    if sizes["reflections"] > sizes["tasks"]:
        raise click.ClickException("--reflections can be at most --tasks (one reflection per task).")
    if (sizes["tasks"] or sizes["sessions"]) and not sizes["clients"]:
        raise click.ClickException("Tasks and sessions need at least one client.")


def _size_option(name: str, help: str | None = None):
    return click.option(f"--{name.replace('_', '-')}", name, type=click.IntRange(0),
                        default=DEFAULT_SIZES[name], show_default=True, help=help)


@click.command("seed-scale")
@_size_option("therapists")
@_size_option("clients")
@_size_option("pairs", "Mother-daughter pairs formed from the first 2 x PAIRS clients.")
@click.option("--tasks", "tasks", type=click.IntRange(0), default=DEFAULT_SIZES["tasks"],
              show_default=True,
              help="Tasks (the issue's 25,000 raised to 100,000: each task holds one reflection).")
@_size_option("reflections", "At most --tasks; about 90% submitted, the rest drafts. Tasks "
              "beyond this many are open and not started.")
@_size_option("sessions")
@click.option("--submit-tasks", "submit_tasks", type=click.IntRange(0),
              default=DEFAULT_SIZES["submit_tasks"], show_default=True,
              help=f"Open tasks with a ready draft for {SUBMITTER_EMAIL}, to submit in a benchmark.")
@click.option("--factor", type=click.IntRange(1), default=1, show_default=True,
              help="Multiply every size by this.")
@click.option("--seed", "seed_value", type=int, default=2026, show_default=True)
def seed_scale(factor, seed_value, **sizes):
    """Fill the database with practice-scale data: by default 25 therapists, 2,500 clients
    (500 pairs), 100,000 tasks and as many reflections (most with feedback), 10,000 sessions.

    Tasks default to 100,000 rather than the 25,000 first asked for, because each task holds
    at most one reflection. Every account's password is SCALE_PASSWORD in app/scale.py;
    therapists sign in with the two-factor secret SCALE_TOTP_SECRET. Refused in production
    and on a database that already holds scale data (emails @scale.example)."""
    if not current_app.config.get("ALLOW_DEMO_DATA"):
        raise click.ClickException("Refusing to load scale data in production.")
    sizes = {name: value * factor for name, value in sizes.items()}
    check_sizes(sizes)
    if scale_present():
        raise click.ClickException(
            f"This database already holds scale data (accounts @{SCALE_DOMAIN}); "
            "use a fresh database.")
    started = time.monotonic()
    total = sizes["tasks"] + sizes["reflections"] + sizes["sessions"] + 2 * sizes["submit_tasks"]
    with click.progressbar(length=total, label="Seeding", show_pos=True) as bar:
        counts = seed(sizes, seed_value,
                      on_write=lambda table, n: bar.update(n) if table in PROGRESS_TABLES else None)
    elapsed = time.monotonic() - started
    click.echo("")
    click.echo(f"{'Table':<20} {'Rows':>10}")
    for name in TABLES:
        click.echo(f"{name:<20} {counts[name]:>10,}")
    click.echo(f"{'total':<20} {sum(counts.values()):>10,}")
    click.echo(f"Done in {elapsed:.1f} s. Password for every account: {SCALE_PASSWORD!r}; "
               f"therapists' two-factor secret: {SCALE_TOTP_SECRET}.")


def bench_subjects() -> dict:
    """What a benchmark needs, read from the database (call inside an app context)."""
    pairs = db.session.scalars(
        sa.select(Pair).join(PairMember).join(User, User.id == PairMember.user_id)
        .where(User.email.like(f"%@{SCALE_DOMAIN}"), Pair.ended_at.is_(None))
        .distinct().order_by(Pair.id).limit(50)).all()
    for pair in pairs:
        if len(pair.members) != 2:
            continue
        client, partner = pair.members[0].user, pair.members[1].user
        open_task = db.session.scalar(
            sa.select(Assignment.id).join(Reflection, Reflection.assignment_id == Assignment.id)
            .where(Assignment.client_id == client.id, Assignment.status == TASK_OPEN,
                   Reflection.status == REFLECTION_DRAFT).order_by(Assignment.id).limit(1))
        reflection = db.session.scalar(
            sa.select(Reflection.id).where(Reflection.author_id == client.id,
                                           Reflection.status == REFLECTION_SUBMITTED)
            .order_by(Reflection.id).limit(1))
        if open_task is None or reflection is None:
            continue
        submitter = db.session.scalar(sa.select(User).where(User.email == SUBMITTER_EMAIL))
        submit_ids = [] if submitter is None else list(db.session.scalars(
            sa.select(Assignment.id).where(Assignment.client_id == submitter.id,
                                           Assignment.status == TASK_OPEN)
            .order_by(Assignment.id)))
        return {
            "therapist_email": client.therapist.email, "client_email": client.email,
            "partner_email": partner.email, "client_id": client.id, "partner_id": partner.id,
            "pair_id": pair.id, "open_task_id": open_task, "reflection_id": reflection,
            "submitter_email": submitter.email if submitter else None,
            "submit_task_ids": submit_ids, "password": SCALE_PASSWORD,
            "totp_secret": SCALE_TOTP_SECRET,
        }
    raise LookupError("No scale pair with an open draft and a submitted reflection: "
                      "run `flask seed-scale` first.")
