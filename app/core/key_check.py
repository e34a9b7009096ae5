"""The keys against the data: one check value per encryption key, stored in `key_checks`.

A server started with a wrong but valid ENCRYPTION_KEYS would read nothing and, worse, write text
that no correctly keyed server can read. So the database keeps, for each key id that encrypts
here, a known constant encrypted with that key (migration 0014). The configured keys match the
data when:
- every configured key id that has a stored check value opens it (same id, other key material:
  no), and
- at least one configured key has a stored check value (none of them: the data was written with
  keys this server does not have).
While nothing is stored yet (a database from before 0014), a few of the newest encrypted values of
each encrypted column stand in: a configured key must open at least one of those written under
its id, and some must be under a configured id.

Check values are written when the keys match: the current (first) key's when it is missing (it
encrypts from now on, so its value then defines it), and an older key's only once data written
under it has been opened with it (so a wrong old key is never recorded as the right one). They
are written at a server's start (app/web/security.py check_keys_against_data; `flask` commands
only check, so that trying a setting with `flask check-deploy` never records it) and by
`flask rotate-key` before it re-encrypts anything; two servers starting at once write a key's
value once (an insert that ignores a conflict, then checked again).

The check column is plain text in the model: `flask rotate-key` never moves a check value to
another key and `flask verify-data` does not count it.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from app.core.crypto import (
    PREFIX,
    DecryptionError,
    KeyCheckError,
    KeyRing,
    encrypted_columns,
    keyring,
)

CHECK_TEXT = "common-ground key check v1"  # frozen: every stored check value decrypts to it
SAMPLES_PER_COLUMN = 5

log = logging.getLogger("common_ground.key_check")

KEY_CHECKS = sa.table("key_checks", sa.column("key_id", sa.String), sa.column("check_value", sa.Text),
                      sa.column("created_at", sa.DateTime(timezone=True)))


@dataclass(frozen=True)
class KeyCheckResult:
    """What a check found. checked is False when the database has no key_checks table yet (its
    schema is older than 0014): there was nothing to check against."""

    checked: bool
    problem: str | None = None  # why the keys do not match the data; None when they do
    verified: tuple[str, ...] = ()  # key ids that opened their stored check value (or the data)
    written: tuple[str, ...] = ()  # key ids whose check value this check wrote


def _keys(ids) -> str:
    ids = list(ids)
    return ("key " if len(ids) == 1 else "keys ") + ", ".join(repr(i) for i in ids)


def _opens(ring: KeyRing, key_id: str, stored: str, expected: str | None = CHECK_TEXT) -> bool:
    if not stored.startswith(f"{PREFIX}{key_id}:"):
        return False
    try:
        text = ring.decrypt(stored)
    except DecryptionError:
        return False
    return expected is None or text == expected


def _stored(conn) -> dict[str, str]:
    return dict(conn.execute(sa.select(KEY_CHECKS.c.key_id, KEY_CHECKS.c.check_value)).all())


def _sampled_data(conn, metadata: sa.MetaData, present: set[str]) -> dict[str, list[str]]:
    """A few of the newest encrypted values of each encrypted column, by the key id they name."""
    found: dict[str, list[str]] = {}
    for column in encrypted_columns(metadata):
        table = column.table
        if table.name not in present:
            continue
        (pk,) = table.primary_key.columns
        raw = sa.table(table.name, sa.column(pk.name), sa.column(column.name, sa.Text))
        value = raw.c[column.name]
        for stored in conn.execute(sa.select(value).where(value.startswith(PREFIX, autoescape=True))
                                   .order_by(raw.c[pk.name].desc()).limit(SAMPLES_PER_COLUMN)).scalars():
            found.setdefault(stored[len(PREFIX):].partition(":")[0], []).append(stored)
    return found


def _not_configured(written_with, configured: list[str]) -> str:
    return (f"ENCRYPTION_KEYS does not match this database: its data was written with "
            f"{_keys(sorted(written_with))}, not in ENCRYPTION_KEYS (which holds "
            f"{', '.join(map(repr, configured))})")


def _judge(ring: KeyRing, stored: dict[str, str], sampled: dict[str, list[str]] | None):
    """(problem or None, verified key ids)."""
    configured = [key_id for key_id, _ in ring.keys]
    known = [key_id for key_id in configured if key_id in stored]
    wrong = [key_id for key_id in known if not _opens(ring, key_id, stored[key_id])]
    if wrong:
        return (f"ENCRYPTION_KEYS does not match this database: its {_keys(wrong)} "
                + ("is not the one" if len(wrong) == 1 else "are not the ones")
                + " that wrote the check value stored under that id"), ()
    if stored and not known:
        return _not_configured(stored, configured), ()
    if not sampled:
        return None, tuple(known)
    # One value that opens is enough (a single damaged value must not stop a server).
    wrong = [key_id for key_id in configured if key_id in sampled
             and not any(_opens(ring, key_id, v, expected=None) for v in sampled[key_id])]
    if wrong:
        return (f"ENCRYPTION_KEYS does not match this database: its {_keys(wrong)} "
                + ("does" if len(wrong) == 1 else "do") + " not decrypt the data stored under that id"), ()
    if not any(key_id in sampled for key_id in configured):
        return _not_configured(sampled, configured), ()
    return None, tuple(key_id for key_id in configured if key_id in sampled)


def _insert_once(dialect: str):
    """INSERT that leaves an existing row alone (another server wrote the same key id first)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        return sa.insert(KEY_CHECKS)
    return insert(KEY_CHECKS).on_conflict_do_nothing(index_elements=["key_id"])


