"""Flask commands: create-therapist, seed-demo, send-reminders, send-digests, outbox-worker,
vapid-keys, purge-deleted, check-deploy, verify-data, seed-scale, backup, restore."""
import json

import click
import sqlalchemy as sa
from flask import Flask, current_app

from app.accounts.services import normalise_email
from app.core import passwords
from app.extensions import db
from app.models import ROLE_THERAPIST, User
from app.notifications.push import vapid_keys_command
from app.notifications.worker import outbox_worker_command
from app.ops import backup, demo, scale
from app.ops.deploy_check import check_deploy
from app.ops.verify_data import verify_data_command


def init_app(app: Flask) -> None:
    app.cli.add_command(create_therapist)
    app.cli.add_command(seed_demo)
    app.cli.add_command(send_reminders)
    app.cli.add_command(send_digests)
    app.cli.add_command(outbox_worker_command)
    app.cli.add_command(vapid_keys_command)
    app.cli.add_command(purge_deleted)
    app.cli.add_command(check_deploy)
    app.cli.add_command(verify_data_command)
    app.cli.add_command(scale.seed_scale)
    app.cli.add_command(backup.backup_command)
    app.cli.add_command(backup.restore_command)


@click.command("create-therapist")
@click.option("--email", prompt="Email")
@click.option("--name", prompt="Full name")
@click.password_option("--password", prompt="Password", confirmation_prompt=True, hide_input=True)
def create_therapist(email, name, password):
    """Create a therapist account (the password is asked for without echo)."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise click.ClickException("Please give a valid email address.")
    if not name.strip() or len(name) > 120 or any(ord(ch) < 32 for ch in name):
        raise click.ClickException("Please give a name of 1 to 120 characters.")
    problem = passwords.password_problem(password, email=email, name=name)
    if problem:
        raise click.ClickException(problem)
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise click.ClickException(f"An account with the email {email} already exists.")
    db.session.add(User(email=email, name=name.strip(), role=ROLE_THERAPIST, email_notifications=True,
                        timezone=current_app.config["PRACTICE_TIMEZONE"],
                        password_hash=passwords.hash_password(password)))
    db.session.commit()
    click.echo(f"Therapist {name.strip()} <{email}> created. Sign-in is at /login.")


@click.command("seed-demo")
@click.option("--json", "as_json", is_flag=True, help="Print the demo logins as JSON.")
@click.option("--if-empty", is_flag=True,
              help="Only add demo data to an empty database (used by `make run`).")
def seed_demo(as_json, if_empty):
    """Create the demo therapists and clients (idempotent) and print their logins."""
    if not current_app.config.get("ALLOW_DEMO_DATA"):
        raise click.ClickException("Refusing to load demo data in production.")
    if if_empty and not demo.database_empty() and not demo.demo_present():
        click.echo("The database already holds real accounts; no demo data was added.", err=True)
        return
    created = demo.seed_demo()
    logins = demo.demo_logins()
    if as_json:
        click.echo(json.dumps(logins, indent=2))
        return
    click.echo(f"Demo data: {created} account(s) created." if created else
               "Demo data already present; nothing added.")
    click.echo("")
    click.echo(f"{'Email':<28} {'Password':<20} {'Role':<10} Notes")
    for row in logins:
        note = ""
        if row["therapist"]:
            note = f"client of {row['therapist']}"
        if row["partner"]:
            note += f"; {row['relation']} of {row['partner']}"
        if row["totp_secret"]:
            note = f"two-factor secret {row['totp_secret']}"
        click.echo(f"{row['email']:<28} {row['password']:<20} {row['role']:<10} {note}")
    click.echo("")
    click.echo("Therapists sign in with a code too: `flask --app wsgi totp-code EMAIL` prints it,")
    click.echo("or add the secret above to any authenticator app.")


@click.command("send-reminders")
def send_reminders():
    """Remind clients of tasks due tomorrow and of overdue ones (for cron; safe to run twice)."""
    from app.notifications.services import send_reminders as send

    sent = send()
    click.echo(f"Reminders: {sent['reminder_due']} due tomorrow, {sent['reminder_overdue']} overdue.")


@click.command("send-digests")
def send_digests():
    """Queue the daily digest emails that are due (the outbox worker also does this itself)."""
    from app.notifications.digest import send_digests as send

    click.echo(f"Digests queued: {send()}.")


@click.command("purge-deleted")
def purge_deleted():
    """Remove for good the tasks and reflections deleted over 30 days ago, and forms' one-time
    keys and finished outbox items over 30 days old (for cron; safe to run twice)."""
    from app.core.once import forget_old_keys
    from app.homework.deletion import purge_deleted as purge
    from app.notifications.outbox import forget_finished

    removed = purge()
    keys = forget_old_keys()
    finished = forget_finished()
    click.echo(f"Purged: {removed['tasks']} deleted task(s), {removed['reflections']} deleted reflection(s), "
               f"{keys} old form key(s), {finished} finished email(s) and push(es).")
