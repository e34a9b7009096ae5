"""Accounts: signing in and out (with two-factor), login sessions, password reset, the account
page, invitations, and closing an account when therapy ends."""
from flask import Blueprint

bp = Blueprint("accounts", __name__)

from app.accounts import closing_routes, invitation_routes, routes, two_factor_routes  # noqa: E402,F401
from app.accounts.login_sessions import init_login_manager  # noqa: E402,F401


def init_commands(app) -> None:
    """`flask totp-code EMAIL`: the current code of an account (development only, for the demo)."""
    import click

    from app.accounts.services import find_user_by_email
    from app.accounts.two_factor import current_code, enabled

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
