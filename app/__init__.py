"""Common Ground: the application factory."""
import logging

from flask import Flask

from config import config_from_env


def create_app(config_class=None) -> Flask:
    """Build and return the Flask application for the given config class."""
    config_class = config_class or config_from_env()
    app = Flask(
        __name__,
        template_folder="../templates",
        static_folder="../static",
        instance_relative_config=False,
    )
    app.config.from_object(config_class)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from app.web import log_hygiene
    log_hygiene.init_app(app)

    from app.core import database
    from app.web import security
    security.check_config(app)

    from app.extensions import csrf, db, limiter, login_manager, migrate

    database.engine_options(app)
    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    if app.config.get("PROXY_FIX_X_FOR"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"], x_proto=1)

    # The areas of the practice, each a blueprint; then what wraps every request.
    from app import accounts, audit, homework, messages, notifications, pairs, progress, therapy_sessions
    from app.core import crypto
    from app.ops import cli
    from app.web import errors, form_markup, health, input_guard, templating, throttling, trusted_hosts

    accounts.init_login_manager(login_manager)
    accounts.init_commands(app)
    for area in (accounts, homework, pairs, therapy_sessions, progress, messages, notifications, audit,
                 health):
        app.register_blueprint(area.bp)
    notifications.init_app(app)
    errors.init_app(app)
    input_guard.init_app(app)
    trusted_hosts.init_app(app)
    cli.init_app(app)
    crypto.init_app(app)
    security.check_keys_against_data(app)
    templating.init_app(app)
    security.init_app(app)
    form_markup.install()
    throttling.limit_hooks_to_limited_views(app, limiter)
    return app
