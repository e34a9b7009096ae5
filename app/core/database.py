"""Database engine settings that differ by backend.

SQLite: foreign keys on, WAL, a busy timeout, and transactions the app begins itself. pysqlite's
own transaction handling is switched off (isolation_level = None, the SQLAlchemy recipe
"Serializable isolation / Savepoints / Transactional DDL") so that:

- a request that writes (POST/PUT/PATCH/DELETE) runs its transactions as BEGIN IMMEDIATE: it
  takes SQLite's single write lock (waiting up to the busy timeout) before its first read, so a
  read that leads to a write can never act on a stale read, whatever the service does;
- except the views marked `@rechecks_its_writes` (the client's autosave and send, the writes
  that come in numbers): their services read and check first, then write with conditions that
  re-check in the database what they depend on (a conditional UPDATE and its rowcount, a unique
  key) or lock first (with_for_update). Such a request, like every GET, reads in a plain deferred
  BEGIN (one consistent snapshot) concurrently with the writer (WAL); just before its first write
  (or a SELECT ... FOR UPDATE, which SQLite cannot express) the read snapshot is ended and BEGIN
  IMMEDIATE taken, so the lock is held for the write only and ends with its commit. (Upgrading a
  WAL read transaction in place would fail at once with SQLITE_BUSY whenever another connection
  writes, without waiting.) A GET that writes after all (a login session's last-seen time, an
  audited read) takes the lock the same way;
- outside requests (CLI, cron jobs, tests) reads run as pysqlite ran them (no transaction, each
  read sees the latest commit, as on PostgreSQL) and the first write begins IMMEDIATE; inside
  `with immediate_transactions():` every transaction is IMMEDIATE from its first statement;
- a second connection of the same request (an audit row written apart) may take the write lock
  from the request's own connection while that one has not written (see _make_way);
- DDL is transactional: a migration that fails part-way leaves nothing half-done.

PostgreSQL needs none of this: its row locks and the services' conditional updates decide races.
"""
from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url

from app.extensions import db

# Writers queue for SQLite's one write lock. Writes take milliseconds, but a sign-in holds the
# lock through its password check; 15 s rides out a burst and stays under gunicorn's 30 s worker
# timeout, so a request that still cannot write gets an error page rather than a killed worker.
SQLITE_BUSY_TIMEOUT_MS = 15000

_immediate_outside_requests: ContextVar[bool] = ContextVar("cg_sqlite_immediate", default=False)
# Kept in each pooled connection's info: "reading" (no lock; maybe a read snapshot),
# "immediate" (holds the write lock, has not written yet) or "written".
_STATE = "cg_sqlite_transaction"
_OWNER = "cg_sqlite_owner"  # the holders list of the request (app context) that holds the lock
_HOLDERS = "_cg_sqlite_holders"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FIRST_WORD = re.compile(r"^(?:\s+|--[^\n]*\n|/\*.*?\*/)*(\w+)", re.S)
_READ_WORDS = frozenset({"SELECT", "PRAGMA", "EXPLAIN", "VALUES"})
_WRITE_IN_CTE = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)


@contextmanager
def immediate_transactions():
    """Outside a request (a CLI command, a job): begin every SQLite transaction IMMEDIATE."""
    token = _immediate_outside_requests.set(True)
    try:
        yield
    finally:
        _immediate_outside_requests.reset(token)


def rechecks_its_writes(view):
    """Mark a view whose services re-check in each write what they read (module docstring): on
    SQLite it takes the write lock at its first write, not at its first statement."""
    view.cg_rechecks_writes = True
    return view


def _rechecks(view) -> bool:
    while view is not None:
        if getattr(view, "cg_rechecks_writes", False):
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def _wants_immediate() -> bool:
    if has_request_context():
        if request.method not in WRITE_METHODS:
            return False
        return not _rechecks(current_app.view_functions.get(request.endpoint))
    return _immediate_outside_requests.get()


@functools.lru_cache(maxsize=4096)
def _writes(statement: str) -> bool:
    """Whether a statement may write (SAVEPOINT counts: what follows it usually does). The app's
    statements come from SQLAlchemy's compiled cache, the same few strings again and again."""
    match = _FIRST_WORD.match(statement)
    word = match.group(1).upper() if match else ""
    if word == "WITH":
        return bool(_WRITE_IN_CTE.search(statement))
    return word not in _READ_WORDS


