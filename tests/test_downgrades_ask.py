"""Downgrades that ask (issue 22, item 6): migrations/env.py sums what the revisions being
downgraded drop (each declares DOWNGRADE_DROPS), counts the rows that hold data and says so. A
downgrade below the first release revision (to `base`) is refused without
`-x allow-data-loss=yes`; one that drops data is asked about on a terminal and refused without one
unless the flag is given; one that drops no data goes ahead. Scratch databases only (SQLite, or
PostgreSQL next to TEST_DATABASE_URL's), as in tests/test_migration_roundtrip.py."""
from __future__ import annotations

import io
import sys

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade

from app.extensions import db
from tests.test_migration_roundtrip import (
    current_revision,
    read_all,
    revisions,
    scratch_app,
    scratch_url,  # noqa: F401 (a fixture)
)

ALLOW = ["allow-data-loss=yes"]


class Terminal(io.StringIO):
    """Standard input as a terminal on which a person types `answer`."""

    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    """Standard input that is not a terminal (cron, CI, a script)."""

    def isatty(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    """No test here may depend on pytest being run from a terminal (`-s`)."""
    monkeypatch.setattr(sys, "stdin", Pipe(""))


def populated() -> dict:
    """A practice at the head revision: the world of tests/world.py (therapists with two-factor)."""
    from tests.world import build_world

    upgrade()
    world = build_world()
    db.session.remove()
    return world


def cli(*args):
    db.session.remove()
    return current_app.test_cli_runner().invoke(args=["db", *args])


def therapists_with_a_totp_secret() -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM users WHERE totp_secret IS NOT NULL")).scalar_one()


def columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns(table)}


def test_downgrade_to_base_without_the_flag_is_refused_and_keeps_every_row(scratch_url):  # noqa: F811
    with scratch_app(scratch_url):
        populated()
        head, before = current_revision(), read_all()
        users = len(before["users"]["rows"])
        result = cli("downgrade", "base")
        assert result.exit_code == 1, result.output
        assert current_revision() == head
        assert read_all() == before
        output = result.output
        assert "Refusing to downgrade below 0001, the first release revision" in output
        assert "Nothing was changed" in output
        assert "flask db downgrade -x allow-data-loss=yes base" in output
        # It says what would be lost, table by table, with the rows.
        assert f"table users: {users} rows" in output
        assert f"table reflections: {len(before['reflections']['rows'])} rows" in output
        assert "totp_secret" in output


def test_downgrade_to_base_with_the_flag_goes_ahead(scratch_url):  # noqa: F811
    with scratch_app(scratch_url):
        populated()
        result = cli("downgrade", "-x", "allow-data-loss=yes", "base")
        assert result.exit_code == 0, result.output
        assert "Going ahead: -x allow-data-loss=yes was given" in result.output
        assert current_revision() is None
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]


def test_below_two_factor_names_the_totp_secrets_and_refuses_without_a_terminal(scratch_url):  # noqa: F811
    with scratch_app(scratch_url):
        populated()
        head, before = current_revision(), read_all()
        secrets = therapists_with_a_totp_secret()
        assert secrets >= 2
        result = cli("downgrade", "0006")
        assert result.exit_code == 1, result.output
        assert current_revision() == head and read_all() == before
        assert "TOTP secret" in result.output
        assert f"column users.totp_secret: {secrets} rows with a value" in result.output
        assert "Refusing a downgrade that drops data (listed above) without a confirmation" in result.output
        assert "flask db downgrade -x allow-data-loss=yes 0006" in result.output
        assert "totp_secret" in columns("users")


def test_on_a_terminal_it_asks_and_no_keeps_everything(scratch_url, monkeypatch, capsys):  # noqa: F811
    with scratch_app(scratch_url):
        populated()
        head, before = current_revision(), read_all()
        secrets = therapists_with_a_totp_secret()

        monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
        with pytest.raises(SystemExit):
            downgrade(revision="0006")
        err = capsys.readouterr().err
        assert f"column users.totp_secret: {secrets} rows with a value" in err
        assert "Drop this data and downgrade?" in err
        assert current_revision() == head and read_all() == before

        monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
        downgrade(revision="0006")
        assert current_revision() == "0006"
        assert "totp_secret" not in columns("users")
        assert "recovery_codes" not in sa.inspect(db.engine).get_table_names()


def test_a_downgrade_that_drops_no_data_goes_ahead_unasked(scratch_url):  # noqa: F811
    with scratch_app(scratch_url):
        populated()
        history, target = revisions(), "0012"  # below the append-only triggers (0013)
        # The tables the revisions above 0012 drop hold no rows here, and the columns they drop
        # hold nothing (NULL, or their value meaning nothing): emptied in case the world wrote some.
        script = ScriptDirectory.from_config(
            current_app.extensions["migrate"].migrate.get_config(current_app.extensions["migrate"].directory))
        with db.engine.begin() as conn:
            for revision in history[history.index(target) + 1:]:
                declared = script.get_revision(revision).module.DOWNGRADE_DROPS
                for table, column, *nothing in declared.get("columns", ()):
                    conn.execute(sa.text(f"UPDATE {table} SET {column} = :nothing"),
                                 {"nothing": nothing[0] if nothing else None})
                for table in declared.get("tables", ()):
                    conn.execute(sa.text(f"DELETE FROM {table}"))
        before = read_all()
        result = cli("downgrade", target)
        assert result.exit_code == 0, result.output
        assert current_revision() == target
        assert "removes data" not in result.output
        after = read_all()
        # Every row is still there with every value of every column that is still there.
        assert {t: _kept(d["rows"], after[t]["columns"]) for t, d in before.items() if t in after} == \
            {t: d["rows"] for t, d in after.items()}


def _kept(rows: dict, columns) -> dict:
    return {key: {c: v for c, v in row.items() if c in columns} for key, row in rows.items()}


def test_every_revision_declares_exactly_what_its_downgrade_drops(scratch_url):  # noqa: F811
    """Each revision's DOWNGRADE_DROPS names exactly the tables and columns its downgrade removes:
    walked down one revision at a time on an empty database (with the flag), comparing the schema."""
    with scratch_app(scratch_url):
        config = current_app.extensions["migrate"].migrate.get_config(current_app.extensions["migrate"].directory)
        script = ScriptDirectory.from_config(config)
        for revision in revisions():
            declared = getattr(script.get_revision(revision).module, "DOWNGRADE_DROPS", None)
            assert isinstance(declared, dict), f"{revision} does not declare DOWNGRADE_DROPS (a dict)"
            assert set(declared) <= {"loses", "tables", "columns"}, revision
            assert bool(declared) == bool(declared.get("loses")), f"{revision}: say what is lost, in words"

        def schema() -> dict[str, set[str]]:
            inspector = sa.inspect(db.engine)
            return {t: {c["name"] for c in inspector.get_columns(t)}
                    for t in inspector.get_table_names() if t != "alembic_version"}

        upgrade()
        for revision in reversed(revisions()):
            declared = script.get_revision(revision).module.DOWNGRADE_DROPS
            before = schema()
            db.session.remove()
            downgrade(revision="-1", x_arg=ALLOW)
            after = schema()
            dropped_tables = set(before) - set(after)
            dropped_columns = {(t, c) for t in after for c in before[t] - after[t]}
            assert dropped_tables == set(declared.get("tables", ())), revision
            assert dropped_columns == {(t, c) for t, c, *_ in declared.get("columns", ())}, revision
        assert current_revision() is None
