"""Practice-scale data for benchmarks: `flask seed-scale`, and `bench_subjects()` to read it back.

By default: 25 therapists, 2,500 clients (the first 1,000 of them in 500 mother–daughter pairs),
100,000 tasks, 100,000 reflections (most submitted, with therapist feedback), 10,000 sessions
with shared and clinical notes, plus some agenda items and notifications. The issue asked for
25,000 tasks; a task holds at most one reflection, so 100,000 reflections need 100,000 tasks
(with --tasks above --reflections, the extra tasks are open and not started yet).

Every size is an option and `--factor N` multiplies them all. One more client,
submitter@scale.example, gets --submit-tasks open tasks, each with a complete draft, for a
benchmark that submits them one by one; `bench_subjects()` reads back what a benchmark needs.

The command is here; the people and sessions are generated in scale_practice.py, the homework in
scale_homework.py, and written by the bulk inserts of scale_writer.py.
"""
from __future__ import annotations

import random
import time
from collections import Counter

import click
import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import REFLECTION_DRAFT, REFLECTION_SUBMITTED, TASK_OPEN, Assignment, Pair, PairMember, Reflection, User
from app.ops.scale_practice import SCALE_DOMAIN, SCALE_PASSWORD, SCALE_TOTP_SECRET, SUBMITTER_EMAIL, Seeder
from app.ops.scale_writer import CHUNK_ROWS, TABLES, Writer

DEFAULT_SIZES = {"therapists": 25, "clients": 2_500, "pairs": 500, "tasks": 100_000,
                 "reflections": 100_000, "sessions": 10_000, "submit_tasks": 5_000}
PROGRESS_TABLES = ("assignments", "reflections", "therapy_sessions")


def scale_present() -> bool:
    """True if the database already holds scale data (accounts @scale.example)."""
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
    """Refuse sizes that cannot make a practice (clients without a therapist, too many pairs ...)."""
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
    at most one reflection. Every account's password is SCALE_PASSWORD in app/ops/scale_practice.py;
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