def _locks(context) -> bool:
    """A SELECT ... FOR UPDATE: on PostgreSQL it locks rows until commit; SQLite drops the
    clause, so the write lock is taken instead."""
    compiled = getattr(context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    return getattr(statement, "_for_update_arg", None) is not None


def _execute(dbapi_connection, sql: str) -> None:
    try:
        dbapi_connection.execute(sql)
    except sqlite3.Error as error:
        raise exc.OperationalError(sql, None, error) from error


def _holders() -> list | None:
    """The connections holding the write lock for this request or command (its app context)."""
    if not has_app_context():
        return None
    if not hasattr(g, _HOLDERS):
        setattr(g, _HOLDERS, [])
    return getattr(g, _HOLDERS)


def _make_way(info: dict) -> None:
    """Let this connection take the write lock though another connection of the same request
    holds it (e.g. an audit row written apart while a POST renders its page): the two would
    otherwise wait for each other until the busy timeout. A holder that has not written gives
    its lock up (its reads were only reads); one that has written cannot, and this fails now."""
    holders = _holders()
    if holders is None:
        return
    for dbapi_connection, other in list(holders):
        if other is info or other.get(_OWNER) is not holders:
            continue
        if other.get(_STATE) == "written":
            raise exc.OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError(
                    "this request already writes on another connection; SQLite has one writer"))
        if other.get(_STATE) == "immediate":
            if dbapi_connection.in_transaction:
                _execute(dbapi_connection, "COMMIT")
            other[_STATE] = "reading"
            _dequeue(other)


# The writers of one process queue here, in Python, before asking SQLite for its lock: a thread
# that waits is woken the moment the previous writer commits. SQLite's busy handler instead
# sleeps and retries (1, 2, 5 ... 100 ms), so under eight writers at once a waiting request
# slept on long after the lock was free (submit p95 0.8 s, p99 2.2 s on SQLite). Writers of
# other processes still meet in SQLite's busy handler. One queue per database file (its
# connections carry it from the moment they connect); held from BEGIN IMMEDIATE to the end of
# that transaction (commit, rollback, a connection given back or thrown away); never longer
# than the busy timeout, after which a writer asks SQLite anyway.
_QUEUES: dict[str, threading.Lock] = {}
_QUEUES_GUARD = threading.Lock()
_QUEUE = "cg_sqlite_queue"    # in a connection's info: its database file's queue
_QUEUED = "cg_sqlite_queued"  # in a connection's info: the queue it holds


def _queue_of(dbapi_connection) -> threading.Lock:
    row = dbapi_connection.execute("PRAGMA database_list").fetchone()
    name = (row[2] if row else "") or f"memory:{id(dbapi_connection)}"
    with _QUEUES_GUARD:
        return _QUEUES.setdefault(name, threading.Lock())


def _queue(info: dict) -> None:
    queue = info.get(_QUEUE)
    if queue is not None and info.get(_QUEUED) is None:
        if queue.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            info[_QUEUED] = queue


def _dequeue(info: dict) -> None:
    queue = info.pop(_QUEUED, None)
    if queue is not None:
        queue.release()


def _take_lock(dbapi_connection, info: dict, state: str) -> None:
    _make_way(info)
    if dbapi_connection.in_transaction:
        _execute(dbapi_connection, "COMMIT")  # only reads so far: this ends a snapshot, no more
    _queue(info)
    try:
        _execute(dbapi_connection, "BEGIN IMMEDIATE")
    except Exception:
        _dequeue(info)
        raise
    info[_STATE] = state
    holders = _holders()
    if holders is not None:
        info[_OWNER] = holders
        holders.append((dbapi_connection, info))


def _sqlite_pragmas(dbapi_connection, connection_record):
    # The app begins transactions itself (_begin); pysqlite must not begin or commit on its own.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    connection_record.info[_QUEUE] = _queue_of(dbapi_connection)


def _begin(conn) -> None:
    dbapi_connection = conn.connection.dbapi_connection
    if _wants_immediate():
        _take_lock(dbapi_connection, conn.info, "immediate")
        return
    if has_request_context():
        _execute(dbapi_connection, "BEGIN")  # one consistent snapshot for the request's reads
    conn.info[_STATE] = "reading"


def _before_write(conn, cursor, statement, parameters, context, executemany):
    state = conn.info.get(_STATE)
    if state in (None, "written") or not (_writes(statement) or _locks(context)):
        return
    if state == "immediate":
        conn.info[_STATE] = "written"
    else:
        _take_lock(conn.connection.dbapi_connection, conn.info, "written")


def _transaction_ended(conn) -> None:
    conn.info.pop(_STATE, None)
    conn.info.pop(_OWNER, None)


def _dequeue_after(end):
    """The dialect's commit or rollback, then the next writer of this process may go (the
    engine's commit and rollback events fire before the database has ended the transaction)."""
    def ended(dbapi_connection):
        try:
            end(dbapi_connection)
        finally:
            try:  # a pooled connection's info; a bare one (first connect) has none
                info = dbapi_connection.info
            except (AttributeError, NotImplementedError):
                info = None
            if info is not None:
                _dequeue(info)
    return ended


