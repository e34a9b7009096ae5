"""Is this server ready to take requests? /healthz says only that the process answers and can
reach the database (liveness); /readyz, and the start of a production server, ask more: the
schema at the migrations' head, the sign-in throttle's Redis (when one is configured) and, when
it exists, the check that the encryption keys match the data. Each answer names what is wrong."""
from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

log = logging.getLogger("common_ground.readiness")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def head_revision() -> str:
    """The newest revision of migrations/ (what `flask db upgrade` would bring the schema to)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def schema_revision() -> str | None:
    """The revision the database is at (None: never migrated)."""
    if not sa.inspect(db.engine).has_table("alembic_version"):
        return None
    return db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def schema_problem() -> str | None:
    at, head = schema_revision(), head_revision()
    if at == head:
        return None
    if at is None:
        return f"the database has no schema: run `flask --app wsgi db upgrade` (head is {head})"
    return f"the database schema is at {at}, the code needs {head}: run `flask --app wsgi db upgrade`"


def shared_store_answers(app: Flask) -> bool | None:
    """Does the sign-in throttle's shared store (Redis) answer? None when none is configured."""
    uri = app.config.get("RATELIMIT_STORAGE_URI") or ""
    if not uri.startswith(("redis://", "rediss://", "redis+")):
        return None
    from limits.storage import storage_from_string

    try:
        return bool(storage_from_string(uri, **(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})).check())
    except Exception as exc:  # any failure to answer is the same answer
        log.warning("Redis check failed: %s", type(exc).__name__)
        return False


def _redis_problem(app: Flask) -> str | None:
    if shared_store_answers(app) is False:
        return "Redis (the sign-in throttle's store) does not answer: throttling counts per process"
    return None


def _key_problem() -> str | None:
    from app.core import crypto

    return crypto.key_check_problem()  # the keys against the data (app/core/key_check.py)


def problems(app: Flask) -> dict[str, str]:
    """{part: what is wrong}; empty when ready. The database first: without it, nothing else."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        return {"database": f"the database does not answer ({type(exc).__name__})"}
    found = {}
    for part, check in (("schema", schema_problem), ("keys", _key_problem)):
        try:
            problem = check()
        except SQLAlchemyError as exc:
            db.session.rollback()
            problem = f"could not be checked ({type(exc).__name__})"
        if problem:
            found[part] = problem
    redis = _redis_problem(app)
    if redis:
        found["redis"] = redis
    return found


def refuse_to_start_unless_ready(app: Flask) -> None:
    """A production server (not a CLI command) does not start on a schema that is not at head:
    every page would fail in ways that look temporary."""
    if app.config.get("ENV_NAME") != "production":
        return
    with app.app_context():
        problem = schema_problem()
    if problem:
        raise RuntimeError(f"Refusing to start: {problem}.")