def check_keys(engine: sa.Engine, metadata: sa.MetaData, ring: KeyRing,
               write: bool = False) -> KeyCheckResult:
    """Check the keys against the stored check values (or, while none is stored, the data);
    with write=True, also store the check values the database lacks once the keys match."""
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        if "key_checks" not in present:
            return KeyCheckResult(checked=False)
        stored = _stored(conn)
        sampled = None if stored else _sampled_data(conn, metadata, present)
    problem, verified = _judge(ring, stored, sampled)
    missing = [key_id for key_id, _ in ring.keys if key_id not in stored
               and (key_id == ring.current_id or key_id in verified)]
    if problem or not write or not missing:
        return KeyCheckResult(True, problem, verified)
    now = datetime.now(timezone.utc)
    rows = [{"key_id": key_id, "created_at": now,
             "check_value": KeyRing(((key_id, key),)).encrypt(CHECK_TEXT)}
            for key_id, key in ring.keys if key_id in missing]
    with engine.begin() as conn:
        conn.execute(_insert_once(conn.dialect.name), rows)
        stored = _stored(conn)
    # Checked again: a server starting at the same moment may have written one of these ids
    # first, with other key material.
    problem, verified = _judge(ring, stored, None)
    mine = {row["check_value"] for row in rows}
    return KeyCheckResult(True, problem, verified,
                          tuple(k for k in missing if stored.get(k) in mine))


# --- the app's state: checked at start ----------------------------------------------------------

@dataclass(frozen=True)
class StartCheck:
    keys: str  # a fingerprint of the settings the key ring was built from (never the keys)
    problem: str | None


def _keys_of(app: Flask) -> str:
    """A fingerprint of ENCRYPTION_KEYS and SECRET_KEY: a test that changes them on a running
    app is not held to what was found at its start."""
    settings = repr((app.config.get("ENCRYPTION_KEYS"), app.config.get("SECRET_KEY")))
    return hashlib.sha256(settings.encode("utf-8")).hexdigest()


def check_at_start(app: Flask, write: bool = True) -> KeyCheckResult | None:
    """Check this app's keys against its database and (with write) store the check values it
    lacks; the outcome is kept on the app and logged. None when the database does not answer."""
    from app.extensions import db

    with app.app_context():
        try:
            result = check_keys(db.engine, db.metadata, keyring(app.config), write=write)
        except SQLAlchemyError as exc:
            log.warning("encryption keys not checked against the data: the database does not "
                        "answer (%s)", type(exc).__name__)
            return None
    app.extensions["key_check"] = StartCheck(_keys_of(app), result.problem)
    if result.problem:
        log.error("%s: writing encrypted text is refused (`flask verify-data` shows what these "
                  "keys can read)", result.problem)
    elif not result.checked:
        log.warning("encryption keys not checked against the data: the database has no "
                    "key_checks table yet (run `flask --app wsgi db upgrade`)")
    elif result.written:
        log.info("key check value stored for %s", _keys(result.written))
    return result


def refuse_writes_if_keys_mismatch(app: Flask) -> None:
    """Before anything is encrypted: refuse when this app's keys were found not to match the
    data (a production server never gets here: it refuses to start instead)."""
    state = app.extensions.get("key_check")
    if state is not None and state.problem and state.keys == _keys_of(app):
        raise KeyCheckError(f"Not encrypting: {state.problem}")


def current_problem(app: Flask) -> str | None:
    """Why this app's keys do not match the data now (None when they do; nothing is written)."""
    from app.extensions import db

    state = app.extensions.get("key_check")
    if state is not None and state.problem and state.keys == _keys_of(app):
        return state.problem
    return check_keys(db.engine, db.metadata, keyring(app.config)).problem