def _checked_in(dbapi_connection, connection_record) -> None:
    connection_record.info.pop(_STATE, None)
    connection_record.info.pop(_OWNER, None)
    _dequeue(connection_record.info)


def _thrown_away(dbapi_connection, connection_record, exception=None) -> None:
    _dequeue(connection_record.info)


def _release_unused_locks(error=None) -> None:
    """At the end of a request, give up a write lock taken for writes that never came (a page
    read after the last commit). It would otherwise be held until the app context ends, which
    in the test client's followed redirects is after the next request has begun."""
    holders = getattr(g, _HOLDERS, None) if has_app_context() else None
    for dbapi_connection, info in holders or ():
        if info.get(_OWNER) is holders and info.get(_STATE) == "immediate":
            if dbapi_connection.in_transaction:
                _execute(dbapi_connection, "COMMIT")
            info[_STATE] = "reading"
            _dequeue(info)


def engine_options(app: Flask) -> None:
    """Timeouts for PostgreSQL, set before the engine is made: connecting, each statement (not
    for CLI commands: a migration may take long), a link that stops answering (TCP), and a wait
    for a pooled connection. A request then fails within seconds with "not saved yet" instead of
    hanging for the whole outage."""
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return
    cfg = app.config
    options = dict(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("pool_timeout", cfg["DATABASE_POOL_TIMEOUT"])
    # SQLAlchemy's own pre-ping waits for an answer without end; ours (bounded_ping) does not.
    options["pool_pre_ping"] = False
    connect_args = {"connect_timeout": cfg["DATABASE_CONNECT_TIMEOUT"],
                    "tcp_user_timeout": cfg["DATABASE_TCP_TIMEOUT_MS"],
                    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 3, "keepalives_count": 3}
    if not os.environ.get("FLASK_RUN_FROM_CLI"):
        # Added to the URL's own `options` (a search_path, say), which connect_args would replace.
        given = make_url(str(cfg["SQLALCHEMY_DATABASE_URI"])).query.get("options") or ""
        given = given if isinstance(given, str) else " ".join(given)
        connect_args["options"] = f"{given} -c statement_timeout={cfg['DATABASE_STATEMENT_TIMEOUT_MS']}".strip()
    options["connect_args"] = {**connect_args, **options.get("connect_args", {})}
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = options


PING_SECONDS = 2.0


def bounded_ping(dbapi_connection, connection_record, connection_proxy) -> None:
    """Before a pooled PostgreSQL connection is lent out: a `SELECT 1` that must be answered
    within PING_SECONDS. A server that stopped answering (a partition, a hung host: the link may
    even look alive) is a dead connection: the pool throws it away and connects afresh, which
    connect_timeout bounds in turn. psycopg has no client-side timeout of its own, hence the
    ping at the protocol level, on the connection's own socket."""
    import select
    import time

    from psycopg import pq

    pgconn = dbapi_connection.pgconn
    deadline = time.monotonic() + PING_SECONDS
    try:
        pgconn.send_query(b"SELECT 1")  # raises on a closed connection
        while pgconn.flush():
            if not select.select([], [pgconn.socket], [], max(deadline - time.monotonic(), 0))[1]:
                raise exc.DisconnectionError("the database did not take the ping")
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                break
            if not select.select([pgconn.socket], [], [], max(deadline - time.monotonic(), 0))[0]:
                raise exc.DisconnectionError(f"the database did not answer within {PING_SECONDS:g} s")
        while (result := pgconn.get_result()) is not None:
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise exc.DisconnectionError("the database refused the ping")
    except exc.DisconnectionError:
        raise
    except Exception as error:  # a closed socket, a broken protocol state: a dead connection
        raise exc.DisconnectionError(str(error)) from error


def init_app(app: Flask) -> None:
    """Turn on foreign keys, WAL, a busy timeout and app-begun transactions for SQLite."""
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "postgresql":
            event.listen(engine.pool, "checkout", bounded_ping)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _begin)
            event.listen(engine, "before_cursor_execute", _before_write)
            event.listen(engine, "commit", _transaction_ended)
            event.listen(engine, "rollback", _transaction_ended)
            engine.dialect.do_commit = _dequeue_after(engine.dialect.do_commit)
            engine.dialect.do_rollback = _dequeue_after(engine.dialect.do_rollback)
            event.listen(engine.pool, "checkin", _checked_in)
            event.listen(engine.pool, "invalidate", _thrown_away)
            event.listen(engine.pool, "soft_invalidate", _thrown_away)
            event.listen(engine.pool, "close", _thrown_away)
            app.teardown_request(_release_unused_locks)
