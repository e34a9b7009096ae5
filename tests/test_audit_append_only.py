"""The audit trail is append-only in the database itself (migration 0013), on SQLite and on
PostgreSQL: whatever the code does, an audit row can be added, never changed nor deleted. The one
change let through is the foreign keys' ON DELETE SET NULL: a deleted user's links become NULL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy.dialects import postgresql

from app import audit
from app.extensions import db
from app.models import AuditEvent, User
from tests.conftest import _clean_tables, make_client, make_therapist
from tests.test_migration_roundtrip import scratch_app, scratch_url  # noqa: F401 (a fixture)

AUDIT = AuditEvent.__table__
TRIGGERS = {"sqlite": {"audit_events_no_update", "audit_events_no_delete", "audit_events_no_replace"},
            "postgresql": {"audit_events_no_update", "audit_events_no_delete", "audit_events_no_truncate"}}
AT = datetime(2026, 3, 10, 15, 0, tzinfo=timezone.utc)


def triggers() -> set[str]:
    """The triggers on audit_events, as the database lists them."""
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            return set(conn.execute(sa.text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass "
                "AND NOT tgisinternal AND tgenabled <> 'D'")).scalars())
        return set(conn.execute(sa.text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'")).scalars())


def row(event_id: int) -> tuple | None:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(AUDIT).where(AUDIT.c.id == event_id)).one_or_none()


def count() -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(AUDIT)).scalar_one()


def refused(statement) -> str:
    """Run `statement` in a transaction of its own on the app's engine; it must be refused by
    the database. Returns the database's message."""
    with pytest.raises(sa.exc.IntegrityError) as caught:
        with db.engine.begin() as conn:
            conn.execute(statement)
    message = str(caught.value.orig)
    assert "audit_events is append-only" in message
    return message


@pytest.fixture
def trail(app):
    """A therapist, her client, and one audit row of the therapist reading the client's record."""
    therapist = make_therapist()
    client = make_client(therapist)
    event = audit.record(therapist, "read_reflection", client)
    event.at, event.ip, event.object_type, event.object_id = AT, "203.0.113.7", "Reflection", 42
    db.session.commit()
    people = {"therapist": therapist, "client": client, "event_id": event.id}
    for person in (therapist, client):
        db.session.refresh(person)
    # No read transaction left open: PostgreSQL's TRUNCATE would wait for it (the people stay
    # usable, detached with what they hold).
    db.session.close()
    return people


def test_the_triggers_are_in_place_at_the_head_and_after_the_suite_empties_the_table(app):
    # A later revision that rebuilds audit_events (SQLite batch mode) would drop them silently.
    assert triggers() == TRIGGERS[db.engine.dialect.name]
    # Between tests the suite empties the table, lifting the triggers for that one transaction.
    therapist = make_therapist()
    audit.record(therapist, "read_client_page", make_client(therapist))
    db.session.commit()
    db.session.remove()
    _clean_tables()
    assert count() == 0
    assert triggers() == TRIGGERS[db.engine.dialect.name]


def test_adding_rows_still_works(app):
    therapist = make_therapist()
    client = make_client(therapist)
    audit.record(therapist, "read_client_page", client)
    db.session.commit()
    audit.record_reads(therapist, [(client, None), (client, client)], "read_client_page")
    assert count() == 3


@pytest.mark.parametrize("change", [
    {"action": "sign_in"},
    {"at": AT + timedelta(days=1)},
    {"action": "sign_in", "at": AT - timedelta(days=400)},
    {"ip": None},
    {"object_type": "Assignment", "object_id": 7},
    {"id": 999_999},
], ids=lambda change: "+".join(change))
def test_changing_a_row_is_refused_and_leaves_it_as_it_was(trail, change):
    before = row(trail["event_id"])
    message = refused(sa.update(AUDIT).where(AUDIT.c.id == trail["event_id"]).values(**change))
    assert "UPDATE" in message
    assert row(trail["event_id"]) == before
    assert before.action == "read_reflection" and before.at == AT


def test_the_links_to_living_people_cannot_be_changed_nor_removed(trail):
    other = make_therapist()
    before = row(trail["event_id"])
    for change in ({"actor_id": other.id}, {"subject_id": other.id}, {"actor_id": None},
                   {"subject_id": None}, {"actor_id": None, "subject_id": None}):
        refused(sa.update(AUDIT).where(AUDIT.c.id == trail["event_id"]).values(**change))
    assert row(trail["event_id"]) == before


