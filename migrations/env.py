import logging
import sys
from logging.config import fileConfig

import click
import sqlalchemy as sa
from alembic import context
from alembic.util import CommandError
from flask import current_app

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger('alembic.env')


def get_engine():
    return current_app.extensions['migrate'].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace(
            '%', '%%')
    except AttributeError:
        return str(get_engine().url).replace('%', '%%')


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option('sqlalchemy.url', get_engine_url())
target_db = current_app.extensions['migrate'].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, 'metadatas'):
        return target_db.metadatas[None]
    return target_db.metadata


def render_item(type_, obj, autogen_context):
    """Write the app's UTCDateTime as a plain timezone-aware DateTime (and its encrypted types as
    Text), so that revisions never import application code (they must keep working as the code
    changes)."""
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and type(obj).__name__ in ("EncryptedText", "EncryptedJSON"):
        return "sa.Text()"  # ciphertext is text; the app encrypts, the schema does not know
    return False


# --- downgrades that ask -------------------------------------------------------------------------
#
# Every revision declares what its downgrade removes, as a module-level DOWNGRADE_DROPS:
#   {"loses": "what a person would miss, in a few words",
#    "tables": ["table", ...],
#    "columns": [("table", "column"), ("table", "column", value meaning nothing), ...]}
# ({} for a downgrade that removes nothing). Before any downgrade runs, the steps it will take are
# summed here: the rows of each table and the values of each column (not NULL, and not the value
# that means nothing) are counted and printed. Then:
# - below the first release revision (a downgrade to `base`, which drops every table): refused
#   unless `-x allow-data-loss=yes` is given, even on a terminal;
# - a downgrade that drops data: asked on a terminal (yes/no, default no); refused without a
#   terminal unless `-x allow-data-loss=yes`;
# - a revision that declares nothing (no DOWNGRADE_DROPS): refused unless the flag is given.
# README.md, "Upgrades and downgrades", says the same for the operator.

ALLOW_DATA_LOSS = "allow-data-loss"


def _flag_given() -> bool:
    value = context.get_x_argument(as_dictionary=True).get(ALLOW_DATA_LOSS, "")
    return value.strip().lower() == "yes"


def _rerun_hint(target: str) -> str:
    return f"`flask db downgrade -x {ALLOW_DATA_LOSS}=yes {target}`"


def _count(connection, table: str, column: str | None = None, *nothing) -> int:
    """Rows of `table`, or rows whose `column` holds a value (not NULL, not the value meaning
    nothing); 0 when the table or the column is not there."""
    inspector = sa.inspect(connection)
    if not inspector.has_table(table):
        return 0
    if column is not None and column not in {c["name"] for c in inspector.get_columns(table)}:
        return 0
    quote = connection.dialect.identifier_preparer.quote
    sql = "SELECT count(*) FROM " + quote(table)  # nosec B608 - names from the revisions' declarations
    params = {}
    if column is not None:
        sql += f" WHERE {quote(column)} IS NOT NULL"
        if nothing:
            sql += f" AND {quote(column)} <> :nothing"
            params["nothing"] = nothing[0]
    return connection.execute(sa.text(sql), params).scalar_one()


def _rows(count: int | None, what: str = "") -> str:
    return "every row" if count is None else f"{count} row{'s' * (count != 1)}{what}"


def _losses(steps, connection) -> list[tuple[str, str, list[str]]]:
    """[(revision, what it loses, ["table t: N rows", ...])] for the steps whose downgrade drops
    data. Offline (--sql) nothing can be counted: every declared table and column is listed."""
    found = []
    for step in steps:
        declared = step.revision.module.DOWNGRADE_DROPS
        lines = []
        for table in declared.get("tables", ()):
            rows = _count(connection, table) if connection is not None else None
            if rows is None or rows:
                lines.append(f"table {table}: {_rows(rows)}")
        for table, column, *nothing in declared.get("columns", ()):
            rows = _count(connection, table, column, *nothing) if connection is not None else None
            if rows is None or rows:
                lines.append(f"column {table}.{column}: {_rows(rows, ' with a value')}")
        if lines:
            found.append((step.revision.revision, declared.get("loses", ""), lines))
    return found


def _guard_downgrade(steps, migration_context) -> None:
    """Refuse, or ask about, a downgrade that drops data (see the comment above)."""
    down = [step for step in steps if step.is_downgrade and getattr(step, "revision", None) is not None]
    if not down:
        return
    allowed = _flag_given()
    target = down[-1].revision.down_revision or "base"
    undeclared = [step.revision.revision for step in down
                  if not isinstance(getattr(step.revision.module, "DOWNGRADE_DROPS", None), dict)]
    if undeclared and not allowed:
        raise CommandError(
            f"Revision {', '.join(undeclared)} does not declare what its downgrade drops (DOWNGRADE_DROPS), "
            f"so this downgrade cannot say what would be lost. Nothing was changed. Add the declaration, "
            f"or run {_rerun_hint(target)} if you accept losing whatever it drops.")
    declared = [step for step in down if step.revision.revision not in undeclared]
    losses = _losses(declared, None if context.is_offline_mode() else migration_context.connection)
    to_base = [step.revision.revision for step in down if not step.revision.down_revision]
    def echo(text: str) -> None:
        click.echo(text, err=True)

    if losses:
        echo(f"Downgrading {down[0].revision.revision} -> {target} removes data that no upgrade "
             "brings back:")
        for revision, loses, lines in losses:
            echo(f"  {revision}: {loses}" if loses else f"  {revision}:")
            for line in lines:
                echo(f"    {line}")
        echo("Take a backup first (flask backup PATH).")
    if allowed:
        if losses or to_base or undeclared:
            echo(f"Going ahead: -x {ALLOW_DATA_LOSS}=yes was given.")
        return
    if to_base:
        raise CommandError(
            f"Refusing to downgrade below {to_base[0]}, the first release revision: that drops every "
            f"table. Nothing was changed. If you mean it, run {_rerun_hint(target)}.")
    if not losses:
        return
    if context.is_offline_mode() or not sys.stdin.isatty():
        raise CommandError(
            "Refusing a downgrade that drops data (listed above) without a confirmation. Nothing was "
            f"changed. Run it on a terminal to be asked, or run {_rerun_hint(target)}.")
    if not click.confirm("Drop this data and downgrade?", default=False, err=True):
        raise CommandError("Downgrade cancelled. Nothing was changed.")


def _guarded(migrations_fn):
    """The steps Alembic is about to run, checked by _guard_downgrade before the first runs."""
    def steps(heads, migration_context):
        planned = list(migrations_fn(heads, migration_context))
        _guard_downgrade(planned, migration_context)
        return planned
    return steps


def _guard(migration_context) -> None:
    # Alembic keeps the command's plan (upgrade, downgrade, stamp ...) as the migration context's
    # _migrations_fn; wrapping it is the one place that sees every step before any runs.
    if not hasattr(migration_context, "_migrations_fn"):
        raise CommandError("This Alembic version hides the migration plan: migrations/env.py cannot "
                           "guard downgrades. Pin alembic as in constraints.txt.")
    if migration_context._migrations_fn is not None:
        migration_context._migrations_fn = _guarded(migration_context._migrations_fn)


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True
    )
    _guard(context.get_context())

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, 'autogenerate', False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info('No changes in schema detected.')

    conf_args = dict(current_app.extensions['migrate'].configure_args)
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives
    conf_args.setdefault("render_item", render_item)

    connectable = get_engine()

    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args
        )
        _guard(context.get_context())

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
