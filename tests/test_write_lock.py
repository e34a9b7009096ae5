"""SQLite's one write lock (app/core/database.py): a page (GET), and a POST whose view re-checks
in its writes what it read (the autosave and the send), hold it for the write only: their reads
run beside another writer, the lock is taken at the first write (or a SELECT ... FOR UPDATE) and
given up at that transaction's commit. Any other POST takes it at its first statement."""
import sqlite3

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import User
from tests.conftest import make_therapist


@pytest.fixture
def sqlite_app(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock (PostgreSQL locks rows)")
    return app


def _lock_is_free() -> bool:
    """Whether another connection could take the write lock right now."""
    other = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return False
    finally:
        other.close()


AUTOSAVE = "/tasks/1/draft"  # a view marked @rechecks_its_writes (no such task needed here)


@pytest.mark.parametrize("method, path", [("POST", AUTOSAVE), ("POST", "/tasks/1"), ("GET", "/home")])
def test_reads_leave_the_lock_free_and_a_write_holds_it_until_commit(sqlite_app, method, path):
    therapist_id = make_therapist().id
    db.session.remove()
    with sqlite_app.test_request_context(path, method=method):
        therapist = db.session.get(User, therapist_id)
        db.session.scalar(sa.select(sa.func.count()).select_from(User))
        assert _lock_is_free()  # reading, even in a POST, holds no lock
        db.session.execute(sa.update(User).where(User.id == therapist.id).values(timezone="Europe/Paris"))
        assert not _lock_is_free()  # the write holds it
        db.session.commit()
        assert _lock_is_free()  # and gives it up at commit
        assert db.session.get(User, therapist_id).timezone == "Europe/Paris"  # reading after: free
        assert _lock_is_free()
    db.session.remove()


def test_a_select_for_update_takes_the_lock(sqlite_app):
    """What a service locks before deciding (two sessions booked at once, the second send of a
    pair exercise) is held: SQLite has no row lock, so the write lock is taken there."""
    therapist_id = make_therapist().id
    db.session.remove()
    with sqlite_app.test_request_context(AUTOSAVE, method="POST"):
        db.session.execute(sa.select(User.id).where(User.id == therapist_id))
        assert _lock_is_free()
        db.session.execute(sa.select(User.id).where(User.id == therapist_id).with_for_update())
        assert not _lock_is_free()
        db.session.rollback()
        assert _lock_is_free()
    db.session.remove()


def test_a_write_sees_what_was_committed_after_the_request_read(sqlite_app):
    """The read snapshot ends where the lock is taken: a conditional update decides on the latest
    commit, as on PostgreSQL, not on what the request read before another writer committed."""
    therapist_id = make_therapist().id
    db.session.remove()
    path = db.engine.url.database
    with sqlite_app.test_request_context(AUTOSAVE, method="POST"):
        assert db.session.get(User, therapist_id).timezone != "Asia/Tokyo"
        other = sqlite3.connect(path, timeout=5, isolation_level=None)
        other.execute("UPDATE users SET timezone = 'Asia/Tokyo' WHERE id = ?", (therapist_id,))
        other.close()
        changed = db.session.execute(
            sa.update(User).where(User.id == therapist_id, User.timezone == "Asia/Tokyo")
            .values(timezone="UTC").execution_options(synchronize_session=False)).rowcount
        assert changed == 1
        db.session.commit()
    db.session.remove()


def test_any_other_post_holds_the_lock_from_its_first_read(sqlite_app):
    """A service that reads, decides, then writes without re-checking (most forms) must not act
    on a read another writer made stale: its POST takes the lock before reading."""
    therapist_id = make_therapist().id
    db.session.remove()
    with sqlite_app.test_request_context("/pairs/1/dissolve", method="POST"):
        db.session.get(User, therapist_id)
        assert not _lock_is_free()
        db.session.rollback()
        assert _lock_is_free()
    db.session.remove()


def test_writers_of_one_process_queue_per_database_file(sqlite_app, tmp_path):
    """A writer waits in Python for the previous writer of the same file (woken at its commit)
    and never for a writer of another file."""
    import threading
    import time

    from app.core import database

    make_therapist()
    other_engine = sa.create_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")
    sa.event.listen(other_engine, "connect", database._sqlite_pragmas)
    db.session.remove()
    with sqlite_app.test_request_context(AUTOSAVE, method="POST"):
        db.session.execute(sa.update(User).values(timezone="UTC"))  # holds this file's queue
        elapsed = []

        def other_file_writer():  # no app context: a job on another database
            began = time.monotonic()
            with other_engine.connect() as other:
                dbapi = other.connection.dbapi_connection
                database._take_lock(dbapi, other.connection.info, "written")
                dbapi.execute("CREATE TABLE t (x)")
                dbapi.execute("COMMIT")
                database._dequeue(other.connection.info)
            elapsed.append(time.monotonic() - began)

        thread = threading.Thread(target=other_file_writer)
        thread.start()
        thread.join(10)
        assert elapsed and elapsed[0] < 1

        waited = []

        def second_writer():
            with sqlite_app.app_context():
                began = time.monotonic()
                with db.engine.connect() as connection:
                    database._take_lock(connection.connection.dbapi_connection, connection.info, "written")
                    waited.append(time.monotonic() - began)
                    connection.connection.dbapi_connection.execute("ROLLBACK")
                    database._dequeue(connection.info)

        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(0.3)
        assert not waited  # queued behind the request's write
        db.session.commit()
        thread.join(5)
        assert waited and 0.25 < waited[0] < 2  # went right after the commit
    db.session.remove()
    other_engine.dispose()
