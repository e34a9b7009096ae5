"""Signing in and out, password reset, accepting an invitation, changing one's password."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import routes  # noqa: E402,F401
from app.auth.sessions import init_login_manager  # noqa: E402,F401


def init_commands(app) -> None:
    """`flask totp-code EMAIL`: the current code of an account (development only, for the demo)."""
    import click

    from app.auth.services import find_user_by_email
    from app.auth.two_factor import current_code, enabled

    @app.cli.command("totp-code")
    @click.argument("email")
    def totp_code(email):
        """Print the current two-factor code of an account (development only)."""
        if app.config.get("ENV_NAME") != "development":
            raise click.ClickException("totp-code only works in development.")
        user = find_user_by_email(email)
        if user is None or not enabled(user):
            raise click.ClickException(f"{email} has no two-factor sign-in.")
        click.echo(current_code(user.totp_secret))