def test_every_row_is_refused_when_an_update_touches_many(trail):
    audit.record(trail["therapist"], "read_client_page", trail["client"])
    db.session.commit()
    before = count()
    refused(sa.update(AUDIT).values(action="tampered"))
    with db.engine.connect() as conn:
        assert "tampered" not in set(conn.execute(sa.select(AUDIT.c.action)).scalars())
    assert count() == before


def test_deleting_rows_is_refused(trail):
    audit.record(trail["therapist"], "read_client_page", trail["client"])
    db.session.commit()
    before = row(trail["event_id"])
    assert "DELETE" in refused(sa.delete(AUDIT).where(AUDIT.c.id == trail["event_id"]))
    assert "DELETE" in refused(sa.delete(AUDIT))  # SQLite: DELETE without WHERE fires the trigger too
    assert row(trail["event_id"]) == before
    assert count() == 2


def test_an_insert_cannot_replace_a_row(trail):
    before = row(trail["event_id"])
    values = dict(id=trail["event_id"], action="sign_in", at=AT)
    if db.engine.dialect.name == "sqlite":  # REPLACE would delete the row it collides with
        assert "REPLACE" in refused(sa.insert(AUDIT).prefix_with("OR REPLACE").values(**values))
    else:  # an upsert is an UPDATE
        upsert = postgresql.insert(AUDIT).values(**values)
        refused(upsert.on_conflict_do_update(index_elements=[AUDIT.c.id], set_={"action": upsert.excluded.action}))
    assert row(trail["event_id"]) == before
    with db.engine.begin() as conn:  # a row of its own is added as ever
        conn.execute(sa.insert(AUDIT).values(action="sign_in", at=AT))
    assert count() == 2


def test_truncate_is_refused_on_postgresql(trail):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (its DELETE without WHERE is refused above)")
    assert "TRUNCATE" in refused(sa.text("TRUNCATE audit_events"))
    # Through the users' table too: TRUNCATE users CASCADE would take the trail with it.
    refused(sa.text("TRUNCATE users CASCADE"))
    assert count() == 1


def test_the_orm_cannot_change_or_delete_a_row_either(trail):
    before = row(trail["event_id"])
    event = db.session.get(AuditEvent, trail["event_id"])
    event.action = "sign_in"
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, trail["event_id"]))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert row(trail["event_id"]) == before


def test_an_update_that_changes_nothing_goes_through(trail):
    before = row(trail["event_id"])
    with db.engine.begin() as conn:
        conn.execute(sa.update(AUDIT).where(AUDIT.c.id == trail["event_id"])
                     .values(action=AUDIT.c.action, actor_id=AUDIT.c.actor_id))
    assert row(trail["event_id"]) == before


@pytest.mark.parametrize("who", ["client", "therapist"])
def test_deleting_a_user_unlinks_her_rows_and_keeps_everything_else(trail, who):
    # The app never deletes a user (closing an account keeps her); a test or a repair of the demo
    # may, and the foreign keys' ON DELETE SET NULL then updates her audit rows. That is allowed.
    link = "subject_id" if who == "client" else "actor_id"
    if who == "therapist":  # a therapist cannot be deleted while she has clients
        other = make_therapist().id
        db.session.execute(sa.update(User).where(User.id == trail["client"].id).values(therapist_id=other))
        db.session.commit()
    before = row(trail["event_id"])._asdict()
    with db.engine.begin() as conn:
        conn.execute(sa.delete(User).where(User.id == trail[who].id))
    after = row(trail["event_id"])._asdict()
    assert after[link] is None
    assert after == {**before, link: None}
    # Once unlinked, the row is as fixed as any other.
    refused(sa.update(AUDIT).where(AUDIT.c.id == trail["event_id"]).values(**{link: trail[who].id}))
    refused(sa.delete(AUDIT).where(AUDIT.c.id == trail["event_id"]))


def test_the_downgrade_lifts_the_triggers_and_the_upgrade_puts_them_back(scratch_url):  # noqa: F811
    with scratch_app(scratch_url):
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(sa.insert(AUDIT).values(action="read_reflection", at=AT))
        refused(sa.update(AUDIT).values(action="sign_in"))

        downgrade(revision="0012", x_arg=["allow-data-loss=yes"])  # 0014's key_checks go too
        assert triggers() == set()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT to_regproc('audit_events_append_only')")).scalar() is None
        with db.engine.begin() as conn:  # the schema of 0012: rows could be changed
            conn.execute(sa.update(AUDIT).values(action="sign_in"))

        upgrade()
        assert triggers() == TRIGGERS[db.engine.dialect.name]
        refused(sa.delete(AUDIT))
        with db.engine.connect() as conn:
            assert conn.execute(sa.select(AUDIT.c.action)).scalars().all() == ["sign_in"]
