"""The schema comes only from migrations, and the migrations build exactly the models' schema."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app import create_app
from app.extensions import db
from app.models import Exercise
from config import TestingConfig


def _diff(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgraded_database_matches_the_models_exactly(app):
    # The suite's database was built by `flask db upgrade` (see conftest), on SQLite or PostgreSQL.
    assert _diff(db.engine) == []


def test_every_fresh_database_holds_the_built_in_library(app):
    families = set(db.session.scalars(sa.select(Exercise.family).where(Exercise.built_in.is_(True))))
    assert families >= {"change_dynamic", "stay_present", "choose_battles", "agree_to_disagree",
                        "idealisation", "growing_up", "forgiveness_letter", "safety"}
    for exercise in db.session.scalars(sa.select(Exercise).where(Exercise.built_in.is_(True))):
        assert exercise.instructions.strip()
        assert 2 <= len(exercise.prompts) <= 5


def test_upgrade_downgrade_upgrade_on_an_empty_sqlite_file(tmp_path):
    from flask_migrate import downgrade, upgrade

    class FreshConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'fresh.sqlite'}"

    fresh = create_app(FreshConfig)
    with fresh.app_context():
        upgrade()
        assert _diff(db.engine) == []
        downgrade(revision="base", x_arg=["allow-data-loss=yes"])  # refused without it (migrations/env.py)
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        upgrade()
        assert _diff(db.engine) == []
        assert db.session.scalar(sa.select(sa.func.count(Exercise.id))) >= 8
        db.session.remove()
        db.engine.dispose()


def test_the_app_never_creates_tables_itself():
    import pathlib
    app_dir = pathlib.Path(__file__).resolve().parent.parent / "app"
    offenders = [p.name for p in app_dir.rglob("*.py") if "create_all(" in p.read_text()]
    assert offenders == []
